/**
 * Exact lag for subscriptions with a `max_lag` on PostgreSQL: a `pending` counter per limited
 * subscription in `consumer_lag`, raised for each appended event the subscription will
 * receive and lowered as its deliveries settle. A flush collects its changes and writes them
 * once, under the log-head lock, so counting never races an append. Subscriptions without a
 * limit cost nothing. The set of limited subscriptions is cached per process and reloaded
 * when `log_head.consumers_version` moves.
 */
import type { Envelope } from '../../envelope/envelope.js';
import { type EventPattern, compilePattern, compileTopicPattern } from '../../routing/index.js';
import type { LagLimit } from '../event-store.js';
import type { Sql, Statement } from './connection.js';
import type { Flush } from './group-commit.js';
import type { Tables } from './tables.js';

interface LimitedConsumer {
  readonly name: string;
  readonly maxLag: number;
  readonly onFull: 'block' | 'reject';
  readonly matches: (envelope: Envelope) => boolean;
}

interface LimitRow {
  name: string;
  topic: string;
  filter: string | null;
  max_lag: number;
  on_full: 'block' | 'reject';
  pending?: number;
}

export class PostgresLagAccounting {
  readonly #limited: Statement;
  readonly #limits: Statement;
  readonly #apply: Statement;
  readonly #bump: Statement;
  readonly #matchers = new Map<string, (envelope: Envelope) => boolean>();
  #seen = -1;
  #consumers: LimitedConsumer[] = [];

  constructor(t: Tables) {
    this.#limited = {
      name: 'ab_lag_limited',
      text: `SELECT name, topic, filter, max_lag, on_full FROM ${t.consumers} WHERE max_lag IS NOT NULL`,
    };
    this.#limits = {
      name: 'ab_lag_limits',
      text: `SELECT c.name, c.topic, c.filter, c.max_lag, c.on_full, coalesce(l.pending, 0) AS pending
             FROM ${t.consumers} c LEFT JOIN ${t.consumerLag} l ON l.consumer = c.name WHERE c.max_lag IS NOT NULL`,
    };
    this.#apply = {
      name: 'ab_lag_apply',
      text: `UPDATE ${t.consumerLag} l SET pending = greatest(0, l.pending + u.d)
             FROM unnest($1::text[], $2::bigint[]) AS u(c, d) WHERE l.consumer = u.c`,
    };
    this.#bump = { name: 'ab_lag_bump', text: `UPDATE ${t.logHead} SET consumers_version = consumers_version + 1 WHERE id = 1` };
  }

  /** Reloads the limited subscriptions when their definitions changed since last seen. */
  async refresh(sql: Sql, version: number): Promise<void> {
    if (version === this.#seen) return;
    const rows = await sql.rows<LimitRow>(this.#limited);
    this.#seen = version;
    this.#consumers = rows.map((row) => ({
      name: row.name,
      maxLag: Number(row.max_lag),
      onFull: row.on_full,
      matches: this.#matcher(row.topic, row.filter),
    }));
  }

  /** Counts appended envelopes against the limited subscriptions that will receive them. */
  appended(envelopes: readonly Envelope[], flush: Pick<Flush, 'lag'>): void {
    if (this.#consumers.length === 0) return;
    for (const envelope of envelopes) {
      const target = envelope.routing.deliver_to;
      for (const consumer of this.#consumers) {
        if (target !== undefined ? target === consumer.name : consumer.matches(envelope)) flush.lag(consumer.name, 1);
      }
    }
  }

  /** Lowers a subscription's count by `n` settled deliveries; true when it is limited. */
  settled(consumer: string, n: number, flush: Pick<Flush, 'lag'>): boolean {
    if (n === 0 || !this.#consumers.some((c) => c.name === consumer)) return false;
    flush.lag(consumer, -n);
    return true;
  }

  /** Raises a subscription's count (a replayed dead letter). */
  returned(consumer: string, flush: Pick<Flush, 'lag'>): void {
    if (this.#consumers.some((c) => c.name === consumer)) flush.lag(consumer, 1);
  }

  /** Writes counter changes (under the log-head lock). */
  async apply(sql: Sql, deltas: ReadonlyMap<string, number>): Promise<void> {
    if (deltas.size === 0) return;
    const names = [...deltas.keys()].sort();
    await sql.rows(this.#apply, [names, names.map((n) => deltas.get(n) ?? 0)]);
  }

  /** Marks the limited subscriptions as changed for every process (under the log-head lock). */
  async definitionsChanged(sql: Sql): Promise<void> {
    await sql.rows(this.#bump);
    this.#seen = -1;
  }

  /** The limited subscriptions with their current counts. */
  async limits(sql: Sql): Promise<LagLimit[]> {
    const rows = await sql.rows<LimitRow>(this.#limits);
    return rows.map((row) => ({
      subscription: row.name,
      maxLag: Number(row.max_lag),
      onFull: row.on_full,
      pending: Number(row.pending ?? 0),
      matches: this.#matcher(row.topic, row.filter),
    }));
  }

  /** A matcher for a subscription's topic and filter as stored, cached. */
  #matcher(topic: string, filter: string | null): (envelope: Envelope) => boolean {
    const key = `${topic}\u0000${filter ?? ''}`;
    let matcher = this.#matchers.get(key);
    if (!matcher) {
      matcher = matcherOf(topic, filter);
      this.#matchers.set(key, matcher);
    }
    return matcher;
  }
}

/** Whether an envelope is delivered to a subscription with this topic and stored filter. */
export function matcherOf(topic: string, filter: string | null): (envelope: Envelope) => boolean {
  const matchTopic = compileTopicPattern(topic);
  const matchFilter = filter === null ? undefined : compilePattern(JSON.parse(filter) as EventPattern);
  return (envelope) => matchTopic(envelope.routing.topic) && (matchFilter === undefined || matchFilter(envelope));
}
