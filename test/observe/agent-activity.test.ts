/**
 * Agent Activity's Consumed for a plain subscription with a filter, on SQLite, PostgreSQL and
 * NATS (JetStream delivery, history in a SQLite file): the events delivered to its handler
 * and acknowledged, not the events its filter skipped, failures or dead letters. Checked in
 * the snapshot and through `agentbus status --json` in another process, as a user runs it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, NonRetryableError, createBus } from '../../src/index.js';
import { statusSnapshot } from '../../src/observe/index.js';
import type { EventStore } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { runCli } from '../e2e/run-cli.js';
import { NATS_URL, natsForSuite } from '../support/nats.js';
import { testPostgres } from '../support/postgres.js';
import { until } from './scenarios.js';

const pg = await testPostgres();
const natsUp = await natsForSuite('Agent Activity on NATS');

/** 15 events the filter skips, 4 it takes: two handled, one after a retry, one dead-lettered. */
const SKIPPED = 15;
const HANDLED = 3;

/**
 * /frontend-specialist takes only APIDesignCompleted on project.tasks, among 19 events there:
 * handles two, fails one once and then handles it, dead-letters one.
 */
async function filteredScenario(bus: Bus): Promise<void> {
  let failedOnce = false;
  const sub = await bus.subscribe({
    name: '/frontend-specialist',
    topic: 'project.tasks',
    filter: 'type=APIDesignCompleted',
    start: 'earliest',
    retry: { max_retries: 2, initial_delay: '10ms', max_delay: '20ms' },
    handler: (event) => {
      const { kind } = event.payload as { kind: string };
      if (kind === 'poison') throw new NonRetryableError('design has no endpoints');
      if (kind === 'flaky' && !failedOnce) {
        failedOnce = true;
        throw new Error('agent unavailable');
      }
    },
  });
  const source = '/backend-architect';
  await bus.publishBatch([
    ...Array.from({ length: SKIPPED }, (_, i) => ({ source, topic: 'project.tasks', type: 'TaskStartedEvent', payload: { i } })),
    { source, topic: 'project.tasks', type: 'APIDesignCompleted', payload: { kind: 'ok' } },
    { source, topic: 'project.tasks', type: 'APIDesignCompleted', payload: { kind: 'flaky' } },
    { source, topic: 'project.tasks', type: 'APIDesignCompleted', payload: { kind: 'ok' } },
    { source, topic: 'project.tasks', type: 'APIDesignCompleted', payload: { kind: 'poison' } },
  ]);
  await until(async () => (await bus.deadLetters.list({ status: 'open' })).length === 1, 'the dead letter');
  // On NATS history reaches the store through the recorder.
  await until(
    async () => (await bus.store.counts.totals()).find((c) => c.source === source)?.events === SKIPPED + 4,
    'the events recorded',
  );
  await until(
    async () => (await bus.store.counts.handled()).find((h) => h.consumer === '/frontend-specialist')?.count === HANDLED,
    'three acknowledgements counted',
  );
  await sub.close();
}

/** What every backend must show for the scenario. */
async function expectConsumed(store: EventStore, cli: readonly string[], env: Record<string, string> = {}): Promise<void> {
  const s = await statusSnapshot(store);
  expect(s.agents.find((a) => a.agent === '/frontend-specialist')).toMatchObject({ consumed: HANDLED, processing: 0 });
  expect(s.agents.find((a) => a.agent === '/backend-architect')).toMatchObject({ published: SKIPPED + 4, consumed: 0 });
  const result = await runCli(['status', '--json', ...cli], { env });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const json = JSON.parse(result.stdout) as {
    agents: Array<{ agent: string; consumed: number; published: number; processing: number }>;
    topics: Array<{ topic: string; published: number; consumed: number | null; lag: number | null }>;
  };
  expect(json.agents.find((a) => a.agent === '/frontend-specialist')).toMatchObject({
    consumed: HANDLED,
    published: 0,
    processing: 0,
  });
  // By Topic, a backlog view on every backend (on NATS from the JetStream consumer): every
  // event once, the dead one aside.
  expect(json.topics.find((t) => t.topic === 'project.tasks')).toMatchObject({
    published: SKIPPED + 4,
    consumed: SKIPPED + 3,
    lag: 0,
  });
}

/** A backend the scenario ran on: a store to read it with, the CLI's flags for it, cleanup. */
interface Ran {
  readonly open: () => Promise<EventStore>;
  readonly cli: readonly string[];
  readonly env?: Record<string, string>;
  /** False on NATS: JetStream keeps the consumers, so the store has no subscription positions. */
  readonly positions: boolean;
  readonly dispose: () => Promise<void>;
}

/** Runs the scenario on a backend `setup` opens, then checks what status shows. */
function describeBackend(name: string, setup: (run: (bus: Bus) => Promise<void>) => Promise<Ran>): void {
  describe(`on ${name}`, () => {
    let ran: Ran | undefined;
    beforeAll(async () => {
      ran = await setup(async (bus) => {
        try {
          await filteredScenario(bus);
        } finally {
          await bus.close();
        }
      });
    });
    afterAll(async () => {
      await ran?.dispose();
    });

    it('counts the handled events, not the skipped ones, in the snapshot and in status --json', async () => {
      const { open, cli, env, positions } = ran as Ran;
      const store = await open();
      try {
        await expectConsumed(store, cli, env);
        const s = await statusSnapshot(store);
        if (!positions) return;
        // By Topic stays a backlog view: every event once, the dead one aside.
        const tasks = s.topics.find((t) => t.topic === 'project.tasks');
        expect(tasks).toMatchObject({ published: SKIPPED + 4, consumed: SKIPPED + 3, lag: 0 });
        const sub = s.subscriptions.find((x) => x.name === '/frontend-specialist');
        expect(sub).toMatchObject({ handled: HANDLED, settled: SKIPPED + 4, inDlq: 1 });
      } finally {
        await store.close();
      }
    });
  });
}

describe('Agent Activity: Consumed counts what handlers acknowledged', () => {
  describeBackend('SQLite', async (run) => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-activity-'));
    const path = join(dir, 'agentbus.db');
    await run(await createBus({ path }));
    return {
      open: () => openSqliteStore({ path }),
      cli: ['--db', path],
      positions: true,
      dispose: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });

  describe.skipIf(!pg.available)(`PostgreSQL ${pg.skipReason}`, () => {
    describeBackend('PostgreSQL', async (run) => {
      const db = await pg.createDatabase('agentbus_activity');
      await run(await createBus({ store: { postgres: db.url } }));
      return { open: () => openPostgresStore({ url: db.url }), cli: ['--store', db.url], positions: true, dispose: db.drop };
    });
  });

  describe.skipIf(!natsUp)(`NATS at ${NATS_URL}`, () => {
    describeBackend('NATS', async (run) => {
      const id = randomBytes(4).toString('hex');
      const env = { AGENTBUS_NATS_STREAM: `AB_ACTIVITY_${id}`, AGENTBUS_NATS_PREFIX: `abactivity-${id}` };
      const dir = mkdtempSync(join(tmpdir(), 'agentbus-activity-nats-'));
      const path = join(dir, 'agentbus.db');
      const store = await openSqliteStore({ path });
      const transport = await createNatsTransport({
        servers: NATS_URL,
        store,
        stream: env.AGENTBUS_NATS_STREAM,
        subjectPrefix: env.AGENTBUS_NATS_PREFIX,
        storage: 'memory',
      });
      await run(await createBus({ store, transport }));
      return {
        open: () => openSqliteStore({ path }),
        cli: ['--db', path, '--nats', NATS_URL],
        env,
        positions: false,
        dispose: async () => {
          await transport.destroy();
          await transport.close();
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    });
  });
});
