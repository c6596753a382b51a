/**
 * Prometheus metrics of a bus on SQLite: the exposition parses, names follow the conventions,
 * labels stay bounded, and counters and histograms move as events flow.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Bus, NonRetryableError, createBus } from '../../src/index.js';
import { type BusMetrics, createMetrics } from '../../src/observe/index.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-metrics-'));
  dirs.push(dir);
  return join(dir, 'agentbus.db');
}

/** One parsed sample line. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y;

/** A strict reader of the Prometheus text format 0.0.4; throws on any line it does not accept. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    const found = families.get(name);
    if (found) return found;
    const created: Family = { type: '', help: '', samples: [] };
    families.set(name, created);
    return created;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name: ${line}`);
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type: ${line}`);
        family(name).type = rest;
      } else {
        family(name).help = rest;
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const [, name, labelText = '', valueText] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const l = LABEL.exec(labelText);
      if (!l) throw new Error(`bad labels: ${line}`);
      labels[l[1] as string] = l[2] as string;
    }
    const value = valueText === '+Inf' ? Number.POSITIVE_INFINITY : Number(valueText);
    if (Number.isNaN(value)) throw new Error(`bad value: ${line}`);
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const owner = families.has(name) ? name : base;
    const f = families.get(owner);
    if (!f) throw new Error(`sample without TYPE: ${line}`);
    f.samples.push({ name, labels, value });
  }
  return families;
}

function sum(f: Family | undefined, name: string, labels: Record<string, string> = {}): number {
  return (f?.samples ?? [])
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('metrics', () => {
  let bus: Bus | undefined;
  let metrics: BusMetrics | undefined;
  afterEach(async () => {
    metrics?.close();
    await bus?.close();
    bus = undefined;
  });

  it('counts published, consumed, failed and dead-lettered events per topic, subscription and agent', async () => {
    bus = await createBus({ path: freshPath(), retry: { max_retries: 1, initial_delay: '10ms', max_delay: '20ms' } });
    // Read the store at every scrape: the wait below watches a store-derived gauge.
    metrics = createMetrics(bus, { storeTtlMs: 0 });
    const ok = await bus.subscribe({
      name: '/backend-architect',
      topic: 'project.tasks',
      handler: async (_e, ctx) => {
        await ctx.publish('APIDesignStarted', {}, { topic: 'project.designs' });
      },
    });
    const failing = await bus.subscribe({
      name: '/test-engineer',
      topic: 'project.reviews',
      handler: (e) => {
        if ((e.payload as { fatal?: boolean }).fatal) throw new NonRetryableError('invalid review');
        throw new Error('reviewer unavailable');
      },
    });
    await bus.publishBatch([
      { topic: 'project.tasks', type: 'TaskCompletedEvent', source: '/orchestrator' },
      { topic: 'project.tasks', type: 'TaskCompletedEvent', source: '/orchestrator' },
      { topic: 'project.reviews', type: 'ReviewRequestedEvent', source: '/orchestrator', payload: { fatal: true } },
      { topic: 'project.reviews', type: 'ReviewRequestedEvent', source: '/orchestrator', payload: { fatal: false } },
    ]);
    const families = async () => parseExposition(await (metrics as BusMetrics).text());
    await until(
      async () => sum((await families()).get('agentbus_dead_letters_open'), 'agentbus_dead_letters_open') === 2,
      'two dead letters committed',
    );
    await ok.idle();
    await failing.idle();
    const f = await families();

    const published = f.get('agentbus_events_published_total');
    expect(published?.type).toBe('counter');
    expect(sum(published, 'agentbus_events_published_total', { topic: 'project.tasks' })).toBe(2);
    expect(sum(published, 'agentbus_events_published_total', { topic: 'project.reviews' })).toBe(2);
    // Published by handlers, committed with their acknowledgement.
    expect(sum(published, 'agentbus_events_published_total', { topic: 'project.designs' })).toBe(2);
    const consumed = f.get('agentbus_events_consumed_total');
    expect(sum(consumed, 'agentbus_events_consumed_total', { topic: 'project.tasks', subscription: '/backend-architect' })).toBe(
      2,
    );
    expect(sum(consumed, 'agentbus_events_consumed_total', { subscription: '/test-engineer' })).toBe(0);
    expect(
      sum(f.get('agentbus_events_dead_lettered_total'), 'agentbus_events_dead_lettered_total', { topic: 'project.reviews' }),
    ).toBe(2);
    const failed = f.get('agentbus_events_failed_total');
    // fatal: one failure (no retry); the other: first attempt plus one retry.
    expect(sum(failed, 'agentbus_events_failed_total', { subscription: '/test-engineer' })).toBe(3);
    expect(sum(failed, 'agentbus_events_failed_total', { reason: 'invalid_payload' })).toBe(1);
    expect(sum(failed, 'agentbus_events_failed_total', { reason: 'temporary_failure' })).toBe(2);
    expect(
      sum(f.get('agentbus_agent_events_published_total'), 'agentbus_agent_events_published_total', { agent: '/orchestrator' }),
    ).toBe(4);
    expect(
      sum(f.get('agentbus_agent_events_published_total'), 'agentbus_agent_events_published_total', {
        agent: '/backend-architect',
      }),
    ).toBe(2);
    expect(
      sum(f.get('agentbus_agent_events_consumed_total'), 'agentbus_agent_events_consumed_total', { agent: '/backend-architect' }),
    ).toBe(2);
    expect(f.get('agentbus_agent_events_processing')?.type).toBe('gauge');
    expect(sum(f.get('agentbus_agent_events_processing'), 'agentbus_agent_events_processing')).toBe(0);

    // Store-derived: open dead letters and lag, per subscription and topic.
    expect(sum(f.get('agentbus_dead_letters_open'), 'agentbus_dead_letters_open', { subscription: '/test-engineer' })).toBe(2);
    expect(sum(f.get('agentbus_subscription_lag'), 'agentbus_subscription_lag')).toBe(0);
    expect(sum(f.get('agentbus_topic_lag'), 'agentbus_topic_lag', { topic: 'project.tasks' })).toBe(0);
    expect(sum(f.get('agentbus_health'), 'agentbus_health', { component: 'store' })).toBe(1);
    expect(sum(f.get('agentbus_health'), 'agentbus_health', { component: 'bus' })).toBe(0.5);
    expect(sum(f.get('agentbus_store_head_seq'), 'agentbus_store_head_seq')).toBeGreaterThanOrEqual(6);
  });

  it('fills the latency histograms and reports p50/p95/p99', async () => {
    bus = await createBus({ path: freshPath() });
    metrics = createMetrics(bus);
    const sub = await bus.subscribe({ name: '/python-pro', topic: 'project.tasks', handler: () => {} });
    await bus.publishBatch(Array.from({ length: 20 }, () => ({ topic: 'project.tasks', type: 'TaskStartedEvent' })));
    await until(async () => (await (metrics as BusMetrics).json()).latency.handlerDuration.count === 20, '20 handler runs');
    await sub.idle();
    const f = parseExposition(await metrics.text());
    for (const name of ['agentbus_publish_to_start_seconds', 'agentbus_handler_duration_seconds']) {
      const h = f.get(name);
      expect(h?.type).toBe('histogram');
      expect(sum(h, `${name}_count`, { subscription: '/python-pro' })).toBe(20);
      expect(sum(h, `${name}_bucket`, { subscription: '/python-pro', le: '+Inf' })).toBe(20);
      // Cumulative buckets never decrease.
      const buckets = (h?.samples ?? []).filter((s) => s.name === `${name}_bucket`).map((s) => s.value);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1] as number);
    }
    const { latency } = await metrics.json();
    for (const summary of [latency.publishToStart, latency.handlerDuration]) {
      expect(summary.count).toBe(20);
      expect(summary.p50).not.toBeNull();
      expect(summary.p50 as number).toBeLessThanOrEqual(summary.p95 as number);
      expect(summary.p95 as number).toBeLessThanOrEqual(summary.p99 as number);
    }
  });

  it('names metrics agentbus_*, counters *_total, durations *_seconds, and labels only bounded names', async () => {
    bus = await createBus({ path: freshPath() });
    metrics = createMetrics(bus);
    const sub = await bus.subscribe({ name: '/ux-designer', topic: 'project.>', handler: () => {} });
    await bus.publish({ topic: 'project.tasks', type: 'TaskStartedEvent', correlationId: 'project-xyz-123' });
    await until(async () => (await (metrics as BusMetrics).json()).latency.handlerDuration.count === 1, 'a handler run');
    await sub.idle();
    const text = await metrics.text();
    const f = parseExposition(text);
    const allowed = new Set(['topic', 'subscription', 'agent', 'reason', 'component', 'le']);
    for (const [name, family] of f) {
      expect(name).toMatch(/^agentbus_/);
      expect(family.help).not.toBe('');
      if (family.type === 'counter') expect(name).toMatch(/_total$/);
      if (family.type === 'histogram') expect(name).toMatch(/_seconds$/);
      for (const s of family.samples) for (const label of Object.keys(s.labels)) expect(allowed).toContain(label);
    }
    // Event and correlation ids never become labels.
    expect(text).not.toContain('project-xyz-123');
    expect(text).not.toContain('evt-');
  });

  it('maps label values past the limit to _other', async () => {
    bus = await createBus({ path: freshPath() });
    metrics = createMetrics(bus, { maxLabelValues: 3 });
    await bus.publishBatch(Array.from({ length: 6 }, (_, i) => ({ topic: `project.t${i}`, type: 'TaskStartedEvent' })));
    const published = parseExposition(await metrics.text()).get('agentbus_events_published_total');
    const topics = (published?.samples ?? []).map((s) => s.labels.topic);
    expect(topics).toHaveLength(4);
    expect(topics).toContain('_other');
    expect(sum(published, 'agentbus_events_published_total', { topic: '_other' })).toBe(3);
  });

  it('keeps a registry per bus and stops counting after close', async () => {
    bus = await createBus({ path: freshPath() });
    const a = createMetrics(bus);
    const b = createMetrics(bus);
    await bus.publish({ topic: 'project.tasks', type: 'TaskStartedEvent' });
    a.close();
    await bus.publish({ topic: 'project.tasks', type: 'TaskStartedEvent' });
    const count = async (m: BusMetrics) =>
      sum(parseExposition(await m.text()).get('agentbus_events_published_total'), 'agentbus_events_published_total');
    expect(await count(a)).toBe(1);
    expect(await count(b)).toBe(2);
    b.close();
  });
});
