import { describe, expect, it } from 'vitest';
import type { SubscriptionBacklog } from '../transport/transport.js';
import { backlogPerTopic, mergePending, topicTotals } from './topic-counts.js';

const totals = topicTotals([
  { topic: 'project.tasks', source: '/a', events: 8, lastSeq: 8 },
  { topic: 'project.reviews', source: '/a', events: 2, lastSeq: 10 },
  { topic: 'billing.invoices', source: '/b', events: 5, lastSeq: 15 },
]);

const backlog = (name: string, topic: string, pending: number, inFlight: number): SubscriptionBacklog => ({
  name,
  topic,
  pending,
  inFlight,
  ackFloor: 0,
  delivered: 0,
  redelivered: 0,
});

describe('backlogPerTopic', () => {
  it('puts the whole backlog (not delivered + in flight) on the one topic a subscription matches', () => {
    const out = backlogPerTopic([backlog('/tasks', 'project.tasks', 3, 2)], totals);
    expect([...out].map(([topic, subs]) => [topic, [...subs]])).toEqual([['project.tasks', [['/tasks', 5]]]]);
  });

  it('counts a wildcard subscription against each topic it matches, at most that topic’s events', () => {
    const out = backlogPerTopic([backlog('/all', 'project.>', 6, 1)], totals);
    expect(out.get('project.tasks')?.get('/all')).toBe(7);
    expect(out.get('project.reviews')?.get('/all')).toBe(2);
    expect(out.has('billing.invoices')).toBe(false);
  });

  it('leaves out a subscription whose topics have no events in history', () => {
    expect(backlogPerTopic([backlog('/quiet', 'ops.*', 4, 0)], totals).size).toBe(0);
  });
});

describe('mergePending', () => {
  it('adds the transport’s subscriptions beside the store’s on the same topic', () => {
    const merged = mergePending(
      new Map([['project.tasks', new Map([['/store', 1]])]]),
      backlogPerTopic([backlog('/nats', 'project.tasks', 4, 0)], totals),
    );
    expect([...(merged.get('project.tasks') ?? [])]).toEqual([
      ['/store', 1],
      ['/nats', 4],
    ]);
  });
});
