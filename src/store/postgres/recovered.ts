/**
 * Recovered deliveries on PostgreSQL (ADR 0023): read by correlation, and recorded for a
 * transport that delivers outside the store. The store-backed acknowledgement writes its own
 * in the settling flush's statement that deletes the retry rows (`deleteRetries`).
 */
import type { ExternalRecovery, RecoveredDeliveries, RecoveredDelivery, RecoveredFilter } from '../event-store.js';
import { type RecoveredRow, checkRecoveredFilter, checkRecovery, toRecovered } from '../recovered.js';
import type { Sql } from './connection.js';
import type { DeliveryStatements } from './delivery-statements.js';
import { type EventRow, toStoredEvent } from './event-log.js';
import type { GroupCommitter } from './group-commit.js';

export class PostgresRecovered implements RecoveredDeliveries {
  constructor(
    private readonly s: DeliveryStatements,
    private readonly reader: Sql,
    private readonly committer: GroupCommitter,
  ) {}

  async list(filter: RecoveredFilter): Promise<RecoveredDelivery[]> {
    const { correlationId, consumer, limit } = checkRecoveredFilter(filter);
    const rows = await this.reader.rows<RecoveredRow & EventRow>(this.s.recoveredOf, [
      correlationId,
      consumer ?? null,
      limit ?? null,
    ]);
    return rows.map((row) => toRecovered(row, toStoredEvent(row)));
  }

  /** A new event's record is written after the flush's append phase, when its position is known. */
  async record(record: ExternalRecovery): Promise<void> {
    const r = checkRecovery(record);
    await this.committer.enqueue(async (flush) => {
      const upsert = (sql: Sql, seq: number) =>
        sql.rows(this.s.upsertRecovered, [
          seq,
          r.consumer,
          r.retries,
          r.firstFailedAt,
          r.attempts,
          r.handledAttempt,
          r.handledAt,
        ]);
      const [stored] = await flush.sql.rows<{ seq: number }>(this.s.eventSeq, [record.event.envelope.event.id]);
      if (stored) {
        await upsert(flush.sql, Number(stored.seq));
        return undefined;
      }
      const request = flush.append({ items: [record.event] });
      flush.underHeadLock.push(async (sql) => {
        await upsert(sql, request.result?.[0]?.seq ?? 0);
      });
      return undefined;
    });
  }
}
