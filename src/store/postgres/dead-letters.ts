/**
 * Dead letters on PostgreSQL: list, show, replay (atomically with the redelivery), archive,
 * purge.
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
import { RetryRows } from './batches.js';
import type { Sql } from './connection.js';
import type { ConsumerRow, DeadLetterRow, DeliveryStatements } from './delivery-statements.js';
import { toStoredEvent } from './event-log.js';
import { Deferred, type GroupCommitter } from './group-commit.js';
import type { PostgresLagAccounting } from './lag-accounting.js';
import { deadLetterNotFound, notFound, notOpen } from '../refusals.js';

export class PostgresDeadLetters {
  constructor(
    private readonly s: DeliveryStatements,
    private readonly reader: Sql,
    private readonly lag: PostgresLagAccounting,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
  ) {}

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const params = [filter.consumer ?? null, filter.status ?? null, filter.afterId ?? 0, filter.limit ?? null];
    const rows =
      filter.correlationId === undefined
        ? await this.reader.rows<DeadLetterRow>(this.s.deadLetters, params)
        : await this.reader.rows<DeadLetterRow>(this.s.deadLettersOf, [validateCorrelationId(filter.correlationId), ...params]);
    return rows.map(toDeadLetter);
  }

  async countOpen(): Promise<OpenDeadLetterCounts> {
    const [bySubscription, byTopic] = await Promise.all([
      this.reader.rows<{ consumer: string; count: number }>(this.s.openDeadByConsumer, []),
      this.reader.rows<{ topic: string; events: number }>(this.s.openDeadByTopic, []),
    ]);
    return { bySubscription, byTopic };
  }

  async get(id: number): Promise<DeadLetter | undefined> {
    const [row] = await this.reader.rows<DeadLetterRow>(this.s.deadLetter, [id]);
    return row ? toDeadLetter(row) : undefined;
  }

  async replay(id: number, replacement?: AppendItem, options: ReplayDeadLetterOptions = {}): Promise<DeadLetter> {
    await this.committer.enqueue(async (flush) => {
      const { sql } = flush;
      const [row] = await sql.rows<DeadLetterRow>(this.s.lockDeadLetter, [id]);
      if (!row) return deadLetterNotFound(id);
      if (row.status !== 'open') return notOpen(id, row.status);
      // Redelivered by the caller's transport (NATS): only the status moves here.
      if (!options.redelivered) {
        const [consumer] = await sql.rows<ConsumerRow>(this.s.consumer, [row.consumer]);
        if (!consumer) return notFound(row.consumer);
      }
      if (replacement) {
        flush.append({ items: [replacement] });
      } else if (!options.redelivered) {
        const retry = new RetryRows();
        retry.add({ consumer: row.consumer, seq: Number(row.seq), attempt: 0, dueAt: this.now(), failures: 0 });
        await retry.write(sql, this.s);
        await this.lag.refresh(sql, flush.consumersVersion);
        this.lag.returned(row.consumer, flush);
      }
      await sql.rows(this.s.resolveDead, ['replayed', null, replacement?.envelope.event.id ?? null, id]);
      flush.wake = true;
      return undefined;
    });
    return (await this.get(id)) as DeadLetter;
  }

  /**
   * A dead letter decided by a transport outside the store; idempotent per open (consumer,
   * event). A new event's dead letter is inserted after the flush's append phase, when its
   * position is known; the consumer's count moves before it, never under the log-head lock.
   */
  async record(record: ExternalDeadLetter): Promise<DeadLetter> {
    const attempts = encodeAttempts(checkAttempts(record.attempts));
    const id = await this.committer.enqueue(async (flush) => {
      const { sql } = flush;
      const insert = async (seq: number): Promise<number> => {
        const [open] = await sql.rows<{ id: number }>(this.s.openDeadOf, [record.consumer, seq]);
        if (open) return Number(open.id);
        const [row] = await sql.rows<{ id: number }>(this.s.insertOneDead, [
          record.consumer,
          seq,
          record.reason,
          record.error,
          record.stack ?? null,
          record.retries,
          record.firstFailedAt,
          record.lastFailedAt,
          attempts,
        ]);
        flush.activity.add('dead_lettered', record.event.envelope.routing.topic);
        return Number(row?.id);
      };
      const [stored] = await sql.rows<{ seq: number }>(this.s.eventSeq, [record.event.envelope.event.id]);
      if (stored) {
        const [open] = await sql.rows<{ id: number }>(this.s.openDeadOf, [record.consumer, Number(stored.seq)]);
        if (open) return Number(open.id);
        await sql.rows(this.s.countDead, [[record.consumer], [1]]);
        return insert(Number(stored.seq));
      }
      await sql.rows(this.s.countDead, [[record.consumer], [1]]);
      const request = flush.append({ items: [record.event] });
      let id = 0;
      flush.underHeadLock.push(async () => {
        id = await insert(request.result?.[0]?.seq ?? 0);
      });
      return new Deferred(() => id);
    });
    return (await this.get(id)) as DeadLetter;
  }

  async archive(id: number, note: string): Promise<DeadLetter> {
    await this.committer.enqueue(async (flush) => {
      const rows = await flush.sql.rows(this.s.resolveDead, ['archived', note, null, id]);
      return rows.length === 1 ? undefined : deadLetterNotFound(id);
    });
    return (await this.get(id)) as DeadLetter;
  }

  purge(filter: { consumer?: string; status?: DeadLetter['status'] | 'all' } = {}): Promise<number> {
    return this.committer.enqueue(async (flush) => {
      const [row] = await flush.sql.rows<{ n: number }>(this.s.purgeDead, [filter.consumer ?? null, filter.status ?? null]);
      return Number(row?.n ?? 0);
    });
  }
}

export function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: Number(row.id),
    consumer: row.consumer,
    event: toStoredEvent(row),
    reason: row.reason,
    error: row.error,
    ...(row.stack ? { stack: row.stack } : {}),
    retries: Number(row.retries),
    firstFailedAt: Number(row.first_failed_at),
    lastFailedAt: Number(row.last_failed_at),
    attempts: decodeAttempts(row.attempts),
    status: row.status,
    ...(row.note ? { note: row.note } : {}),
    ...(row.replayed_as ? { replayedAs: row.replayed_as } : {}),
  };
}
