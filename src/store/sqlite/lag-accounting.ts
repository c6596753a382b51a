/**
 * Exact lag for subscriptions that have a `max_lag`: a `pending` counter per subscription,
 * raised in the append transaction for each event the subscription will receive (topic
 * pattern, filter, or addressed to it) and lowered as its deliveries settle. Subscriptions
 * without a limit cost nothing. Counter changes of one flush are written once, before commit.
 */
import type Database from 'better-sqlite3';
import type { Envelope } from '../../envelope/envelope.js';
import { type EventPattern, compilePattern, compileTopicPattern } from '../../routing/index.js';
import type { LagLimit } from '../event-store.js';
import type { FlushContext } from './group-commit.js';

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
}

const DELTAS = 'lag:deltas';
const CHECKED = 'lag:checked';

export class LagAccounting {
  readonly #version: Database.Statement;
  readonly #limited: Database.Statement;
  readonly #pending: Database.Statement;
  readonly #add: Database.Statement;
  readonly #bump: Database.Statement;
  #seen = -1;
  #consumers: LimitedConsumer[] = [];

  constructor(db: Database.Database) {
    this.#version = db.prepare("SELECT value FROM store_meta WHERE key = 'consumers_version'").pluck();
    this.#limited = db.prepare('SELECT name, topic, filter, max_lag, on_full FROM consumers WHERE max_lag IS NOT NULL');
    this.#pending = db.prepare('SELECT pending FROM consumers WHERE name = ?').pluck();
    this.#add = db.prepare('UPDATE consumers SET pending = max(0, pending + ?) WHERE name = ?');
    this.#bump = db.prepare(
      "INSERT INTO store_meta (key, value) VALUES ('consumers_version', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1",
    );
  }

  /** Marks the set of limited subscriptions as changed (every process reloads it). */
  definitionsChanged(): void {
    this.#bump.run();
  }

  /** Counts appended envelopes against the limited subscriptions that will receive them. */
  appended(envelopes: readonly Envelope[], ctx: FlushContext | undefined): void {
    const consumers = this.#current(ctx);
    if (consumers.length === 0) return;
    for (const envelope of envelopes) {
      const target = envelope.routing.deliver_to;
      for (const consumer of consumers) {
        if (target !== undefined ? target === consumer.name : consumer.matches(envelope)) this.#change(consumer.name, 1, ctx);
      }
    }
  }

  /** Lowers a subscription's count by `n` settled deliveries; true when it is limited. */
  settled(consumer: string, n: number, ctx: FlushContext | undefined): boolean {
    if (n === 0 || !this.#current(ctx).some((c) => c.name === consumer)) return false;
    this.#change(consumer, -n, ctx);
    return true;
  }

  /** Raises a subscription's count (a replayed dead letter). */
  returned(consumer: string, ctx: FlushContext | undefined): void {
    if (this.#current(ctx).some((c) => c.name === consumer)) this.#change(consumer, 1, ctx);
  }

  /** The limited subscriptions with their current counts, for publishers to check. */
  limits(): LagLimit[] {
    return this.#current().map((c) => ({
      subscription: c.name,
      maxLag: c.maxLag,
      onFull: c.onFull,
      pending: (this.#pending.get(c.name) as number | undefined) ?? 0,
      matches: c.matches,
    }));
  }

  /** A matcher for a subscription's topic and filter as stored. */
  static matcher(topic: string, filter: string | null): (envelope: Envelope) => boolean {
    const matchTopic = compileTopicPattern(topic);
    const matchFilter = filter === null ? undefined : compilePattern(JSON.parse(filter) as EventPattern);
    return (envelope) => matchTopic(envelope.routing.topic) && (matchFilter === undefined || matchFilter(envelope));
  }

  #change(name: string, delta: number, ctx: FlushContext | undefined): void {
    if (!ctx) {
      this.#add.run(delta, name);
      return;
    }
    let deltas = ctx.scratch.get(DELTAS) as Map<string, number> | undefined;
    if (!deltas) {
      const created = new Map<string, number>();
      deltas = created;
      ctx.scratch.set(DELTAS, created);
      ctx.beforeCommit(() => {
        for (const [consumer, d] of created) if (d !== 0) this.#add.run(d, consumer);
      });
    }
    deltas.set(name, (deltas.get(name) ?? 0) + delta);
  }

  /** The limited consumers, reloaded when their definitions changed; checked once per flush. */
  #current(ctx?: FlushContext): LimitedConsumer[] {
    if (ctx?.scratch.has(CHECKED)) return this.#consumers;
    ctx?.scratch.set(CHECKED, true);
    const version = (this.#version.get() as number | undefined) ?? 0;
    if (version === this.#seen) return this.#consumers;
    this.#seen = version;
    this.#consumers = (this.#limited.all() as LimitRow[]).map((row) => ({
      name: row.name,
      maxLag: row.max_lag,
      onFull: row.on_full,
      matches: LagAccounting.matcher(row.topic, row.filter),
    }));
    return this.#consumers;
  }
}
