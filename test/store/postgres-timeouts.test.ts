/**
 * `statementTimeoutMs` of the PostgreSQL store: a statement that waits on a lock, or a server
 * that stops answering, fails the operation with BACKEND_UNAVAILABLE naming the timeout
 * instead of blocking it for ever; nothing is half-written and the store keeps working.
 * Migrations run without it.
 */
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import type { EventStore } from '../../src/store/index.js';
import { type PostgresStoreOptions, openPostgresStore } from '../../src/store/postgres/index.js';
import { item, within } from '../conformance/fixtures.js';
import { type TestDatabase, testPostgres } from '../support/postgres.js';

const server = await testPostgres();

/** A client connection of its own, for holding locks the store must wait on. */
async function connectAdmin(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/**
 * A TCP proxy in front of the server that can stop passing the server's answers on: a server
 * that accepts statements and stalls. Connections opened after `resume()` work again.
 */
async function stallingProxy(target: URL) {
  const sockets: Array<{ client: Socket; upstream: Socket }> = [];
  let stalled = false;
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    const pair = { client, upstream };
    sockets.push(pair);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (data) => upstream.write(data));
    upstream.on('data', (data) => {
      if (!stalled) client.write(data);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = new URL(target.toString());
  url.port = String((proxy.address() as AddressInfo).port);
  return {
    url: url.toString(),
    /** From now on, answers on the connections open now are dropped. */
    stall() {
      stalled = true;
    },
    /** Ends the stalled connections; new ones are served normally. */
    resume() {
      for (const { client, upstream } of sockets.splice(0)) {
        client.destroy();
        upstream.destroy();
      }
      stalled = false;
    },
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}

describe.skipIf(!server.available)(`PostgreSQL statementTimeoutMs ${server.skipReason}`, () => {
  let db: TestDatabase;
  let schemas = 0;
  const open: EventStore[] = [];
  beforeAll(async () => {
    db = await server.createDatabase();
  });
  afterAll(async () => {
    await Promise.all(open.map((s) => s.close().catch(() => {})));
    await db?.drop();
  });
  const fresh = () => `timeouts_${++schemas}`;
  const openStore = async (options: Partial<PostgresStoreOptions> & { schema: string }) => {
    const store = await openPostgresStore({ url: db.url, poolSize: 3, safetyCheckMs: 600_000, ...options });
    open.push(store);
    return store;
  };

  it('refuses a bad statementTimeoutMs naming the field, before connecting', async () => {
    for (const value of [-1, 1.5, 5, '60000', Number.NaN, 3_000_000_000]) {
      // An unreachable server: a refusal must come before any connection is tried.
      const error = await openPostgresStore({
        url: 'postgres://postgres@127.0.0.1:1/none',
        statementTimeoutMs: value as number,
      }).catch((e: unknown) => e);
      expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field).toBe('statementTimeoutMs');
    }
  });

  it('fails an append blocked on a lock with BACKEND_UNAVAILABLE naming the timeout, writes nothing, and appends again after', async () => {
    const schema = fresh();
    const store = await openStore({ schema, statementTimeoutMs: 300 });
    const [first] = await store.append([item()]);
    expect(first?.seq).toBe(1);

    const locker = await connectAdmin(db.url);
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".events IN ACCESS EXCLUSIVE MODE`);
      // Two appends of one tick share the flush that blocks: both waiters are released.
      const blocked = [item(), item()];
      const outcomes = await within(
        Promise.all(blocked.map((b) => store.append([b]).catch((e: unknown) => e))),
        20_000,
        'appends blocked on a lock',
      );
      for (const error of outcomes) {
        expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
        expect((error as Error).message).toContain('statementTimeoutMs');
        expect(isAgentbusError(error) && error.details.timeout).toBe('statementTimeoutMs');
      }
      await locker.query('ROLLBACK');

      // Nothing of the failed flush is stored, and positions go on without a gap.
      for (const b of blocked) expect(await store.get(b.envelope.event.id)).toBeUndefined();
      expect(await store.head()).toBe(1);
      const [next] = await within(store.append([item()]), 20_000, 'an append after the lock is released');
      expect(next?.seq).toBe(2);
      const rows = await locker.query(`SELECT count(*)::int AS n FROM "${schema}".events`);
      expect(rows.rows[0].n).toBe(2);
    } finally {
      await locker.end();
    }
  });

  it('fails a read blocked on a lock, and reads again once it is released', async () => {
    const schema = fresh();
    const store = await openStore({ schema, statementTimeoutMs: 300 });
    const [stored] = await store.append([item()]);
    const id = stored?.envelope.event.id as string;
    const locker = await connectAdmin(db.url);
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".events IN ACCESS EXCLUSIVE MODE`);
      const error = await within(
        store.get(id).catch((e: unknown) => e),
        20_000,
        'a read blocked on a lock',
      );
      expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE') && error.details.timeout).toBe('statementTimeoutMs');
      await locker.query('ROLLBACK');
      expect((await store.get(id))?.seq).toBe(1);
    } finally {
      await locker.end();
    }
  });

  it('migrates without the timeout: opening waits for a migration lock held longer than it', async () => {
    const schema = fresh();
    const locker = await connectAdmin(db.url);
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`agentbus.migrate:${schema}`]);
      const opening = openStore({ schema, statementTimeoutMs: 50 });
      // Held for ten times the statement timeout (longer still on a slow machine).
      await new Promise((resolve) => setTimeout(resolve, 500));
      await locker.query('COMMIT');
      const store = await within(opening, 20_000, 'opening after the migration lock is released');
      expect((await store.append([item()]))[0]?.seq).toBe(1);
    } finally {
      await locker.end();
    }
  });

  it('gives up on a server that stops answering, drops the connection, and appends again once it answers', async () => {
    const proxy = await stallingProxy(new URL(db.url));
    try {
      const schema = fresh();
      const store = await openPostgresStore({
        url: proxy.url,
        schema,
        poolSize: 3,
        safetyCheckMs: 600_000,
        statementTimeoutMs: 200,
      });
      open.push(store);
      await store.append([item()]);
      proxy.stall();
      const lost = item();
      const error = await within(
        store.append([lost]).catch((e: unknown) => e),
        20_000,
        'an append to a server that stopped answering',
      );
      expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE')).toBe(true);
      expect((error as Error).message).toContain('no answer from PostgreSQL within statementTimeoutMs');
      proxy.resume();
      const [next] = await within(store.append([item()]), 20_000, 'an append once the server answers again');
      // The stalled transaction never committed: its event is not there.
      expect(await store.get(lost.envelope.event.id)).toBeUndefined();
      expect(next?.seq).toBe(2);
    } finally {
      proxy.resume();
      await proxy.close();
    }
  });
});
