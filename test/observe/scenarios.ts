/**
 * Databases for the status and timeline tests, written through the public API the way agents
 * would write them.
 */
import { AgentbusError, type Bus, NonRetryableError, createBus } from '../../src/index.js';

/** Waits until `check` holds (polling the store, which another process could be writing). */
export async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 800; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function openDeadLetters(bus: Bus): Promise<number> {
  return (await bus.deadLetters.list({ status: 'open' })).length;
}

/**
 * The dashboard scenario:
 * - /orchestrator publishes 5 tasks, 2 review requests and 1 alert;
 * - /backend-architect handles the tasks, publishing one APIDesignStarted each on project.designs;
 * - /test-engineer dead-letters both review requests;
 * - /incident-manager subscribed to project.alerts but is not running: lag 1;
 * - heartbeats: /backend-architect healthy, /test-engineer unhealthy.
 */
export async function dashboardDb(path: string): Promise<void> {
  const bus = await createBus({ path, retry: { max_retries: 0 } });
  try {
    const idle = await bus.subscribe({
      name: '/incident-manager',
      topic: 'project.alerts',
      start: 'earliest',
      handler: () => {},
    });
    await idle.close();
    const architect = await bus.subscribe({
      name: '/backend-architect',
      topic: 'project.tasks',
      start: 'earliest',
      handler: async (_e, ctx) => {
        await ctx.publish('APIDesignStarted', {}, { topic: 'project.designs' });
      },
    });
    const tester = await bus.subscribe({
      name: '/test-engineer',
      topic: 'project.reviews',
      start: 'earliest',
      handler: () => {
        throw new NonRetryableError('review payload is invalid');
      },
    });
    const orchestrator = { source: '/orchestrator' };
    await bus.publishBatch([
      ...Array.from({ length: 5 }, (_, i) => ({
        ...orchestrator,
        topic: 'project.tasks',
        type: 'TaskCompletedEvent',
        payload: { task_id: `T${i}` },
      })),
      { ...orchestrator, topic: 'project.reviews', type: 'ReviewRequestedEvent' },
      { ...orchestrator, topic: 'project.reviews', type: 'ReviewRequestedEvent' },
      { ...orchestrator, topic: 'project.alerts', type: 'AlertRaised', payload: { severity: 'high' } },
    ]);
    await bus.publishBatch([
      { topic: 'system.agents', type: 'AgentHealthEvent', source: '/backend-architect', payload: { status: 'healthy' } },
      { topic: 'system.agents', type: 'AgentHealthEvent', source: '/test-engineer', payload: { status: 'unhealthy' } },
    ]);
    await until(async () => (await openDeadLetters(bus)) === 2, 'two dead letters');
    await until(async () => {
      const info = await bus.subscriptions.get('/backend-architect');
      return info !== undefined && info.ackFloor >= 5 && info.inFlight === 0;
    }, 'the tasks handled');
    await architect.close();
    await tester.close();
  } finally {
    await bus.close();
  }
}

/** The correlation of {@link timelineDb}. */
export const FEATURE = 'project-xyz-feature-123';

/**
 * The timeline scenario, correlation {@link FEATURE}:
 * FeatureStarted (/orchestrator) -> /backend-architect publishes DesignStarted and
 * DesignCompleted -> /python-pro fails DesignCompleted, retries once, dead-letters it ->
 * /orchestrator compensates with RollbackDesign. Another correlation runs beside it.
 */
export async function timelineDb(path: string): Promise<void> {
  const bus = await createBus({ path });
  try {
    const architect = await bus.subscribe({
      name: '/backend-architect',
      topic: 'project.tasks',
      filter: 'type=FeatureStarted',
      handler: async (_e, ctx) => {
        await ctx.publish('DesignStarted', {});
        await ctx.publish('DesignCompleted', { endpoints: 12 });
      },
    });
    const pro = await bus.subscribe({
      name: '/python-pro',
      topic: 'project.tasks',
      filter: 'type=DesignCompleted',
      retry: { max_retries: 1, initial_delay: '10ms', max_delay: '20ms' },
      handler: () => {
        throw new Error('implementation failed');
      },
    });
    await bus.publish({ topic: 'project.tasks', type: 'FeatureStarted', source: '/orchestrator', correlationId: FEATURE });
    await bus.publish({
      topic: 'project.tasks',
      type: 'FeatureStarted',
      source: '/orchestrator',
      correlationId: 'other-feature',
    });
    await until(async () => (await openDeadLetters(bus)) === 2, 'two dead letters');
    await architect.close();
    await pro.close();
    let designCompleted: string | undefined;
    for await (const e of bus.events({ correlationId: FEATURE, type: 'DesignCompleted' })) designCompleted = e.envelope.event.id;
    await bus.publish({
      topic: 'project.tasks',
      type: 'RollbackDesign',
      source: '/orchestrator',
      correlationId: FEATURE,
      causationId: designCompleted ?? null,
    });
  } finally {
    await bus.close();
  }
}

/** The correlation of {@link recoveredDb}. */
export const REVIEW = 'project-xyz-review-7';

/**
 * A delivery that survived its failures, correlation {@link REVIEW}: /orchestrator publishes
 * ReviewRequested; /reviewer times out on attempts 1 and 2 (retried after 10ms, then 20ms) and
 * handles attempt 3; /auditor handles it at once.
 */
export async function recoveredDb(path: string): Promise<void> {
  const bus = await createBus({ path });
  try {
    let handled = false;
    const reviewer = await bus.subscribe({
      name: '/reviewer',
      topic: 'project.reviews',
      retry: { max_retries: 3, backoff_type: 'exponential', initial_delay: '10ms', max_delay: '20ms' },
      handler: (_e, ctx) => {
        if (ctx.attempt < 3) throw new AgentbusError('TIMEOUT', `review took too long (attempt ${ctx.attempt})`);
        handled = true;
      },
    });
    const auditor = await bus.subscribe({ name: '/auditor', topic: 'project.reviews', handler: () => {} });
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequested', source: '/orchestrator', correlationId: REVIEW });
    await until(async () => handled && (await bus.subscriptions.get('/reviewer'))?.inFlight === 0, 'the review handled');
    await reviewer.close();
    await auditor.close();
  } finally {
    await bus.close();
  }
}

/** The system clock shifted by `offset` ms, which a test moves. */
export interface ShiftedClock {
  offset: number;
  now(): number;
}

export function shiftedClock(offset = 0): ShiftedClock {
  const clock = { offset, now: () => Date.now() + clock.offset };
  return clock;
}

const HOUR = 3_600_000;

/** What {@link windowScenario} leaves in the last hour and in the last three hours. */
export const WINDOW_FIGURES = {
  lastHour: { published: 4, consumed: 3, failed: 2, inDlq: 2 },
  lastThreeHours: { published: 9, consumed: 7, failed: 3, inDlq: 2 },
} as const;

/**
 * The window scenario, on a bus whose store runs on `clock`:
 * - two hours ago: /orchestrator publishes 4 tasks (acked by /window-worker) and a review
 *   (dead-lettered by /window-reviewer);
 * - now: 2 tasks (one of them published twice with the same id), a review (dead-lettered) and
 *   a flaky job that fails once (a retry) and then succeeds.
 * Each phase is settled before the clock moves on.
 */
export async function windowScenario(bus: Bus, clock: ShiftedClock): Promise<void> {
  clock.offset = -2 * HOUR;
  const subscriptions = [
    await bus.subscribe({ name: '/window-worker', topic: 'project.tasks', start: 'earliest', handler: () => {} }),
    await bus.subscribe({
      name: '/window-reviewer',
      topic: 'project.reviews',
      start: 'earliest',
      handler: () => {
        throw new NonRetryableError('review payload is invalid');
      },
    }),
    await bus.subscribe({
      name: '/window-flaky',
      topic: 'project.flaky',
      start: 'earliest',
      retry: { max_retries: 2, initial_delay: '10ms', max_delay: '20ms' },
      handler: (_e, ctx) => {
        if (ctx.attempt === 1) throw new Error('first attempt fails');
      },
    }),
  ];
  const source = '/orchestrator';
  const settled = async (deadLetters: number) => {
    await until(async () => {
      if ((await openDeadLetters(bus)) !== deadLetters) return false;
      const head = await bus.store.head();
      for (const s of subscriptions) {
        const info = await bus.subscriptions.get(s.name);
        if (!info || info.ackFloor < head || info.inFlight > 0 || info.scheduled > 0) return false;
      }
      return true;
    }, `every delivery settled, ${deadLetters} dead letters`);
  };
  try {
    await bus.publishBatch([
      ...Array.from({ length: 4 }, () => ({ source, topic: 'project.tasks', type: 'TaskCompletedEvent' })),
      { source, topic: 'project.reviews', type: 'ReviewRequestedEvent' },
    ]);
    await settled(1);
    clock.offset = 0;
    const again = { source, topic: 'project.tasks', type: 'TaskCompletedEvent', id: 'evt-window-task-twice' };
    await bus.publishBatch([
      again,
      { source, topic: 'project.tasks', type: 'TaskCompletedEvent' },
      { source, topic: 'project.reviews', type: 'ReviewRequestedEvent' },
      { source, topic: 'project.flaky', type: 'FlakyJob' },
    ]);
    await bus.publish(again);
    await settled(2);
  } finally {
    for (const s of subscriptions) await s.close();
  }
}

/** What {@link pubSubScenario} leaves, as `topicsOverview` reports it over the last hour. */
export const PUB_SUB_LAST_HOUR = [
  { topic: 'deploy.>', pattern: true, events: 0, publishers: [], subscribers: ['/deployer'], lag: 0 },
  { topic: 'project.reviews', pattern: false, events: 1, publishers: ['/code-author'], subscribers: ['/code-reviewer'], lag: 1 },
  {
    topic: 'project.tasks',
    pattern: false,
    events: 3,
    publishers: ['/backend-architect', '/python-pro'],
    subscribers: ['/code-reviewer', '/dependency-manager'],
    lag: 6,
  },
];

/**
 * The seed's Pub/Sub Configuration, measured, on a bus whose store runs on `clock`:
 * - subscriptions (none of them running): /dependency-manager on project.tasks,
 *   /code-reviewer on project.*, /deployer on deploy.> (no events yet);
 * - two hours ago: /old-architect publishes 3 tasks;
 * - now: /backend-architect publishes 2 tasks, /python-pro 1, /code-author a review request,
 *   and a heartbeat on system.agents.
 */
export async function pubSubScenario(bus: Bus, clock: ShiftedClock): Promise<void> {
  clock.offset = -2 * HOUR;
  for (const [name, topic] of [
    ['/dependency-manager', 'project.tasks'],
    ['/code-reviewer', 'project.*'],
    ['/deployer', 'deploy.>'],
  ] as const) {
    const subscription = await bus.subscribe({ name, topic, start: 'earliest', handler: () => {} });
    await subscription.close();
  }
  const task = (source: string) => ({ source, topic: 'project.tasks', type: 'TaskCompletedEvent' });
  await bus.publishBatch([task('/old-architect'), task('/old-architect'), task('/old-architect')]);
  clock.offset = 0;
  await bus.publishBatch([
    task('/backend-architect'),
    task('/python-pro'),
    task('/backend-architect'),
    { source: '/code-author', topic: 'project.reviews', type: 'ReviewRequestedEvent' },
    { source: '/backend-architect', topic: 'system.agents', type: 'AgentHealthEvent', payload: { status: 'healthy' } },
  ]);
}
