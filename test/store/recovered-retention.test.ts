/**
 * Recovered deliveries (ADR 0023) are bounded by the log: their rows leave the table when
 * retention prunes their events, or when a purged dead letter releases an event kept below the
 * log start, on SQLite and PostgreSQL. Rows are counted on the database itself, since a row
 * whose event is gone is invisible through the store (its reads join the event).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClaimRequest, ClaimedDelivery, EventStore, Settlement } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { item, items } from '../conformance/fixtures.js';
import { testPostgres } from '../support/postgres.js';

const server = await testPostgres();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const everything = (consumer: string): ClaimRequest => ({
  consumer,
  owner: 'member',
  max: 100,
  leaseMs: 30_000,
  matchTopic: () => true,
});
const settle = (consumer: string, d: ClaimedDelivery, outcome: Settlement['outcome']): Settlement => ({
  consumer,
  seq: d.event.seq,
  topic: d.event.envelope.routing.topic,
  attempt: d.attempt,
  lease: d.lease,
  outcome,
});

/** An engine: a fresh store, and the rows of `consumer_recovered` counted on the database. */
interface Engine {
  open(): Promise<EventStore>;
  rows(): Promise<number>;
  dispose(): Promise<void>;
}

async function sqlite(): Promise<Engine> {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-recovered-'));
  dirs.push(dir);
  const path = join(dir, 'agentbus.db');
  return {
    open: () => openSqliteStore({ path }),
    rows: async () => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare('SELECT count(*) FROM consumer_recovered').pluck().get() as number;
      } finally {
        db.close();
      }
    },
    dispose: async () => {},
  };
}

async function postgres(): Promise<Engine> {
  const db = await server.createDatabase('agentbus_recovered');
  return {
    open: () => openPostgresStore({ url: db.url, poolSize: 3 }),
    rows: async () => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query('SELECT count(*)::int AS n FROM agentbus.consumer_recovered');
        return Number(rows[0]?.n);
      } finally {
        await client.end();
      }
    },
    dispose: () => db.drop(),
  };
}

const ENGINES: ReadonlyArray<[string, () => Promise<Engine>, boolean]> = [
  ['sqlite', sqlite, true],
  ['postgres', postgres, server.available],
];

for (const [name, engineOf, available] of ENGINES) {
  describe.skipIf(!available)(`recovered deliveries on ${name}`, () => {
    it('leave with their events: pruned with them, or released with the dead letter that kept one', async () => {
      const engine = await engineOf();
      const store = await engine.open();
      try {
        await store.append([item({ correlationId: 'flow-bounded' }), item({ correlationId: 'flow-bounded' }), ...items(3)]);
        await store.deliveries.ensureConsumer({ name: 'a', topic: '>', start: 'earliest' });
        await store.deliveries.ensureConsumer({ name: 'b', topic: '>', start: 'earliest' });
        const error = { reason: 'temporary_failure', message: 'not yet' };
        // a fails every event once, then handles it: five recovered deliveries.
        const ofA = (await store.deliveries.claim(everything('a'))).deliveries;
        await store.deliveries.settle(ofA.map((d) => settle('a', d, { kind: 'retry', delayMs: 0, error })));
        const again = (await store.deliveries.claim(everything('a'))).deliveries;
        await store.deliveries.settle(again.map((d) => settle('a', d, { kind: 'ack' })));
        // b dead-letters the first event, which keeps it below the log start.
        const ofB = (await store.deliveries.claim(everything('b'))).deliveries;
        await store.deliveries.settle(
          ofB.map((d) => settle('b', d, d.event.seq === 1 ? { kind: 'dead', error } : { kind: 'ack' })),
        );
        expect(await engine.rows()).toBe(5);

        await store.retention.prune({ maxEvents: 1 });
        // Events 2-4 are gone with their rows; the kept event 1 and the newest keep theirs.
        expect(await engine.rows()).toBe(2);
        expect((await store.deliveries.recovered.list({ correlationId: 'flow-bounded' })).map((r) => r.event.seq)).toEqual([1]);

        expect(await store.deliveries.purgeDeadLetters({ status: 'all' })).toBe(1);
        expect(await store.deliveries.recovered.list({ correlationId: 'flow-bounded' })).toEqual([]);
        expect(await engine.rows()).toBe(1);
      } finally {
        await store.close();
        await engine.dispose();
      }
    });
  });
}
