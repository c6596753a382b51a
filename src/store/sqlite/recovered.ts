/**
 * Recovered deliveries on SQLite (ADR 0023): read by correlation, and recorded for a
 * transport that delivers outside the store. The store-backed acknowledgement writes its own
 * in `SqliteDeliveryState.settle`, with the delete of the retry row.
 */
import type { ExternalRecovery, RecoveredDeliveries, RecoveredDelivery, RecoveredFilter } from '../event-store.js';
import { checkRecoveredFilter, checkRecovery, toRecovered } from '../recovered.js';
import type { EventLog } from './event-log.js';
import { toStoredEvent } from './event-log.js';
import type { GroupCommitter } from './group-commit.js';
import type { RecoveredRowWithEvent, Statements } from './statements.js';

export class SqliteRecovered implements RecoveredDeliveries {
  constructor(
    private readonly s: Statements,
    private readonly log: EventLog,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
  ) {}

  async list(filter: RecoveredFilter): Promise<RecoveredDelivery[]> {
    const { correlationId, consumer, limit } = checkRecoveredFilter(filter);
    const rows = this.s.recoveredOf.all({
      correlation: correlationId,
      consumer: consumer ?? null,
      limit: limit ?? -1,
    }) as RecoveredRowWithEvent[];
    return rows.map((row) => toRecovered(row, toStoredEvent(row)));
  }

  async record(record: ExternalRecovery): Promise<void> {
    const r = checkRecovery(record);
    await this.committer.enqueue((ctx) => {
      const [stored] = this.log.appendInTransaction([record.event], this.now(), ctx);
      const seq = (stored as { seq: number }).seq;
      this.s.insertRecovered.run(seq, r.consumer, r.retries, r.firstFailedAt, r.attempts, r.handledAttempt, r.handledAt);
    });
  }
}
