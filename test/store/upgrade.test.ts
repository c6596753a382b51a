/**
 * Databases written by earlier releases open with this one and keep working: each fixture in
 * `fixtures/` (a text dump of a database an old commit wrote, see fixtures/README.md) is
 * loaded into a fresh database and opened with the current code, on SQLite and PostgreSQL.
 * The migrations are applied and recorded; history, correlation and stream reads return every
 * event as the old code stored it; the part-way subscription resumes where it was; the
 * scheduled retry fires; the dead letter is listed and replays; counts and status are right.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type AgentBus, type Envelope, createBus, statusSnapshot, timeline } from '../../src/index.js';
import { isDeliveryEntry } from '../../src/observe/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import type { MigrationListener, MigrationStep } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { collect, item, sleep, within } from '../conformance/fixtures.js';
import { runCli } from '../e2e/run-cli.js';
import { type TestDatabase, testPostgres } from '../support/postgres.js';

const server = await testPostgres();
const FIXTURES = new URL('./fixtures/', import.meta.url);

/** The failed attempt the fixture generator's retry kept, in a release that kept attempts. */
const OLD_ATTEMPT = (at: number) => ({
  attempt: 1,
  at,
  reason: 'temporary_failure',
  error: 'search service answered 503',
  delayMs: 5000,
});

/** An old database: which engine, which dump, the schema version it was at, what it holds. */
interface Fixture {
  readonly engine: 'sqlite' | 'postgres';
  readonly file: string;
  readonly version: number;
  /** The release had event-sourced streams (the generator wrote order-42 and order-43). */
  readonly streams: boolean;
  /** The release kept failed attempts and counted acknowledgements per subscription (ADR 21). */
  readonly attempts: boolean;
}

const FIXTURE_LIST: readonly Fixture[] = [
  { engine: 'sqlite', file: 'sqlite-v1-8dac201.sql', version: 1, streams: false, attempts: false },
  { engine: 'sqlite', file: 'sqlite-v5-6143ab9.sql', version: 5, streams: false, attempts: false },
  { engine: 'sqlite', file: 'sqlite-v7-5f6da70.sql', version: 7, streams: true, attempts: false },
  { engine: 'sqlite', file: 'sqlite-v10-d32debe.sql', version: 10, streams: true, attempts: false },
  { engine: 'sqlite', file: 'sqlite-v12-543fcc7.sql', version: 12, streams: true, attempts: true },
  { engine: 'postgres', file: 'postgres-v2-16b9c0d.sql', version: 2, streams: true, attempts: false },
  { engine: 'postgres', file: 'postgres-v2-5f6da70.sql', version: 2, streams: true, attempts: false },
  { engine: 'postgres', file: 'postgres-v4-d32debe.sql', version: 4, streams: true, attempts: false },
  { engine: 'postgres', file: 'postgres-v6-543fcc7.sql', version: 6, streams: true, attempts: true },
];

/** A row of the old `events` table. */
interface RawEvent {
  readonly seq: number;
  readonly storedAt: number;
  readonly envelope: Envelope;
}

/** Reads and opens one loaded fixture through its engine. */
interface Loaded {
  /** Runs `text` directly on the database (not through the store). */
  query<T>(text: string): Promise<T[]>;
  open(onMigrate?: MigrationListener): Promise<EventStore>;
  dispose(): Promise<void>;
  /** The SQLite file (SQLite fixtures only). */
  readonly path?: string;
}

/** A fixture opened with this build. */
interface Upgraded {
  readonly loaded: Loaded;
  /** The events as the old release stored them. */
  readonly raw: readonly RawEvent[];
  /** Positions of the events on `project.*`, which `/reviewer` receives. */
  readonly project: readonly number[];
  readonly store: EventStore;
  /** Only when a retry policy was given. */
  readonly bus: AgentBus;
}

/** The generator's clock started here; everything in the fixtures happened within a minute. */
const WRITTEN_AT = Date.UTC(2026, 10, 20, 9, 0, 0);
/** A day after the fixtures were written, running on from there. */
const started = Date.now();
const clock = { now: () => WRITTEN_AT + 86_400_000 + (Date.now() - started) };

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function loadSqlite(file: string): Loaded {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-upgrade-'));
  dirs.push(dir);
  const path = join(dir, 'agentbus.db');
  const db = new Database(path);
  db.exec(readFileSync(new URL(file, FIXTURES), 'utf8'));
  db.close();
  return {
    query: async <T>(text: string) => {
      const reader = new Database(path, { readonly: true });
      try {
        return reader.prepare(text).all() as T[];
      } finally {
        reader.close();
      }
    },
    open: (onMigrate) => openSqliteStore({ path, clock, ...(onMigrate ? { onMigrate } : {}) }),
    dispose: async () => {},
    path,
  };
}

async function loadPostgres(file: string): Promise<Loaded> {
  const db: TestDatabase = await server.createDatabase('agentbus_upgrade');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(readFileSync(new URL(file, FIXTURES), 'utf8'));
  } finally {
    await client.end();
  }
  return {
    query: <T>(text: string) => runRows<T>(db.url, text),
    open: (onMigrate) => openPostgresStore({ url: db.url, clock, poolSize: 3, ...(onMigrate ? { onMigrate } : {}) }),
    dispose: () => db.drop(),
  };
}

/** Rows of `text` run in the schema `agentbus`, bigint columns (pg gives text) as numbers. */
async function runRows<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SET search_path = agentbus');
    const { rows } = await client.query(text);
    return rows.map((row: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v])),
    ) as T[];
  } finally {
    await client.end();
  }
}

async function rawEvents(loaded: Loaded): Promise<RawEvent[]> {
  const rows = await loaded.query<{ seq: number; stored_at: number; body: string }>(
    'SELECT seq, stored_at, body FROM events ORDER BY seq',
  );
  return rows.map((r) => ({ seq: Number(r.seq), storedAt: Number(r.stored_at), envelope: JSON.parse(r.body) as Envelope }));
}

const plain = (events: Iterable<{ seq: number; storedAt: number; envelope: Envelope }>) =>
  [...events].map(({ seq, storedAt, envelope }) => ({ seq, storedAt, envelope: JSON.parse(JSON.stringify(envelope)) }));

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  await within(
    (async () => {
      while (!(await check())) await sleep(20);
    })(),
    15_000,
    what,
  );
}

function describeUpgrade(fixture: Fixture): void {
  const known = (fixture.engine === 'sqlite' ? MIGRATIONS : POSTGRES_MIGRATIONS).map((m) => m.version);
  const load = () => (fixture.engine === 'sqlite' ? Promise.resolve(loadSqlite(fixture.file)) : loadPostgres(fixture.file));
  /**
   * Loads the fixture, reads its events as stored, opens it with this build (a bus on it too
   * when `retry` is given) and runs `fn`; closes and drops everything after.
   */
  const upgraded = async (
    fn: (opened: Upgraded) => Promise<void>,
    retry?: { max_retries: number; initial_delay: number },
  ): Promise<void> => {
    const loaded = await load();
    try {
      const raw = await rawEvents(loaded);
      const project = raw.filter((e) => e.envelope.routing.topic.startsWith('project.')).map((e) => e.seq);
      const store = await loaded.open();
      try {
        const bus = retry ? await createBus({ store, clock, retry }) : undefined;
        try {
          await fn({ loaded, raw, project, store, bus: bus as AgentBus });
        } finally {
          await bus?.close();
        }
      } finally {
        await store.close();
      }
    } finally {
      await loaded.dispose();
    }
  };

  describe(`${fixture.engine} schema version ${fixture.version} (${fixture.file})`, () => {
    it('applies and records the later migrations, once', async () => {
      const loaded = await load();
      try {
        const before = await loaded.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        expect(before.map((r) => Number(r.version))).toEqual(known.filter((v) => v <= fixture.version));
        const steps: MigrationStep[] = [];
        await (await loaded.open((step) => steps.push(step))).close();
        await (await loaded.open((step) => steps.push(step))).close();
        // Told once per upgrade step, before it runs, and not again when there is nothing to do.
        expect(steps.map((step) => [step.from, step.version])).toEqual(
          known.filter((v) => v > fixture.version).map((v) => [fixture.version, v]),
        );
        expect(steps.every((step) => step.name !== '' && step.database !== '')).toBe(true);
        const after = await loaded.query<{ version: number; applied_at: number }>(
          'SELECT version, applied_at FROM schema_migrations ORDER BY version',
        );
        expect(after.map((r) => Number(r.version))).toEqual(known);
        const applied = after.filter((r) => Number(r.version) > fixture.version).map((r) => Number(r.applied_at));
        expect(applied.every((at) => at > WRITTEN_AT + 86_400_000)).toBe(true);
      } finally {
        await loaded.dispose();
      }
    });

    it('reads every event as the old release stored it: history, correlations, causations, ids', () =>
      upgraded(async ({ raw, store }) => {
        // The generator wrote 12 events (one id twice) and three to streams where it could.
        expect(raw).toHaveLength(fixture.streams ? 15 : 12);
        expect(plain(await collect(store.read()))).toEqual(plain(raw));
        expect(plain(await collect(store.read({ direction: 'backward' })))).toEqual(plain(raw).reverse());
        expect(await store.head()).toBe(raw.at(-1)?.seq);
        const correlations = new Set(raw.map((e) => e.envelope.event.correlation_id));
        expect([...correlations].sort()).toEqual(
          [
            'incident-7',
            'metrics-1',
            'project-alpha',
            'project-beta',
            ...(fixture.streams ? ['order-42', 'order-43'] : []),
          ].sort(),
        );
        for (const correlationId of correlations) {
          const expected = raw.filter((e) => e.envelope.event.correlation_id === correlationId);
          expect(plain(await collect(store.read({ correlationId })))).toEqual(plain(expected));
        }
        for (const cause of raw) {
          const expected = raw.filter((e) => e.envelope.event.causation_id === cause.envelope.event.id);
          expect(plain(await collect(store.read({ causationId: cause.envelope.event.id })))).toEqual(plain(expected));
          expect(plain([(await store.get(cause.envelope.event.id)) as RawEvent])).toEqual(plain([cause]));
        }
        const projectEvents = raw.filter((e) => e.envelope.routing.topic.startsWith('project.'));
        expect(plain(await collect(store.read({ topic: 'project.>' })))).toEqual(plain(projectEvents));
        expect(plain(await collect(store.read({ type: 'TaskCreated' })))).toEqual(
          plain(raw.filter((e) => e.envelope.event.type === 'TaskCreated')),
        );
      }));

    it('keeps state entries and streams, and both take new writes', () =>
      upgraded(async ({ store }) => {
        expect(await store.state.get('sagas', 'project-beta')).toMatchObject({
          value: { step: 'fixing', attempts: 2 },
          version: 2,
        });
        expect((await collect(store.state.list('sagas'))).map((r) => [r.key, r.version])).toEqual([
          ['project-alpha', 1],
          ['project-beta', 2],
        ]);
        expect(await store.state.get('checkpoints', 'projection/tasks')).toMatchObject({ value: { seq: 6 }, version: 1 });
        // Written within the fixture's minute: found by write time, through the index the upgrade built.
        const old = await collect(store.state.list('sagas', { updatedBefore: WRITTEN_AT + 86_400_000 }));
        expect(old.map((r) => r.key).sort()).toEqual(['project-alpha', 'project-beta']);
        expect(await collect(store.state.list('sagas', { updatedBefore: WRITTEN_AT }))).toEqual([]);
        expect(await store.state.put('sagas', 'project-beta', { step: 'done' }, 2)).toBe(3);
        if (fixture.streams) {
          const order = await collect(store.streams.read('order-42'));
          expect(order.map((e) => [e.version, e.envelope.event.type])).toEqual([
            [1, 'OrderPlaced'],
            [2, 'OrderPaid'],
          ]);
          expect(await store.streams.version('order-43')).toBe(1);
          await store.streams.append('order-42', [item({ topic: 'ledger.orders', type: 'OrderShipped' })], 2);
          expect(await store.streams.version('order-42')).toBe(3);
        }
      }));

    it('counts every event once per topic and source, and the status snapshot agrees', () =>
      upgraded(async ({ raw, store }) => {
        const expected = new Map<string, { topic: string; source: string; events: number; lastSeq: number }>();
        for (const { seq, envelope } of raw) {
          const key = `${envelope.routing.topic} ${envelope.event.source}`;
          const row = expected.get(key) ?? {
            topic: envelope.routing.topic,
            source: envelope.event.source,
            events: 0,
            lastSeq: 0,
          };
          expected.set(key, { ...row, events: row.events + 1, lastSeq: seq });
        }
        const byKey = (a: { topic: string; source: string }, b: { topic: string; source: string }) =>
          a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.source < b.source ? -1 : a.source > b.source ? 1 : 0;
        expect(await store.counts.totals()).toEqual([...expected.values()].sort(byKey));
        expect(await store.counts.after('project.tasks', 0)).toBe(5);

        const status = await statusSnapshot(store, { now: clock.now() });
        expect(status.head).toBe(raw.at(-1)?.seq);
        expect(status.throughput.inDlq).toBe(1);
        const topics = Object.fromEntries(status.topics.map((t) => [t.topic, t.published]));
        expect(topics).toMatchObject({
          'project.tasks': 5,
          'project.design': 2,
          'project.reviews': 2,
          'project.alerts': 2,
          'metrics.samples': 1,
          ...(fixture.streams ? { 'ledger.orders': 3 } : {}),
        });
        const reviewer = status.subscriptions.find((s) => s.name === '/reviewer');
        // Six claimed: three acked, one scheduled, one dead, one in flight (its lease lapsed).
        // Its position is before the claimed window, which still holds one event: all 11 of
        // its events count as pending, as they would in a database this release wrote.
        expect(reviewer).toMatchObject({ inFlight: 1, scheduled: 1, inDlq: 1, failed: 2, pending: 11, paused: false });
        const auditor = status.subscriptions.find((s) => s.name === '/auditor');
        expect(auditor).toMatchObject({ pending: 0, inFlight: 0, scheduled: 0, inDlq: 0 });
        if (fixture.attempts) {
          // The release counted each acknowledgement as it was made.
          expect(await store.counts.handled()).toEqual([
            { consumer: '/auditor', count: 2 },
            { consumer: '/reviewer', count: 3 },
          ]);
          expect(reviewer?.handled).toBe(3);
          expect(status.agents.find((a) => a.agent === '/reviewer')?.consumed).toBe(3);
        } else {
          // Acknowledgements are counted from the upgrade on: the old ones cannot be told apart
          // from skipped events, so nothing is counted for them.
          expect(await store.counts.handled()).toEqual([]);
          expect(reviewer?.handled).toBe(0);
          expect(status.agents.find((a) => a.agent === '/reviewer')?.consumed).toBe(0);
        }
      }));

    it('resumes the subscriptions where they were: the retry fires, the lapsed lease is redelivered, nothing acked comes back; the dead letter replays', () =>
      upgraded(
        async ({ raw, project, store, bus }) => {
          const seen: Array<[number, number]> = [];
          const audited: number[] = [];
          await bus.subscribe({ name: '/auditor', topic: 'project.alerts', handler: (_e, ctx) => void audited.push(ctx.seq) });
          await bus.subscribe({
            name: '/reviewer',
            topic: 'project.>',
            handler: (_e, ctx) => void seen.push([ctx.seq, ctx.attempt]),
          });
          // 1-3 were acked, 4 failed (retry due), 5 is dead, 6 was in flight; the rest never claimed.
          const expected = [[project[3], 2], [project[5], 2], ...project.slice(6).map((seq) => [seq, 1])];
          await until(() => seen.length >= expected.length, 'the resumed deliveries');
          await sleep(300);
          expect([...seen].sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual(expected);
          expect(audited).toEqual([]);

          const [dead, ...others] = await bus.deadLetters.list({ subscription: '/reviewer' });
          expect(others).toEqual([]);
          expect(dead).toMatchObject({
            consumer: '/reviewer',
            status: 'open',
            reason: 'invalid_payload',
            error: 'pr 41 does not exist',
          });
          expect(dead?.event.seq).toBe(project[4]);
          expect(dead?.event.envelope.event.id).toBe(raw.find((e) => e.seq === project[4])?.envelope.event.id);
          // The old release's dead letter is found from its event's correlation too.
          const correlationId = dead?.event.envelope.event.correlation_id as string;
          expect(await bus.deadLetters.list({ correlationId })).toEqual([dead]);
          const otherFlow = raw.find((e) => e.envelope.event.correlation_id !== correlationId)?.envelope.event.correlation_id;
          expect(await bus.deadLetters.list({ correlationId: otherFlow as string })).toEqual([]);
          await bus.deadLetters.replay([dead?.id as number]);
          await until(() => seen.some(([seq]) => seq === project[4]), 'the replayed dead letter');
          expect((await bus.deadLetters.get(dead?.id as number))?.status).toBe('replayed');

          // New events reach both, after the old ones.
          await bus.publish({ topic: 'project.alerts', type: 'IncidentClosed', correlationId: 'incident-7' });
          await until(() => audited.length === 1 && seen.length === expected.length + 2, 'a new event');
          expect(audited[0]).toBeGreaterThan(raw.at(-1)?.seq as number);
          // Every delivery settles (acks may ride along with a later commit).
          const settledAll = async () => {
            const c = await store.deliveries.getConsumer('/reviewer');
            return c?.inFlight === 0 && c.scheduled === 0;
          };
          await until(settledAll, 'every delivery settled');
        },
        { max_retries: 3, initial_delay: 50 },
      ));

    it('a retry the old release scheduled keeps the failure it spent; a lapsed lease costs none', () =>
      upgraded(async ({ loaded, project, store }) => {
        const [old] = await loaded.query<{ seq: number; first_failed_at: number }>(
          'SELECT seq, first_failed_at FROM consumer_retries',
        );
        expect(Number(old?.seq)).toBe(project[3]);
        const claim = { consumer: '/reviewer', owner: 'upgrade-test', max: 20, leaseMs: 30_000, matchTopic: () => true };
        const { deliveries } = await store.deliveries.claim(claim);
        const retried = deliveries.find((d) => d.event.seq === project[3]);
        expect(retried).toMatchObject({ attempt: 2, failures: 1, firstFailedAt: Number(old?.first_failed_at) });
        expect(deliveries.find((d) => d.event.seq === project[5])).toMatchObject({ attempt: 2, failures: 0 });
      }));

    it('the old retry handled after the upgrade is kept as recovered, with the attempts the release kept (or its failure stood in)', () =>
      upgraded(async ({ project, store }) => {
        const claim = { consumer: '/reviewer', owner: 'upgrade-test', max: 20, leaseMs: 30_000, matchTopic: () => true };
        const { deliveries } = await store.deliveries.claim(claim);
        const settled = deliveries.filter((d) => d.event.seq === project[3] || d.event.seq === project[5]);
        expect(settled.map((d) => [d.attempt, d.failures])).toEqual([
          [2, 1],
          [2, 0],
        ]);
        const results = await store.deliveries.settle(
          settled.map((d) => ({
            consumer: '/reviewer',
            seq: d.event.seq,
            topic: d.event.envelope.routing.topic,
            attempt: d.attempt,
            lease: d.lease,
            outcome: { kind: 'ack' as const },
          })),
        );
        expect(results).toEqual([[], []]);
        const [retried, lapsed] = settled;
        const correlation = retried?.event.envelope.event.correlation_id as string;
        const [recovered, ...others] = await store.deliveries.recovered.list({ correlationId: correlation });
        expect(others).toEqual([]);
        expect(recovered).toMatchObject({
          consumer: '/reviewer',
          retries: 1,
          firstFailedAt: retried?.firstFailedAt,
          attempts: fixture.attempts ? [OLD_ATTEMPT(retried?.firstFailedAt as number)] : [],
          handledAttempt: 2,
        });
        expect(recovered?.event.seq).toBe(retried?.event.seq);
        // The redelivery after a lapsed lease alone failed nothing: no record.
        const lapsedCorrelation = lapsed?.event.envelope.event.correlation_id as string;
        expect(
          (await store.deliveries.recovered.list({ correlationId: lapsedCorrelation })).filter(
            (r) => r.event.seq === lapsed?.event.seq,
          ),
        ).toEqual([]);
        const entries = (await timeline(store, correlation)).filter(
          (e) => e.eventId === retried?.event.envelope.event.id && isDeliveryEntry(e),
        );
        expect(entries.map((e) => [e.kind, e.attempt, e.time])).toEqual([
          ['retry', fixture.attempts ? 1 : undefined, new Date(recovered?.firstFailedAt as number).toISOString()],
          ['handled', 2, new Date(recovered?.handledAt as number).toISOString()],
        ]);
      }));

    it('with one retry allowed, the old retry failing again is dead-lettered at once', () =>
      upgraded(
        async ({ project, bus }) => {
          const failing = project[3] as number;
          let tries = 0;
          await bus.subscribe({
            name: '/reviewer',
            topic: 'project.>',
            handler: (_e, ctx) => {
              if (ctx.seq !== failing) return;
              tries++;
              throw new Error('search service answered 503');
            },
          });
          await until(
            async () => (await bus.deadLetters.list({ subscription: '/reviewer', status: 'open' })).length === 2,
            'the dead letter',
          );
          await sleep(200);
          expect(tries).toBe(1);
          const letters = await bus.deadLetters.list({ subscription: '/reviewer' });
          const dead = letters.find((d) => d.event.seq === failing);
          expect(dead).toMatchObject({ retries: 1, error: 'search service answered 503' });
          // A release before ADR 21 kept no attempts: its failure has no history, the new one
          // starts it; its older dead letter reads as none, not as an error. A later release's
          // attempts carry on.
          expect(dead?.attempts.map((a) => [a.attempt, a.reason, a.error])).toEqual([
            ...(fixture.attempts ? [[1, 'temporary_failure', 'search service answered 503']] : []),
            [2, 'temporary_failure', 'search service answered 503'],
          ]);
          const older = letters.find((d) => d.event.seq !== failing);
          expect(older?.attempts.map((a) => a.attempt)).toEqual(fixture.attempts ? [1] : []);
          // The timeline stands the unrecorded first failure in with one entry at its time.
          const correlation = dead?.event.envelope.event.correlation_id as string;
          const failures = (await timeline(bus, correlation)).filter(
            (e) => e.eventId === dead?.event.envelope.event.id && (e.kind === 'retry' || e.kind === 'dead_letter'),
          );
          expect(failures.map((e) => [e.kind, e.attempt, e.time])).toEqual([
            ['retry', fixture.attempts ? 1 : undefined, new Date(dead?.firstFailedAt as number).toISOString()],
            ['dead_letter', 2, new Date(dead?.lastFailedAt as number).toISOString()],
          ]);
        },
        { max_retries: 1, initial_delay: 10 },
      ));
  });
}

describe('opening databases of earlier releases', () => {
  for (const fixture of FIXTURE_LIST.filter((f) => f.engine === 'sqlite')) describeUpgrade(fixture);
});

describe('the CLI upgrading a database of an earlier release', () => {
  it('says which upgrade steps it runs on stderr, once, and nothing for a new database', async () => {
    const fixture = FIXTURE_LIST.filter((f) => f.engine === 'sqlite').at(-1) as Fixture;
    const loaded = loadSqlite(fixture.file);
    const path = loaded.path as string;
    const later = MIGRATIONS.filter((m) => m.version > fixture.version);
    const first = await runCli(['status', '--db', path]);
    expect(first.code).toBe(0);
    const told = first.stderr.split('\n').filter((line) => line.startsWith('upgrading '));
    expect(told).toEqual(later.map((m) => `upgrading ${path} from schema version ${fixture.version}: ${m.version} (${m.name})`));
    const second = await runCli(['status', '--db', path]);
    expect(second.stderr).not.toContain('upgrading');
    const fresh = join(dirname(path), 'fresh.db');
    const created = await runCli(['publish', '--topic', 'a.b', '--type', 'T', '--db', fresh]);
    expect(created.code).toBe(0);
    expect(created.stderr).not.toContain('upgrading');
  });
});

describe.skipIf(!server.available)(`opening PostgreSQL schemas of earlier releases ${server.skipReason}`, () => {
  for (const fixture of FIXTURE_LIST.filter((f) => f.engine === 'postgres')) describeUpgrade(fixture);
});

describe('SQLite migration 9 on a database already past version 5', () => {
  it('leaves a lapsed lease recorded since version 5 without a failure counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-migration-9-'));
    const path = join(dir, 'agentbus.db');
    try {
      await (await openSqliteStore({ path })).close();
      const db = new Database(path);
      const later = Date.now() + 1_000;
      db.prepare(
        `INSERT INTO consumer_retries (consumer, seq, attempt, due_at, token, reason, error, first_failed_at, last_failed_at, failures)
         VALUES ('/c', 1, 1, ?, 0, 'lease_expired', 'lease lapsed', ?, ?, 0)`,
      ).run(later, later, later);
      db.prepare('DELETE FROM schema_migrations WHERE version = 9').run();
      db.close();
      await (await openSqliteStore({ path })).close();
      const reopened = new Database(path, { readonly: true });
      expect(reopened.prepare('SELECT failures FROM consumer_retries').pluck().get()).toBe(0);
      expect(reopened.prepare('SELECT count(*) FROM schema_migrations WHERE version = 9').pluck().get()).toBe(1);
      reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
