import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../envelope/envelope.js';
import { isAgentbusError } from '../errors.js';
import { AGGREGATOR_TIMEOUT_EVENT, type AggregatorInstance, decideAggregator, defineAggregator } from './aggregator.js';
import { aggregatorStatusLine, aggregatorStatusRows } from './aggregator-status.js';
import type { Effect } from './effects.js';

const SEED = {
  aggregator_id: 'phase1-complete',
  wait_for: [
    { type: 'APIDesignCompleted', from: '/backend-architect' },
    { type: 'WireframeCompleted', from: '/ux-designer' },
    { type: 'TestPlanCompleted', from: '/test-engineer' },
  ],
  timeout: '2h',
  on_complete: 'Phase1CompletedEvent',
  on_timeout: 'Phase1TimeoutEvent',
};
const T0 = Date.UTC(2025, 10, 29, 10, 30);
const deps = { idFor: (key: string) => `id:${key}` };

function envelope(type: string, source: string, id = `evt-${type}`, correlation = 'project-xyz-123'): Envelope {
  return {
    event: {
      id,
      type,
      source,
      timestamp: '2025-11-29T10:30:00Z',
      version: '1.0',
      correlation_id: correlation,
      causation_id: null,
      kind: 'event',
    },
    payload: {},
    routing: { topic: 'project.tasks', priority: 'normal' },
  } as Envelope;
}

function run(config: Parameters<typeof defineAggregator>[0], events: Envelope[], at = T0) {
  const definition = defineAggregator(config);
  let state: AggregatorInstance | undefined;
  const effects: Effect[] = [];
  events.forEach((e, i) => {
    const d = decideAggregator(
      definition,
      state,
      { kind: e.event.type === AGGREGATOR_TIMEOUT_EVENT ? 'timeout' : 'event', envelope: e, at: at + i * 60_000 },
      deps,
    );
    if (d.state) state = d.state;
    effects.push(...d.effects);
  });
  return { state: state as AggregatorInstance, effects };
}

const api = envelope('APIDesignCompleted', '/backend-architect');
const wire = envelope('WireframeCompleted', '/ux-designer');
const plan = envelope('TestPlanCompleted', '/test-engineer');
const tick = envelope(AGGREGATOR_TIMEOUT_EVENT, '/agentbus/aggregators/phase1-complete', 'evt-tick');

describe('decideAggregator', () => {
  it("shows the seed's status after two of three events", () => {
    const { state, effects } = run(SEED, [api, wire]);
    expect(aggregatorStatusLine(state)).toBe('2/3 events received, waiting for TestPlanCompleted');
    expect(aggregatorStatusRows(state).map((r) => [r.event, r.status, r.received_at])).toEqual([
      ['APIDesignCompleted', 'received', '2025-11-29T10:30:00.000Z'],
      ['WireframeCompleted', 'received', '2025-11-29T10:31:00.000Z'],
      ['TestPlanCompleted', 'waiting', undefined],
    ]);
    expect(effects.map((e) => e.kind)).toEqual(['schedule']);
    expect(state.deadline).toBe('2025-11-29T12:30:00.000Z');
  });

  it('completes with the collected events and cancels the timeout', () => {
    const { state, effects } = run(SEED, [api, wire, plan]);
    expect(state.status).toBe('completed');
    expect(effects.map((e) => e.kind)).toEqual(['schedule', 'cancel', 'publish']);
    const publish = effects[2] as Extract<Effect, { kind: 'publish' }>;
    expect(publish.input.type).toBe('Phase1CompletedEvent');
    expect(publish.input.correlationId).toBe('project-xyz-123');
    expect((publish.input.payload as unknown as { events: Envelope[] }).events.map((e) => e.event.type)).toEqual([
      'APIDesignCompleted',
      'WireframeCompleted',
      'TestPlanCompleted',
    ]);
    expect(aggregatorStatusLine(state)).toBe('3/3 events received, complete');
  });

  it('a correlation collected again (its finished instance deleted) derives new ids for what it publishes', () => {
    const ids = (effects: Effect[]) =>
      effects.flatMap((e) => (e.kind === 'publish' || e.kind === 'schedule' ? [e.input.id] : []));
    const first = run(SEED, [api, wire, plan]);
    const later = [
      envelope('APIDesignCompleted', '/backend-architect', 'evt-api-2'),
      envelope('WireframeCompleted', '/ux-designer', 'evt-wire-2'),
      envelope('TestPlanCompleted', '/test-engineer', 'evt-plan-2'),
    ];
    const again = run(SEED, later);
    expect(again.state.status).toBe('completed');
    // The log keeps the first run's Phase1CompletedEvent: the same id would be taken as a repeat.
    expect(ids(again.effects)).toHaveLength(2);
    expect(ids(again.effects).filter((id) => ids(first.effects).includes(id))).toEqual([]);
    expect(again.state.run).toBe('evt-api-2');
  });

  it('counts a duplicate event once (same id, or the same entry again)', () => {
    const again = envelope('APIDesignCompleted', '/backend-architect', 'evt-other-id');
    const { state } = run(SEED, [api, api, again, wire]);
    expect(state.received).toHaveLength(2);
    expect(state.status).toBe('waiting');
  });

  it('ignores an event from another agent than `from`', () => {
    const { state } = run(SEED, [api, envelope('WireframeCompleted', '/someone-else')]);
    expect(state.received).toHaveLength(1);
  });

  it('on timeout names what is missing, and ignores later events', () => {
    const { state, effects } = run(SEED, [api, tick, wire]);
    expect(state.status).toBe('timed_out');
    const publish = effects.find((e) => e.kind === 'publish') as Extract<Effect, { kind: 'publish' }>;
    expect(publish.input.type).toBe('Phase1TimeoutEvent');
    expect(publish.input.payload).toMatchObject({
      received: ['APIDesignCompleted'],
      missing: ['WireframeCompleted', 'TestPlanCompleted'],
    });
    expect(state.received).toHaveLength(1);
    expect(aggregatorStatusLine(state)).toBe('1/3 events received, timed out waiting for WireframeCompleted, TestPlanCompleted');
  });

  it('completes N of M with count, and any of with count 1', () => {
    const two = run({ ...SEED, count: 2 }, [plan, wire]);
    expect(two.state.status).toBe('completed');
    const partial = run({ ...SEED, count: 2 }, [plan]);
    expect(aggregatorStatusLine(partial.state)).toBe(
      '1/2 events received (2 of 3 needed), waiting for any of APIDesignCompleted, WireframeCompleted',
    );
    const any = run({ ...SEED, count: 1 }, [wire]);
    expect(any.state.status).toBe('completed');
    expect(any.effects.map((e) => e.kind)).toEqual(['publish']);
  });

  it('refuses a bad configuration naming the field', () => {
    const cases: Array<[unknown, string]> = [
      [{ ...SEED, wait_for: [] }, 'wait_for'],
      [{ ...SEED, timeout: 'forever' }, 'timeout'],
      [{ ...SEED, count: 4 }, 'count'],
      [{ ...SEED, wait_for: [{ type: 'bad type' }] }, 'wait_for[0].type'],
      [{ ...SEED, extra: 1 }, 'extra'],
      [{ ...SEED, wait_for: [{ type: 'A', from: 'has space' }] }, 'wait_for[0].from'],
      [{ ...SEED, wait_for: [{ type: 'A' }, { type: 'A' }] }, 'wait_for[1]'],
      [{ ...SEED, on_complete: SEED.wait_for[0]?.type }, 'on_complete'],
      [{ ...SEED, timeout: '9999999999999d' }, 'timeout'],
    ];
    for (const [config, field] of cases) {
      let error: unknown;
      try {
        defineAggregator(config as Parameters<typeof defineAggregator>[0]);
      } catch (e) {
        error = e;
      }
      expect(isAgentbusError(error, 'OPTIONS_INVALID'), String(error)).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe(field);
    }
  });

  it('completes once whatever the order and repetition of the events (property)', () => {
    const pool = [api, wire, plan, envelope('APIDesignCompleted', '/backend-architect', 'evt-dup'), envelope('Unrelated', '/x')];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pool), { maxLength: 12 }), (events) => {
        const { state, effects } = run(SEED, events);
        const completions = effects.filter((e) => e.kind === 'publish');
        const types = new Set(events.map((e) => e.event.type));
        const all = ['APIDesignCompleted', 'WireframeCompleted', 'TestPlanCompleted'].every((t) => types.has(t));
        expect(completions).toHaveLength(all ? 1 : 0);
        if (state) expect(new Set(state.received.map((r) => r.index)).size).toBe(state.received.length);
      }),
    );
  });
});
