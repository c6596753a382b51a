import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bus, type Envelope, createBus } from '../../src/index.js';
import { storedEventOf } from '../../src/store/sqlite/committed-tail.js';
import { EventLog } from '../../src/store/sqlite/event-log.js';
import { GroupCommitter } from '../../src/store/sqlite/group-commit.js';
import { LagAccounting } from '../../src/store/sqlite/lag-accounting.js';
import { migrate } from '../../src/store/sqlite/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { item, within } from '../conformance/fixtures.js';

/** Resolves after `n` calls of the returned handler, with what each call saw. */
function recorder<T>(n: number, see: (envelope: Envelope) => T) {
  const seen: T[] = [];
  let done!: (value: T[]) => void;
  const all = new Promise<T[]>((resolve) => {
    done = resolve;
  });
  const handler = (envelope: Envelope) => {
    seen.push(see(envelope));
    if (seen.length === n) done(seen);
  };
  return { handler, all };
}

/** Tries to change a delivered envelope in three places; returns what each attempt threw. */
function tamper(envelope: Envelope): string[] {
  const attempts: Array<() => void> = [
    () => {
      (envelope.payload as { n: number }).n = 99;
    },
    () => {
      (envelope.payload as { nested: { tags: string[] } }).nested.tags.push('changed');
    },
    () => {
      (envelope.routing as { topic: string }).topic = 'changed';
    },
  ];
  return attempts.map((attempt) => {
    try {
      attempt();
      return 'changed';
    } catch (error) {
      return (error as Error).name;
    }
  });
}

describe('SQLite in-memory tail and read-only deliveries', () => {
  let dir: string;
  const buses: Bus[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentbus-tail-'));
  });
  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async () => {
    const bus = await createBus({ path: join(dir, 'bus.db') });
    buses.push(bus);
    return bus;
  };

  it('gives subscribers of one process a read-only envelope: one cannot change what another sees', async () => {
    const bus = await open();
    const a = recorder(3, tamper);
    const b = recorder(3, (e) => JSON.stringify([e.payload, e.routing.topic]));
    await bus.subscribe({ name: 'a', topic: 'tail.*', handler: a.handler });
    await bus.subscribe({ name: 'b', topic: 'tail.*', handler: b.handler });
    for (let n = 0; n < 3; n++) await bus.publish({ topic: 'tail.x', type: 'T', payload: { n, nested: { tags: ['x'] } } });
    const tampered = await within(a.all, 20_000, 'subscriber a');
    const seen = await within(b.all, 20_000, 'subscriber b');
    expect(tampered).toEqual(Array.from({ length: 3 }, () => ['TypeError', 'TypeError', 'TypeError']));
    expect(seen).toEqual([0, 1, 2].map((n) => JSON.stringify([{ n, nested: { tags: ['x'] } }, 'tail.x'])));
  });

  it('never shares the publisher’s objects: changing a payload after publishing changes nothing delivered', async () => {
    const bus = await open();
    const payload = { n: 0, nested: { tags: ['x'] } };
    const got = recorder(1, (e) => e);
    await bus.subscribe({ name: 'own', topic: 'tail.*', handler: got.handler });
    await bus.publish({ topic: 'tail.x', type: 'T', payload });
    payload.n = 99;
    payload.nested.tags.push('later');
    const [delivered] = await within(got.all, 20_000, 'delivery');
    expect(delivered?.payload).not.toBe(payload);
    expect(delivered?.payload).toEqual({ n: 0, nested: { tags: ['x'] } });
    expect(Object.isFrozen(payload)).toBe(false);
  });

  it('shares a copy taken at publish: changing the payload before the append commits changes nothing delivered', async () => {
    const bus = await open();
    const warm = recorder(1, (e) => e);
    const got = recorder(2, (e) => e);
    let seen = 0;
    await bus.subscribe({ name: 'early', topic: 'tail.*', handler: (e) => (seen++ === 0 ? warm : got).handler(e) });
    // The first claim switches the tail on: what it finds in the same flush is read back.
    await bus.publish({ topic: 'tail.x', type: 'T', payload: { warm: true } });
    await within(warm.all, 20_000, 'warm-up delivery');
    const payloads = [
      { n: 0, nested: { tags: ['x'] } },
      { n: 1, nested: { tags: ['x'] } },
    ];
    // Both appends wait for the next flush; the payloads change before it runs.
    const published = Promise.all(payloads.map((payload) => bus.publish({ topic: 'tail.x', type: 'T', payload })));
    for (const payload of payloads) {
      payload.n += 10;
      payload.nested.tags.push('before commit');
    }
    await published;
    const delivered = await within(got.all, 20_000, 'deliveries');
    expect(delivered.map((e) => e.payload)).toEqual([0, 1].map((n) => ({ n, nested: { tags: ['x'] } })));
    const history = [];
    for await (const e of bus.events({ topic: 'tail.x' })) history.push(e.envelope.payload);
    expect(history.slice(1)).toEqual(delivered.map((e) => e.payload));
    expect(tamper(delivered[0] as Envelope)).toEqual(['TypeError', 'TypeError', 'TypeError']);
  });

  it('gives each subscriber its own copy of events read back from the table: a change stays with it', async () => {
    const writer = await open();
    for (let n = 0; n < 3; n++) await writer.publish({ topic: 'tail.x', type: 'T', payload: { n, nested: { tags: ['x'] } } });
    const reader = await open();
    const a = recorder(3, tamper);
    const b = recorder(3, (e) => JSON.stringify([e.payload, e.routing.topic]));
    // Started late, from the beginning: nothing of this comes from the reader's tail.
    await reader.subscribe({ name: 'late-a', topic: 'tail.*', start: 'earliest', handler: a.handler });
    await reader.subscribe({ name: 'late-b', topic: 'tail.*', start: 'earliest', handler: b.handler });
    await within(a.all, 20_000, 'late subscriber a');
    expect(await within(b.all, 20_000, 'late subscriber b')).toEqual(
      [0, 1, 2].map((n) => JSON.stringify([{ n, nested: { tags: ['x'] } }, 'tail.x'])),
    );
  });

  it('delivers in position order without gaps when another process appends between this one’s appends', async () => {
    const local = await open();
    const other = await open();
    const got = recorder(6, (e) => (e.payload as { n: number }).n);
    await local.subscribe({ name: 'order', topic: 'tail.*', handler: got.handler });
    for (let n = 0; n < 6; n++) await (n % 3 === 1 ? other : local).publish({ topic: 'tail.x', type: 'T', payload: { n } });
    expect(await within(got.all, 20_000, 'six events')).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('takes in only committed events: a flush that rolls back leaves the tail untouched', async () => {
    const db = new Database(join(dir, 'log.db'));
    try {
      migrate(db, Date.now());
      const log = new EventLog(db, new LagAccounting(db));
      const committer = new GroupCommitter(db);
      log.tail.claimed('local', 1, Date.now());
      const failed = await Promise.allSettled([
        committer.enqueue((ctx) => log.appendInTransaction([item()], Date.now(), ctx)),
        committer.enqueue(() => {
          throw new Error('disk on fire');
        }),
      ]);
      expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(log.tail.size).toBe(0);
      expect(log.head()).toBe(0);

      const [stored] = await committer.enqueue((ctx) => log.appendInTransaction([item()], Date.now(), ctx));
      expect(log.tail.size).toBe(1);
      const held = log.tail.at(stored?.seq ?? -1);
      expect(held ? storedEventOf(held).envelope : undefined).toEqual(stored?.envelope);
      // Parsed from the stored text: never the publisher's object, and frozen.
      expect(held ? storedEventOf(held).envelope : undefined).not.toBe(stored?.envelope);
      expect(held ? Object.isFrozen(storedEventOf(held).envelope.payload) : false).toBe(true);
    } finally {
      db.close();
    }
  });

  it('runs a parked claim in the transaction that appends: the delivery is committed when the append resolves', async () => {
    const store = await openSqliteStore({ path: join(dir, 'park.db') });
    try {
      await store.deliveries.ensureConsumer({ name: 'parked', topic: 'tail.*', start: 'latest' });
      const request = {
        consumer: 'parked',
        owner: 'me',
        max: 10,
        leaseMs: 30_000,
        matchTopic: (t: string) => t.startsWith('tail.'),
      };
      expect((await store.deliveries.claim(request)).deliveries).toEqual([]);
      const parked = store.deliveries.claimOnAppend?.(request);
      expect(parked).toBeDefined();
      const [appended] = await store.append([item({ topic: 'tail.x' })]);
      // No other flush ran: the claim's window committed with the event.
      expect((await store.deliveries.getConsumer('parked'))?.inFlight).toBe(1);
      const result = await within(
        parked?.result as Promise<{ deliveries: Array<{ event: { seq: number } }> }>,
        5_000,
        'parked claim',
      );
      expect(result.deliveries.map((d) => d.event.seq)).toEqual([appended?.seq]);
      expect(parked?.cancel()).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('a parked claim that throws is undone and reported to its consumer, and the append it rode on commits', async () => {
    const store = await openSqliteStore({ path: join(dir, 'throw.db') });
    try {
      await store.deliveries.ensureConsumer({ name: 'bad', topic: 'tail.*', start: 'latest' });
      const request = {
        consumer: 'bad',
        owner: 'me',
        max: 10,
        leaseMs: 30_000,
        matchTopic: () => true,
        matchEvent: () => {
          throw new Error('filter exploded');
        },
      };
      await store.deliveries.claim(request);
      const parked = store.deliveries.claimOnAppend?.(request);
      const [appended] = await store.append([item({ topic: 'tail.x' })]);
      await expect(parked?.result).rejects.toThrow('filter exploded');
      expect(appended?.duplicate).toBe(false);
      expect(await store.head()).toBe(appended?.seq);
      // Undone: the consumer's cursor did not move past the event.
      expect((await store.deliveries.getConsumer('bad'))?.nextSeq).toBe(appended?.seq);
    } finally {
      await store.close();
    }
  });

  it('commits a lazy job with the next flush something else asks for, or on its own after its delay', async () => {
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE t (n INTEGER)');
      let transactions = 0;
      const committer = new GroupCommitter(db, () => {
        transactions++;
      });
      const insert = db.prepare('INSERT INTO t VALUES (?)');
      // Alone: committed after its delay, in a transaction of its own.
      await within(
        committer.enqueueLazy(() => insert.run(1), 5),
        5_000,
        'lazy job alone',
      );
      expect(transactions).toBe(1);
      // With a later ordinary job: both in that job's flush, long before the lazy delay.
      const lazy = committer.enqueueLazy(() => insert.run(2), 60_000);
      await new Promise((resolve) => setImmediate(resolve));
      expect(transactions).toBe(1);
      await committer.enqueue(() => insert.run(3));
      await within(lazy, 5_000, 'lazy job riding along');
      expect(transactions).toBe(2);
      expect(db.prepare('SELECT count(*) AS c FROM t').get()).toEqual({ c: 3 });
    } finally {
      db.close();
    }
  });
});
