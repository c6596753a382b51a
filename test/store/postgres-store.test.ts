/**
 * What the PostgreSQL store adds to the EventStore contract: several stores (as several
 * processes) on one database, positions in commit order, migrations under a lock, wake-ups
 * across processes through LISTEN/NOTIFY that survive a lost connection, indexed history,
 * and `pg` loaded only when used.
 */
import { execFileSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import type { EventStore, StoredEvent } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { collect, item, items, within } from '../conformance/fixtures.js';
import { type TestDatabase, dropSchema, refuseConnections, terminateBackends, testPostgres } from '../support/postgres.js';
import { captureProcessErrors } from '../support/process-errors.js';

const server = await testPostgres();
const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

describe.skipIf(!server.available)(`PostgreSQL store ${server.skipReason}`, () => {
  let db: TestDatabase;
  let schemas = 0;
  const open: EventStore[] = [];
  beforeAll(async () => {
    db = await server.createDatabase();
  });
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close()));
    await db?.drop();
  });
  const fresh = () => `store_${++schemas}`;
  // A safety check rarer than any test: wake-ups must come from notifications and reconnects.
  const openStore = async (schema: string) => {
    const store = await openPostgresStore({ url: db.url, schema, poolSize: 3, safetyCheckMs: 600_000 });
    open.push(store);
    return store;
  };
  const sql = async <T>(text: string, values: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query(text, values)).rows as T[];
    } finally {
      await client.end();
    }
  };

  it('refuses bad options naming the field, before connecting', async () => {
    for (const [options, field] of [
      [{ url: 'mysql://x' }, 'url'],
      [{ url: db.url, schema: 'bad-name' }, 'schema'],
      [{ url: db.url, poolSize: 1 }, 'poolSize'],
      [{ url: db.url, notifyChannel: 'a b' }, 'notifyChannel'],
      [{ url: db.url, connectTimeoutMs: 0 }, 'connectTimeoutMs'],
    ] as const) {
      const error = await openPostgresStore(options as never).catch((e: unknown) => e);
      expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field).toBe(field);
    }
  });

  it('fails with BACKEND_UNAVAILABLE when the server is not there', async () => {
    const error = await openPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/none' }).catch((e: unknown) => e);
    expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
  });

  it('fails with BACKEND_UNAVAILABLE when the server accepts connections but never answers', async () => {
    // A hung server, or a proxy whose backend is gone: TCP connects, nothing comes back.
    const silent = createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const error = await within(
        openPostgresStore({ url: `postgres://postgres@127.0.0.1:${port}/none`, connectTimeoutMs: 300 }).catch((e: unknown) => e),
        20_000,
        'opening a store on a server that never answers',
      );
      expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE'), String(error)).toBe(true);
      expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    } finally {
      silent.close();
    }
  });

  it('migrates once when several processes start together', async () => {
    const schema = fresh();
    await Promise.all([openStore(schema), openStore(schema), openStore(schema)]);
    const rows = await sql<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
  });

  it('several stores raise the same activity rows at once: every count kept, no deadlock', async () => {
    const schema = fresh();
    const stores = await Promise.all([openStore(schema), openStore(schema), openStore(schema)]);
    const first = stores[0] as EventStore;
    await first.deliveries.ensureConsumer({ name: 'shared', topic: '>', start: 'earliest' });
    await Promise.all(stores.map((s, i) => s.append(items(30, { topic: i === 1 ? 'project.a' : 'project.b' }))));
    // Every store claims small windows and settles each delivery on its own, all at once.
    await Promise.all(
      stores.map(async (s, i) => {
        for (;;) {
          const claim = { consumer: 'shared', owner: `member-${i}`, max: 7, leaseMs: 30_000, matchTopic: () => true };
          const { deliveries } = await s.deliveries.claim(claim);
          if (deliveries.length === 0) return;
          const settle = (d: (typeof deliveries)[number]) =>
            s.deliveries.settle([
              {
                consumer: 'shared',
                seq: d.event.seq,
                topic: d.event.envelope.routing.topic,
                attempt: 1,
                lease: d.lease,
                outcome: { kind: 'ack' },
              },
            ]);
          const results = await Promise.all(deliveries.map(settle));
          expect(results.flat().every((r) => Array.isArray(r))).toBe(true);
        }
      }),
    );
    expect(await first.counts.recent(0)).toEqual([
      { topic: 'project.a', kind: 'consumed', count: 30 },
      { topic: 'project.a', kind: 'published', count: 30 },
      { topic: 'project.b', kind: 'consumed', count: 60 },
      { topic: 'project.b', kind: 'published', count: 60 },
    ]);
  });

  it('gives positions in commit order across stores: a reader never sees a gap filled later', async () => {
    const schema = fresh();
    const writers = await Promise.all([openStore(schema), openStore(schema), openStore(schema)]);
    const reader = await openStore(schema);
    let done = false;
    const gaps: string[] = [];
    const reading = (async () => {
      let last = 0;
      while (!done || last < 3 * 20 * 25) {
        await new Promise((r) => setTimeout(r, 2));
        for await (const event of reader.read({ fromSeq: last + 1 })) {
          if (event.seq !== last + 1) gaps.push(`${last} -> ${event.seq}`);
          last = event.seq;
        }
      }
      return last;
    })();
    await Promise.all(
      writers.map(async (writer) => {
        for (let round = 0; round < 20; round++) await Promise.all(items(25).map((i) => writer.append([i])));
      }),
    );
    done = true;
    expect(await within(reading, 30_000, 'the reader')).toBe(1500);
    expect(gaps).toEqual([]);
    const all = await collect(reader.read());
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 1500 }, (_, i) => i + 1));
    for (let i = 1; i < all.length; i++) {
      expect((all[i] as StoredEvent).storedAt).toBeGreaterThanOrEqual((all[i - 1] as StoredEvent).storedAt);
    }
  });

  it('the same id appended by two stores at once is stored once', async () => {
    const schema = fresh();
    const [a, b] = await Promise.all([openStore(schema), openStore(schema)]);
    const same = item({ id: 'evt-twice' });
    const [[x], [y]] = await Promise.all([a.append([same]), b.append([same])]);
    expect([x?.duplicate, y?.duplicate].sort()).toEqual([false, true]);
    expect(x?.seq).toBe(y?.seq);
    expect(await a.head()).toBe(1);
  });

  it('wakes listeners of another store through LISTEN/NOTIFY', async () => {
    const schema = fresh();
    const [listener, writer] = await Promise.all([openStore(schema), openStore(schema)]);
    const heads: number[] = [];
    listener.changes.onAppend((head) => heads.push(head));
    await writer.append(items(3));
    await within(
      waitUntil(() => heads.some((h) => h >= 3)),
      10_000,
      'the wake-up',
    );
  });

  it('catches up after its listener connection is killed and events were appended meanwhile', async () => {
    const schema = fresh();
    const [listener, writer] = await Promise.all([openStore(schema), openStore(schema)]);
    const heads: number[] = [];
    listener.changes.onAppend((head) => heads.push(head));
    await writer.append(items(1));
    await within(
      waitUntil(() => heads.length > 0),
      10_000,
      'the first wake-up',
    );
    // Every listener connection of this database dies; appends continue meanwhile.
    await sql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'agentbus listener'`,
      [db.name],
    );
    await writer.append(items(2));
    await within(
      waitUntil(() => heads.includes(3)),
      15_000,
      'a wake-up for the events appended while no connection listened',
    );
  });

  it('settles again once the server is back, after settlements failed while it was down', async () => {
    const schema = fresh();
    const store = await openStore(schema);
    await store.deliveries.ensureConsumer({ name: 'back', topic: '>', start: 'earliest' });
    await store.append(items(2));
    const claim = { consumer: 'back', owner: 'member', max: 10, leaseMs: 60_000, matchTopic: () => true };
    const [first, second] = (await store.deliveries.claim(claim)).deliveries;
    const ack = (d: typeof first) =>
      store.deliveries.settle([
        {
          consumer: 'back',
          seq: d?.event.seq as number,
          topic: 'test.topic',
          attempt: 1,
          lease: d?.lease as never,
          outcome: { kind: 'ack' },
        },
      ]);
    // The server goes away: every connection ends and none can be made.
    await refuseConnections(db.name, true);
    try {
      await terminateBackends(db.name);
      const refused = await ack(first).catch((e: unknown) => e);
      expect(isAgentbusError(refused, 'BACKEND_UNAVAILABLE'), String(refused)).toBe(true);
    } finally {
      await refuseConnections(db.name, false);
    }
    // Back: a settlement made now runs in a flush of its own, not in the one that failed.
    const [acked] = await within(ack(second), 10_000, 'the settlement after the outage');
    expect(acked).toEqual([]);
    expect((await store.deliveries.getConsumer('back'))?.inFlight).toBe(1);
  });

  it('fails reads with BACKEND_UNAVAILABLE while the server is away, and reads again once it is back', async () => {
    const schema = fresh();
    const store = await openStore(schema);
    await store.append(items(3));
    await refuseConnections(db.name, true);
    try {
      await terminateBackends(db.name);
      const reads: Array<[string, () => Promise<unknown>]> = [
        ['head', () => store.head()],
        ['get', () => store.get('evt-20260101-000000-aaaaaaaaaaaaaaaaaaaa')],
        ['read', () => collect(store.read())],
        ['lagLimits', () => store.deliveries.lagLimits()],
        ['getConsumer', () => store.deliveries.getConsumer('none')],
        ['state.get', () => store.state.get('ns', 'key')],
        ['retention.info', () => store.retention?.info() ?? Promise.resolve()],
      ];
      for (const [what, read] of reads) {
        const error = await read().catch((e: unknown) => e);
        expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE'), `${what}: ${String(error)}`).toBe(true);
        // The first read may still find a pooled connection the server has just ended (the
        // pool learns of it asynchronously); every later one is refused at connect.
        expect((error as Error).message, what).toMatch(
          /not currently accepting connections|terminating connection due to administrator command/,
        );
      }
    } finally {
      await refuseConnections(db.name, false);
    }
    expect(await within(store.head(), 10_000, 'a read after the outage')).toBe(3);
  });

  it('fails a transaction whose connection is terminated between two statements, and keeps the process alive', async () => {
    const schema = fresh();
    const store = await openStore(schema);
    const processErrors = captureProcessErrors();
    try {
      const failed = await store
        .transaction(async (tx) => {
          await tx.append(items(1));
          // The backend ends while this transaction holds its connection, between statements.
          expect(await terminateBackends(db.name)).toBeGreaterThan(0);
          await new Promise((resolve) => setTimeout(resolve, 300));
          await tx.append(items(1));
        })
        .catch((e: unknown) => e);
      expect(isAgentbusError(failed, 'BACKEND_UNAVAILABLE'), String(failed)).toBe(true);
      expect(processErrors.errors, 'errors nobody handled (a real process would have ended)').toEqual([]);
      // Nothing of it committed, and the store works on new connections.
      expect(await store.head()).toBe(0);
      await store.append(items(2));
      expect(await store.head()).toBe(2);
    } finally {
      processErrors.dispose();
    }
  });

  it('answers a correlation query with an index scan, page by page', async () => {
    const schema = fresh();
    const store = await openStore(schema);
    await sql(
      `INSERT INTO "${schema}".events (seq, id, topic, type, correlation_id, priority, ts, stored_at, body)
       SELECT g, 'evt-' || g, 'bulk.t', 'Bulk', 'corr-' || (g % 5000), 1, g, g, '{}' FROM generate_series(1, 200000) g`,
    );
    await sql(`UPDATE "${schema}".log_head SET last_seq = 200000`);
    await sql(`ANALYZE "${schema}".events`);
    const plan = await sql<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT seq, stored_at, body FROM "${schema}".events WHERE correlation_id = 'corr-7' AND seq > 0 ORDER BY seq LIMIT 500`,
    );
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('events_by_correlation');
    const [appended] = await store.append([item({ correlationId: 'corr-7' })]);
    const found = await collect(store.read({ correlationId: 'corr-7' }));
    expect(found).toHaveLength(41);
    expect(found.at(-1)?.seq).toBe(appended?.seq);
    await dropSchema(db.url, schema);
  });

  it('does not load pg until a PostgreSQL store is opened', () => {
    const hook = `data:text/javascript,${encodeURIComponent(
      'export async function resolve(s, c, next) { if (s === "pg") process.stdout.write("pg-resolved\\n"); return next(s, c); }',
    )}`;
    const script = `
      import { register } from 'node:module';
      register(${JSON.stringify(hook)});
      await import('./dist/index.js');
      await import('./dist/store/postgres/index.js');
      console.log('imported');
      const { openPostgresStore } = await import('./dist/store/postgres/index.js');
      await openPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/none' }).catch(() => {});
      console.log('opened');`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(out.split('\n').filter(Boolean)).toEqual(['imported', 'pg-resolved', 'opened']);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}
