// One process of the soak (started by run.js): `node bench/soak/role.js worker|flows|publisher`.
// The backend comes from SOAK_DB (SQLite file) or SOAK_PG (postgres URL), plus SOAK_NATS,
// SOAK_STREAM and SOAK_PREFIX for JetStream delivery. Stops cleanly on SIGTERM/SIGINT.
import { createAgentRuntime, createBus, defineAgent, NonRetryableError, startAggregator, startSaga } from '../../dist/index.js';

const role = process.argv[2];
const member = process.env.SOAK_MEMBER ?? '0';
const nats = process.env.SOAK_NATS;

function busOptions() {
  const store = process.env.SOAK_PG ? { postgres: process.env.SOAK_PG } : { sqlite: process.env.SOAK_DB };
  const transport = nats
    ? { transport: { nats: [nats], stream: process.env.SOAK_STREAM, subjectPrefix: process.env.SOAK_PREFIX } }
    : {};
  return { store, ...transport };
}

const bus = await createBus(busOptions());
const counters = { published: 0, handled: 0, failed: 0, commands: 0, queries: 0, cqrsErrors: 0, publishErrors: 0, sagas: 0 };
globalThis.__soakProbe = () => ({ counters: { ...counters } });
bus.onStatus?.(() => {});
const closers = [];
let stopping = false;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const retry = { max_retries: 2, backoff_type: 'exponential', initial_delay: '200ms', max_delay: '1s' };

if (role === 'worker') {
  const runtime = createAgentRuntime(bus, { heartbeatInterval: '5s', log: () => {} });
  closers.push(() => runtime.close());
  const work = async (event, ctx) => {
    const p = event.payload;
    if (p.poison) throw new Error(`poison ${p.n}`);
    if (p.flaky && ctx.attempt === 1) throw new Error(`flaky ${p.n}`);
    counters.handled++;
    if (p.n % 5 === 0) await ctx.publish('WorkDone', { n: p.n }, { topic: 'soak.done' });
  };
  const subscriptions = [
    { key: 'work', topic: 'soak.work', concurrency: 8, retry, handler: work },
    { key: 'audit', topic: 'soak.>', concurrency: 4, handler: async () => {} },
  ];
  if (!nats) subscriptions.push({ key: 'ordered', topic: 'soak.work', ordered: true, concurrency: 4, retry, handler: work });
  await runtime.start(defineAgent({ name: '/soak-worker', subscriptions }));
  // The saga's worker: answers each step, fails E2E for some sagas, never answers others (step timeout).
  const steps = {
    BuildArtifact: 'ArtifactBuilt',
    RunTests: 'TestsPassed',
    DeployToStaging: 'StagingDeployed',
    RunE2ETests: 'E2EPassed',
    DeployToProduction: 'ProductionDeployed',
  };
  await runtime.start(
    defineAgent({
      name: '/soak-deployer',
      subscriptions: [
        {
          topic: 'deploy.commands',
          filter:
            'type in (BuildArtifact,RunTests,DeployToStaging,RunE2ETests,DeployToProduction,RemoveStaging,RemoveFromStaging,RollbackProduction)',
          concurrency: 4,
          handler: async (event, ctx) => {
            const type = event.event.type;
            const p = event.payload;
            if (p.compensation) return;
            if (type === 'RunE2ETests' && p.fail) return void (await ctx.publish('E2EFailed', { saga_id: p.saga_id }));
            if (type === 'RunTests' && p.hang) return;
            await ctx.publish(steps[type], { saga_id: p.saga_id });
          },
        },
      ],
    }),
  );
  // The aggregator's producers: each join gets two or three of its three events.
  await runtime.start(
    defineAgent({
      name: '/soak-joiner',
      subscriptions: [
        {
          topic: 'join.requests',
          concurrency: 4,
          handler: async (event, ctx) => {
            await ctx.publish('PartA', {}, { topic: 'join.parts' });
            await ctx.publish('PartB', {}, { topic: 'join.parts' });
            if (!event.payload.incomplete) await ctx.publish('PartC', {}, { topic: 'join.parts' });
          },
        },
      ],
    }),
  );
  await bus.commands.register('SoakCommand', async (command, ctx) => {
    counters.commands++;
    if (command.payload.fail) throw new NonRetryableError('refused');
    await ctx.publish('SoakCommandDone', { n: command.payload.n }, { topic: 'soak.commands-done' });
    return { n: command.payload.n };
  });
  await bus.queries.register('SoakQuery', async (q) => {
    counters.queries++;
    return { n: q.n, member };
  });
} else if (role === 'flows') {
  const saga = await startSaga(
    bus,
    {
      saga: 'soak-deploy',
      topic: 'deploy.commands',
      trigger: 'DeployFeatureRequested',
      step_timeout: '3s',
      steps: [
        { action: 'BuildArtifact', success: 'ArtifactBuilt', failure: 'BuildFailed' },
        { action: 'RunTests', success: 'TestsPassed', failure: 'TestsFailed' },
        { action: 'DeployToStaging', success: 'StagingDeployed', failure: 'StagingFailed', compensation: 'RemoveFromStaging' },
        { action: 'RunE2ETests', success: 'E2EPassed', failure: 'E2EFailed', compensation: 'RemoveStaging' },
        {
          action: 'DeployToProduction',
          success: 'ProductionDeployed',
          failure: 'ProductionFailed',
          compensation: 'RollbackProduction',
        },
      ],
    },
    { concurrency: 4 },
  );
  closers.push(() => saga.close());
  const join = await startAggregator(bus, {
    aggregator_id: 'soak-join',
    wait_for: [{ type: 'PartA' }, { type: 'PartB' }, { type: 'PartC' }],
    timeout: '3s',
    on_complete: 'JoinCompleted',
    on_timeout: 'JoinTimedOut',
    topic: 'join.parts',
    publish_topic: 'join.done',
  });
  closers.push(() => join.close());
} else if (role === 'publisher') {
  const rate = Number(process.env.SOAK_RATE ?? 200);
  const burstEvery = Number(process.env.SOAK_BURST_EVERY_MS ?? 60_000);
  const burstSize = Number(process.env.SOAK_BURST ?? 1000);
  let n = 0;
  const one = (i) => {
    const r = Math.random();
    return bus
      .publish({
        topic: 'soak.work',
        type: 'WorkItem',
        partitionKey: `k${i % 64}`,
        payload: { n: i, poison: r < 0.01, flaky: r >= 0.01 && r < 0.04, pad: 'x'.repeat(200) },
      })
      .then(
        () => counters.published++,
        () => counters.publishErrors++,
      );
  };
  const loop = async () => {
    let lastBurst = Date.now();
    let tick = 0;
    while (!stopping) {
      const started = Date.now();
      const batch = [];
      for (let i = 0; i < rate / 10; i++) batch.push(one(n++));
      if (Date.now() - lastBurst > burstEvery) {
        lastBurst = Date.now();
        for (let i = 0; i < burstSize; i++) batch.push(one(n++));
      }
      tick++;
      if (tick % 10 === 0) {
        // one saga and two joins a second; a command and a query a second
        const id = `saga-${member}-${tick}`;
        const r = Math.random();
        batch.push(
          bus
            .publish({
              topic: 'deploy.commands',
              type: 'DeployFeatureRequested',
              correlationId: id,
              payload: { fail: r < 0.3, hang: r >= 0.3 && r < 0.4 },
            })
            .then(
              () => counters.sagas++,
              () => counters.publishErrors++,
            ),
        );
        for (const j of [0, 1]) {
          batch.push(
            bus
              .publish({
                topic: 'join.requests',
                type: 'JoinRequested',
                correlationId: `join-${tick}-${j}`,
                payload: { incomplete: Math.random() < 0.2 },
              })
              .catch(() => counters.publishErrors++),
          );
        }
        batch.push(
          bus.commands.send('SoakCommand', { n: tick, fail: tick % 50 === 0 }, { timeout: '10s' }).then(
            () => {},
            (e) => {
              if (e?.code !== 'HANDLER_FAILED' && e?.name !== 'NonRetryableError') counters.cqrsErrors++;
            },
          ),
        );
        batch.push(bus.queries.ask('SoakQuery', { n: tick }, { timeout: '10s' }).catch(() => counters.cqrsErrors++));
      }
      await Promise.all(batch);
      await sleep(Math.max(0, 100 - (Date.now() - started)));
    }
  };
  const running = loop();
  closers.push(() => running);
} else {
  console.error(`unknown role ${role}`);
  process.exit(2);
}

console.log(JSON.stringify({ ready: role, pid: process.pid }));

const stop = async (signal) => {
  if (stopping) return;
  stopping = true;
  const started = Date.now();
  for (const close of closers) await close();
  await bus.close();
  console.error(`${role}: ${signal}: closed in ${Date.now() - started} ms; counters ${JSON.stringify(counters)}`);
  // What is still open after close: the driver reports it (a leftover handle keeps a process alive).
  // stdout and stderr (PipeWrap, TTYWrap) stay open until exit.
  const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
  if (left.length > 0) console.error(`${role}: left after close: ${left.join(',')}`);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
