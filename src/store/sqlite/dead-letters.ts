/**
 * Dead letters on SQLite: list, show, replay (atomically with the redelivery), archive, purge.
 */
import { checkAttempts, decodeAttempts, encodeAttempts } from '../attempts.js';
import type {
  AppendItem,
  DeadLetter,
  DeadLetterFilter,
  ExternalDeadLetter,
  OpenDeadLetterCounts,
  ReplayDeadLetterOptions,
} from '../event-store.js';
import { validateCorrelationId } from '../history-query.js';
import type { SqliteEventCounts } from './event-counts.js';
import type { EventLog } from './event-log.js';
import { toStoredEvent } from './event-log.js';
import type { GroupCommitter } from './group-commit.js';
import type { LagAccounting } from './lag-accounting.js';
import { deadLetterNotFound, notFound, notOpen, unwrap } from '../refusals.js';
import type { DeadLetterRow, Statements } from './statements.js';

export class SqliteDeadLetters {
  readonly #s: Statements;

  constructor(
    statements: Statements,
    private readonly log: EventLog,
    private readonly lag: LagAccounting,
    private readonly counts: SqliteEventCounts,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
    private readonly wake: () => void,
  ) {
    this.#s = statements;
  }

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const params = {
      consumer: filter.consumer ?? null,
      status: filter.status ?? null,
      after: filter.afterId ?? 0,
      limit: filter.limit ?? -1,
    };
    const rows = (
      filter.correlationId === undefined
        ? this.#s.deadLetters.all(params)
        : this.#s.deadLettersOf.all({ ...params, correlation: validateCorrelationId(filter.correlationId) })
    ) as DeadLetterRow[];
    return rows.map(toDeadLetter);
  }

  async countOpen(): Promise<OpenDeadLetterCounts> {
    return {
      bySubscription: this.#s.openDeadByConsumer.all() as Array<{ consumer: string; count: number }>,
      byTopic: this.#s.openDeadByTopic.all() as Array<{ topic: string; events: number }>,
    };
  }

  async get(id: number): Promise<DeadLetter | undefined> {
    const row = this.#s.deadLetter.get(id) as DeadLetterRow | undefined;
    return row ? toDeadLetter(row) : undefined;
  }

  replay(id: number, replacement?: AppendItem, options: ReplayDeadLetterOptions = {}): Promise<DeadLetter> {
    return this.committer
      .enqueue((ctx) => {
        const row = this.#s.deadLetter.get(id) as DeadLetterRow | undefined;
        if (!row) return deadLetterNotFound(id);
        if (row.status !== 'open') return notOpen(row.id, row.status);
        // Redelivered by the caller's transport (NATS): only the status moves here.
        if (!options.redelivered && !this.#s.consumer.get(row.consumer)) return notFound(row.consumer);
        const now = this.now();
        if (replacement) {
          this.log.appendInTransaction([replacement], now, ctx);
        } else if (!options.redelivered) {
          this.#s.insertRetry.run(row.consumer, row.seq, 0, now, null, null, null, null, null, 0, null);
          this.lag.returned(row.consumer, ctx);
        }
        this.#s.resolveDead.run('replayed', null, replacement?.envelope.event.id ?? null, id);
        this.wake();
        return undefined;
      })
      .then(unwrap)
      .then(async () => (await this.get(id)) as DeadLetter);
  }

  /** A dead letter decided by a transport outside the store; idempotent per open (consumer, event). */
  record(record: ExternalDeadLetter): Promise<DeadLetter> {
    let attempts: string;
    try {
      attempts = encodeAttempts(checkAttempts(record.attempts));
    } catch (error) {
      return Promise.reject(error);
    }
    return this.committer
      .enqueue((ctx) => {
        const [stored] = this.log.appendInTransaction([record.event], this.now(), ctx);
        const seq = (stored as { seq: number }).seq;
        const open = this.#s.openDeadOf.get(record.consumer, seq) as number | undefined;
        if (open !== undefined) return open;
        const { lastInsertRowid } = this.#s.insertDead.run(
          record.consumer,
          seq,
          record.reason,
          record.error,
          record.stack ?? null,
          record.retries,
          record.firstFailedAt,
          record.lastFailedAt,
          attempts,
        );
        this.#s.countDead.run(record.consumer);
        this.counts.activity(ctx).add('dead_lettered', record.event.envelope.routing.topic);
        return Number(lastInsertRowid);
      })
      .then(async (id) => (await this.get(id)) as DeadLetter);
  }

  archive(id: number, note: string): Promise<DeadLetter> {
    return this.committer
      .enqueue(() => (this.#s.resolveDead.run('archived', note, null, id).changes === 1 ? undefined : deadLetterNotFound(id)))
      .then(unwrap)
      .then(async () => (await this.get(id)) as DeadLetter);
  }

  /** Deletes dead letters, and the events below the log start that were kept for them alone. */
  purge(filter: { consumer?: string; status?: DeadLetter['status'] | 'all' } = {}): Promise<number> {
    return this.committer.enqueue(() => {
      const gone = this.#s.purgeDead.all({ consumer: filter.consumer ?? null, status: filter.status ?? null }) as Array<{
        seq: number;
      }>;
      let released = 0;
      for (const seq of new Set(gone.map((row) => row.seq))) {
        if (this.#s.releaseEvent.run(seq).changes === 0) continue;
        released++;
        // Recovered deliveries of another subscription go with the event (ADR 0023).
        this.#s.deleteRecoveredAt.run(seq);
      }
      if (released > 0) this.#s.countPruned.run(released);
      return gone.length;
    });
  }
}

export function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    consumer: row.consumer,
    event: toStoredEvent(row),
    reason: row.reason,
    error: row.error,
    ...(row.stack ? { stack: row.stack } : {}),
    retries: row.retries,
    firstFailedAt: row.first_failed_at,
    lastFailedAt: row.last_failed_at,
    attempts: decodeAttempts(row.attempts),
    status: row.status,
    ...(row.note ? { note: row.note } : {}),
    ...(row.replayed_as ? { replayedAs: row.replayed_as } : {}),
  };
}
