/**
 * Column arrays for the batched writes of the delivery state (one `unnest` parameter per
 * column), and the write-back of windows loaded for a flush.
 */
import type { Sql } from './connection.js';
import type { DeliveryStatements, WindowRow } from './delivery-statements.js';

/** A window loaded `FOR UPDATE`; acks remove positions, written back once. */
export interface LoadedWindow {
  readonly row: WindowRow;
  readonly pending: Set<number>;
  changed: boolean;
}

export function windowKey(consumer: string, key: number): string {
  return `${consumer}\u0000${key}`;
}

/** Loads windows by (consumer, first position), locked for this transaction. */
export async function loadWindows(
  sql: Sql,
  s: DeliveryStatements,
  keys: ReadonlyMap<string, { consumer: string; key: number }>,
): Promise<Map<string, LoadedWindow>> {
  const out = new Map<string, LoadedWindow>();
  if (keys.size === 0) return out;
  const consumers: string[] = [];
  const firsts: number[] = [];
  for (const { consumer, key } of keys.values()) {
    consumers.push(consumer);
    firsts.push(key);
  }
  for (const row of await sql.rows<WindowRow>(s.lockWindows, [consumers, firsts])) {
    const pending = new Set(row.pending.map(Number));
    out.set(windowKey(row.consumer, Number(row.first_seq)), { row, pending, changed: false });
  }
  return out;
}

/** Writes back changed windows: emptied ones are deleted. */
export async function writeBackWindows(sql: Sql, s: DeliveryStatements, windows: Iterable<LoadedWindow>): Promise<void> {
  const update = { consumer: [] as string[], first: [] as number[], pending: [] as string[] };
  const remove = { consumer: [] as string[], first: [] as number[] };
  for (const w of windows) {
    if (!w.changed) continue;
    if (w.pending.size === 0) {
      remove.consumer.push(w.row.consumer);
      remove.first.push(Number(w.row.first_seq));
    } else {
      update.consumer.push(w.row.consumer);
      update.first.push(Number(w.row.first_seq));
      update.pending.push(`{${[...w.pending].join(',')}}`);
    }
  }
  if (remove.consumer.length > 0) await sql.rows(s.deleteWindows, [remove.consumer, remove.first]);
  if (update.consumer.length > 0) await sql.rows(s.updateWindows, [update.consumer, update.first, update.pending]);
}

/** Retry rows to insert or overwrite (scheduled, returned or replayed deliveries). */
export class RetryRows {
  readonly #columns: unknown[][] = Array.from({ length: 11 }, () => []);

  get size(): number {
    return (this.#columns[0] as unknown[]).length;
  }

  add(row: {
    consumer: string;
    seq: number;
    attempt: number;
    dueAt: number;
    reason?: string | null;
    error?: string | null;
    stack?: string | null;
    firstFailedAt?: number | null;
    lastFailedAt?: number | null;
    failures: number;
    /** The failed attempts' JSON; absent keeps what the row holds. */
    attempts?: string | null;
  }): void {
    const values = [
      row.consumer,
      row.seq,
      row.attempt,
      row.dueAt,
      row.reason ?? null,
      row.error ?? null,
      row.stack ?? null,
      row.firstFailedAt ?? null,
      row.lastFailedAt ?? null,
      row.failures,
      row.attempts ?? null,
    ];
    for (const [i, value] of values.entries()) (this.#columns[i] as unknown[]).push(value);
  }

  async write(sql: Sql, s: DeliveryStatements): Promise<void> {
    if (this.size > 0) await sql.rows(s.upsertRetries, this.#columns);
  }
}

/** Dead letters to insert. */
export class DeadRows {
  readonly #columns: unknown[][] = Array.from({ length: 9 }, () => []);
  readonly #counts = new Map<string, number>();

  add(row: {
    consumer: string;
    seq: number;
    reason: string;
    error: string;
    stack: string | null;
    retries: number;
    firstFailedAt: number;
    lastFailedAt: number;
    attempts: string;
  }): void {
    const values = [
      row.consumer,
      row.seq,
      row.reason,
      row.error,
      row.stack,
      row.retries,
      row.firstFailedAt,
      row.lastFailedAt,
      row.attempts,
    ];
    for (const [i, value] of values.entries()) (this.#columns[i] as unknown[]).push(value);
    this.#counts.set(row.consumer, (this.#counts.get(row.consumer) ?? 0) + 1);
  }

  async write(sql: Sql, s: DeliveryStatements): Promise<void> {
    if (this.#counts.size === 0) return;
    await sql.rows(s.insertDead, this.#columns);
    const names = [...this.#counts.keys()].sort();
    await sql.rows(s.countDead, [names, names.map((n) => this.#counts.get(n) ?? 0)]);
  }
}

/** (consumer, seq) pairs to delete. */
export class KeyRows {
  readonly consumers: string[] = [];
  readonly seqs: number[] = [];

  add(consumer: string, seq: number): void {
    this.consumers.push(consumer);
    this.seqs.push(seq);
  }
}
