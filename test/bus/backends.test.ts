/**
 * `createBus` on each deployment shape: the embedded default (which loads no driver),
 * `{ store: { postgres } }`, and `{ store: { postgres }, transport: { nats } }`, against the
 * real servers; and refusals of choices it does not know, naming the field.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, createBus } from '../../src/bus/index.js';
import { AgentbusError } from '../../src/errors.js';
import type { NatsTransport } from '../../src/transport/nats/index.js';
import { collect, within } from '../conformance/fixtures.js';
import { type TestDatabase, testPostgres } from '../support/postgres.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const DIST_INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/driver-loads.mjs', import.meta.url));

async function refusal(promise: Promise<unknown>): Promise<AgentbusError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AgentbusError);
  return error as AgentbusError;
}

/** Publishes one event and resolves with the envelope its handler received. */
async function roundTrip(bus: Bus, topic: string) {
  let received: (value: unknown) => void = () => {};
  const got = new Promise((resolve) => {
    received = resolve;
  });
  const sub = await bus.subscribe({
    name: `rt-${randomBytes(3).toString('hex')}`,
    topic,
    start: 'earliest',
    handler: async (event) => received(event),
  });
  const sent = await bus.publish({ topic, type: 'ShapeChecked', payload: { n: 1 } });
  const event = (await within(got, 30_000, 'delivery')) as { event: { id: string } };
  await sub.close();
  return { sent, event };
}

describe('createBus refuses backends it does not know', () => {
  it.each([
    [{ store: 42 }, 'store'],
    [{ store: { mysql: 'mysql://x' } }, 'store'],
    [{ store: { postgres: 'mysql://x' } }, 'store.postgres'],
    [{ store: { sqlite: '' } }, 'store.sqlite'],
    [{ transport: 'nats' }, 'transport'],
    [{ transport: { kafka: 'x' } }, 'transport'],
    [{ transport: { nats: [] } }, 'transport.nats'],
    [{ path: '' }, 'path'],
  ])('%j names %s', async (options, field) => {
    const error = await refusal(createBus(options as never));
    expect(error.code).toBe('OPTIONS_INVALID');
    expect(error.details.field).toBe(field);
  });
});

describe('the embedded default', () => {
  it('loads neither pg nor nats.js', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-drivers-'));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [FIXTURE, DIST_INDEX, join(dir, 'a.db')], {
        timeout: 60_000,
      });
      const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { resolved: number; drivers: string[] };
      expect(report.resolved).toBeGreaterThan(10);
      expect(report.drivers).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens { sqlite: PATH }', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-shape-'));
    const bus = await createBus({ store: { sqlite: join(dir, 'x.db') } });
    try {
      const { sent, event } = await roundTrip(bus, 'shape.sqlite');
      expect(event.event.id).toBe(sent.event.id);
    } finally {
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const pg = await testPostgres();

describe.skipIf(!pg.available)(`on PostgreSQL ${pg.skipReason}`, () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await pg.createDatabase('agentbus_shape');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('{ store: { postgres } } publishes, delivers and answers history', async () => {
    const bus = await createBus({ store: { postgres: db.url, schema: 'shape_pg' } });
    try {
      const { sent, event } = await roundTrip(bus, 'shape.pg');
      expect(event.event.id).toBe(sent.event.id);
      const history = await collect(bus.events({ correlationId: sent.event.correlation_id }));
      expect(history.map((e) => e.envelope.event.id)).toEqual([sent.event.id]);
    } finally {
      await bus.close();
    }
  });

  it('{ store: { postgres }, transport: { nats } } delivers through JetStream and records history', async () => {
    const run = randomBytes(4).toString('hex');
    const bus = await createBus({
      store: { postgres: db.url, schema: 'shape_nats' },
      transport: { nats: NATS_URL, stream: `AB_SHAPE_${run}`, subjectPrefix: `abshape-${run}`, storage: 'memory' },
    });
    try {
      const { sent, event } = await roundTrip(bus, 'shape.nats');
      expect(event.event.id).toBe(sent.event.id);
      // History is written by the recorder, shortly after delivery.
      let history: unknown[] = [];
      for (let i = 0; i < 100 && history.length === 0; i++) {
        history = await collect(bus.events({ correlationId: sent.event.correlation_id }));
        if (history.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(history).toHaveLength(1);
    } finally {
      await (bus.transport as NatsTransport).destroy();
      await bus.close();
    }
  });
});
