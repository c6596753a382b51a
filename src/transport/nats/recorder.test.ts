/**
 * The recorder against a stand-in puller and store: what it appends, acknowledges, gives back
 * and drops. In particular, a message without what history indexes is terminated on its own
 * instead of failing (and stalling) every batch it is in. The real server is exercised in
 * test/conformance/nats.test.ts.
 */
import type { Msg } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { createEnvelope } from '../../envelope/create.js';
import { createIdGenerator } from '../../envelope/ids.js';
import type { AppendItem, AppendedEvent, EventStore } from '../../store/event-store.js';
import { AckBatch } from './ack-batch.js';
import { LocalCopies } from './local-copies.js';
import type { Pulled, Puller } from './puller.js';
import { Recorder, type RecorderStatus, recordable } from './recorder.js';

const clock = { now: () => Date.parse('2026-11-24T10:00:00Z') };
const newId = createIdGenerator({ clock });
const decoder = new TextDecoder();

function envelopeText(id: string): string {
  return JSON.stringify(createEnvelope({ id, topic: 'project.tasks', type: 'TaskCompleted', payload: { id } }, { clock, newId }));
}

/** A delivered message whose responses (+ACK, +TERM, -NAK ...) are recorded in `responses`. */
function message(seq: number, body: string, responses: Map<number, string[]>): Pulled {
  const msg = {
    subject: 'agentbus.project.tasks',
    reply: `$JS.ACK.AGENTBUS.agentbus-recorder.1.${seq}.${seq}.1795485488117446834.0`,
    string: () => body,
    respond: (data: Uint8Array | string) => {
      responses.set(seq, [...(responses.get(seq) ?? []), typeof data === 'string' ? data : decoder.decode(data)]);
      return true;
    },
  } as unknown as Msg;
  return { msg, receivedAt: Date.now() };
}

/** Hands out `batches` one pull at a time, then waits until the recorder stops. */
function standInPuller(batches: Pulled[][]): Puller {
  return {
    pull: async (_max: number, signal?: AbortSignal) => {
      const next = batches.shift();
      if (next) return next;
      await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
      return [];
    },
    close: async () => {},
  } as unknown as Puller;
}

function standInStore(fail = false) {
  const appended: AppendItem[][] = [];
  const store = {
    append: async (items: readonly AppendItem[]): Promise<AppendedEvent[]> => {
      if (fail) throw new Error('database is locked');
      appended.push([...items]);
      return [];
    },
  } as unknown as EventStore;
  return { store, appended };
}

async function record(batches: Pulled[][], store: EventStore) {
  const statuses: RecorderStatus[] = [];
  const acks = new AckBatch();
  const recorder = new Recorder({
    puller: standInPuller(batches),
    store,
    batch: 500,
    acks,
    local: new LocalCopies(),
    status: (status) => statuses.push(status),
  });
  recorder.start();
  // Let the batch be appended and its acknowledgements sent (once per turn of the event loop).
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  await recorder.close();
  acks.flush();
  return statuses;
}

describe('Recorder', () => {
  it('appends a batch in one store append and acknowledges each message after it', async () => {
    const responses = new Map<number, string[]>();
    const { store, appended } = standInStore();
    await record([[message(1, envelopeText('a'), responses), message(2, envelopeText('b'), responses)]], store);
    expect(appended.map((batch) => batch.map((item) => item.envelope.event.id))).toEqual([['a', 'b']]);
    expect(appended[0]?.[0]?.text).toBe(envelopeText('a'));
    expect(Object.fromEntries(responses)).toEqual({ 1: ['+ACK'], 2: ['+ACK'] });
  });

  it('terminates and reports a message without what history indexes, and records the rest of its batch', async () => {
    const responses = new Map<number, string[]>();
    const { store, appended } = standInStore();
    const noCorrelation = JSON.parse(envelopeText('x')) as { event: Record<string, unknown> };
    noCorrelation.event.correlation_id = undefined;
    const statuses = await record(
      [
        [
          message(1, envelopeText('a'), responses),
          message(2, JSON.stringify(noCorrelation), responses),
          message(3, 'not json', responses),
          message(4, envelopeText('b'), responses),
        ],
      ],
      store,
    );
    expect(appended.map((batch) => batch.map((item) => item.envelope.event.id))).toEqual([['a', 'b']]);
    expect(Object.fromEntries(responses)).toEqual({ 1: ['+ACK'], 2: ['+TERM'], 3: ['+TERM'], 4: ['+ACK'] });
    expect(statuses.map((s) => s.type)).toEqual(['recorder_dropped', 'recorder_dropped']);
  });

  it('gives a batch back with a delay when the store fails, and reports it', async () => {
    const responses = new Map<number, string[]>();
    const { store } = standInStore(true);
    const statuses = await record([[message(1, envelopeText('a'), responses), message(2, 'not json', responses)]], store);
    expect(Object.fromEntries(responses)).toEqual({ 1: ['-NAK {"delay":1000000000}'], 2: ['+TERM'] });
    expect(statuses.map((s) => s.type)).toEqual(['recorder_dropped', 'recorder_failed']);
  });
});

describe('recordable', () => {
  const valid = () => JSON.parse(envelopeText('e1')) as { event: Record<string, unknown>; routing: Record<string, unknown> };

  it('accepts every envelope agentbus builds', () => {
    expect(recordable(valid())).toBe(true);
    const full = createEnvelope(
      {
        topic: 'a.b',
        type: 'T',
        payload: null,
        causationId: 'c',
        partitionKey: 'k',
        priority: 'high',
        deliverTo: '/x',
        expiresAt: '2030-01-01T00:00:00Z',
      },
      { clock, newId },
    );
    expect(recordable(JSON.parse(JSON.stringify(full)))).toBe(true);
  });

  it('refuses what the store would refuse', () => {
    const cases: Array<(e: ReturnType<typeof valid>) => void> = [
      (e) => {
        e.event.id = '';
      },
      (e) => {
        e.event.type = 5;
      },
      (e) => {
        e.event.source = undefined;
      },
      (e) => {
        e.event.correlation_id = undefined;
      },
      (e) => {
        e.event.timestamp = 'yesterday';
      },
      (e) => {
        e.event.causation_id = { id: 'c' };
      },
      (e) => {
        e.event.expires_at = 'never';
      },
      (e) => {
        e.routing.topic = undefined;
      },
      (e) => {
        e.routing.partition_key = 7;
      },
      (e) => {
        e.routing.priority = 'urgent';
      },
      (e) => {
        (e as { payload?: unknown }).payload = undefined;
      },
    ];
    for (const change of cases) {
      const e = valid();
      change(e);
      expect(recordable(JSON.parse(JSON.stringify(e)))).toBe(false);
    }
    expect(recordable(null)).toBe(false);
    expect(recordable({ event: {}, routing: {} })).toBe(false);
  });
});
