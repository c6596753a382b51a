/**
 * Giving the pages of pruned events back to the file system (ADR 0025). A prune frees pages
 * inside the file, which new events reuse, but the file keeps its size.
 *
 * - Files with `auto_vacuum = INCREMENTAL` (every file this version creates, and every file
 *   compacted once): `PRAGMA incremental_vacuum(N)` in small steps, each a solo transaction
 *   queued behind the writes already waiting, like a prune batch. Safe while other processes
 *   use the file. The file shrinks at the checkpoint that follows.
 * - Older files (`auto_vacuum = NONE`): one VACUUM, which rewrites the whole file and turns
 *   incremental vacuum on for next time. It holds the file exclusively for its duration, so it
 *   is refused while another process (or another connection of this one) has the file open,
 *   and when the disk lacks room for the copy it writes (the temporary copy and the WAL).
 */
import { statSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { AgentbusError } from '../../errors.js';
import { type CompactOptions, type CompactResult, checkCompactOptions } from '../retention.js';
import type { GroupCommitter } from './group-commit.js';

/** What compaction needs of the store beyond its connection. */
export interface CompactionParts {
  readonly db: Database.Database;
  readonly committer: GroupCommitter;
  /** The database file, or undefined for `:memory:`. */
  readonly path: string | undefined;
  /** Ends the background checkpointer's connection (it would hold the file open). */
  readonly suspendCheckpoints: () => Promise<void>;
}

const AUTO_VACUUM_INCREMENTAL = 2;
/** Longest wait for other processes' readers before the final checkpoint gives up (the file then shrinks later). */
const CHECKPOINT_WAIT_MS = 1_000;

/** Compacts the file of `parts` (see the module comment). */
export async function compactSqlite(parts: CompactionParts, options?: CompactOptions): Promise<CompactResult> {
  const o = checkCompactOptions(options);
  const { db, committer } = parts;
  const bytesBefore = fileBytes(parts.path);
  const pageSize = pragmaNumber(db, 'page_size');
  const reclaimableBytes = pragmaNumber(db, 'freelist_count') * pageSize;
  const none = (note: string): CompactResult => ({
    method: 'none',
    bytesBefore,
    bytesAfter: bytesBefore,
    steps: 0,
    longestStepMs: 0,
    note,
  });
  if (parts.path === undefined) return none('an in-memory database has no file to shrink');
  if (pragmaNumber(db, 'auto_vacuum') !== AUTO_VACUUM_INCREMENTAL) {
    if (reclaimableBytes === 0) return none('no free pages in the file');
    return vacuum(parts, bytesBefore, reclaimableBytes);
  }
  let steps = 0;
  let longestStepMs = 0;
  let freed = 0;
  while (!o.signal?.aborted) {
    const step = await committer.solo((ctx) => {
      const started = performance.now();
      const before = pragmaNumber(db, 'freelist_count');
      if (before === 0) return { freedPages: 0, elapsedMs: 0 };
      db.pragma(`incremental_vacuum(${o.stepPages})`);
      const result = { freedPages: before - pragmaNumber(db, 'freelist_count'), elapsedMs: 0 };
      ctx.afterCommit(() => {
        result.elapsedMs = performance.now() - started;
      });
      return result;
    });
    if (step.freedPages === 0) break;
    steps++;
    longestStepMs = Math.max(longestStepMs, step.elapsedMs);
    freed += step.freedPages * pageSize;
    o.onProgress?.({ freedBytes: freed, reclaimableBytes });
    // Let publishers and consumers run between two steps.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (steps === 0) return none('no free pages in the file');
  // The background checkpointer's own checkpoint in progress would make this one busy.
  await parts.suspendCheckpoints();
  const checkpointed = await committer.outside(() => checkpoint(db));
  return {
    method: 'incremental',
    bytesBefore,
    bytesAfter: fileBytes(parts.path),
    steps,
    longestStepMs,
    ...(checkpointed
      ? {}
      : { note: 'another process is reading the file: it shrinks at the next checkpoint, once that reader is done' }),
  };
}

/**
 * Copies the WAL back and truncates both files, waiting at most a second for other
 * processes' readers (the event loop waits too); false when one kept part of the WAL in use.
 */
function checkpoint(db: Database.Database): boolean {
  const busy = pragmaNumber(db, 'busy_timeout');
  db.pragma(`busy_timeout = ${Math.min(busy, CHECKPOINT_WAIT_MS)}`);
  try {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    return result !== undefined && result.busy === 0 && result.log === result.checkpointed;
  } catch {
    return false;
  } finally {
    db.pragma(`busy_timeout = ${busy}`);
  }
}

/** The one-time VACUUM of a file created without incremental vacuum. */
async function vacuum(parts: CompactionParts, bytesBefore: number, reclaimableBytes: number): Promise<CompactResult> {
  const { db, path } = parts;
  const file = path as string;
  // The copy VACUUM builds (a temporary file) and then writes through the WAL: the data kept.
  const keptBytes = Math.max(0, pragmaNumber(db, 'page_count') * pragmaNumber(db, 'page_size') - reclaimableBytes);
  refuseWithoutRoom(file, keptBytes);
  await parts.suspendCheckpoints();
  return parts.committer.outside(() => {
    const busy = pragmaNumber(db, 'busy_timeout');
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    try {
      try {
        // In WAL mode every connection to the file holds a shared lock: this fails if any other is open.
        db.exec('BEGIN EXCLUSIVE');
        db.exec('COMMIT');
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
        throw new AgentbusError(
          'BACKEND_UNAVAILABLE',
          `cannot compact ${file}: another process has it open. This file predates incremental vacuum, so compacting it rewrites the whole file once (VACUUM), which needs it alone: stop the other processes (agentbus serve, run, workers) and run agentbus compact again. Later compactions run alongside them.`,
          { path: file, reason: 'busy' },
          { cause: error },
        );
      }
      const started = performance.now();
      db.pragma('temp_store = FILE'); // the copy goes to a temporary file, not to memory
      db.pragma('auto_vacuum = INCREMENTAL');
      db.exec('VACUUM');
      db.pragma('wal_checkpoint(TRUNCATE)');
      const elapsed = performance.now() - started;
      return {
        method: 'vacuum' as const,
        bytesBefore,
        bytesAfter: fileBytes(file),
        steps: 1,
        longestStepMs: elapsed,
        note: 'rewrote the file once (VACUUM); incremental vacuum is on from now on, so later compactions run in small steps',
      };
    } finally {
      db.pragma('temp_store = MEMORY');
      db.pragma('locking_mode = NORMAL');
      // The exclusive lock is released at the next access in normal mode.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      db.pragma(`busy_timeout = ${busy}`);
    }
  });
}

/** Refuses when the folder of the file or the temporary folder lacks room for `bytes`. */
function refuseWithoutRoom(file: string, bytes: number): void {
  const folders = [dirname(file), process.env.SQLITE_TMPDIR ?? process.env.TMPDIR ?? tmpdir()];
  const need = new Map<number, { folder: string; bytes: number }>();
  for (const folder of folders) {
    let device: number;
    try {
      device = statSync(folder).dev;
    } catch {
      continue;
    }
    const entry = need.get(device) ?? { folder, bytes: 0 };
    entry.bytes += bytes;
    need.set(device, entry);
  }
  for (const { folder, bytes: wanted } of need.values()) {
    const stats = statfsSync(folder);
    const free = Number(stats.bavail) * Number(stats.bsize);
    if (free < wanted) {
      throw new AgentbusError(
        'BACKEND_UNAVAILABLE',
        `cannot compact ${file}: VACUUM needs about ${megabytes(wanted)} free in ${folder}, which has ${megabytes(free)}`,
        { path: file, reason: 'no room', needBytes: wanted, freeBytes: free },
      );
    }
  }
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function pragmaNumber(db: Database.Database, name: string): number {
  return Number(db.pragma(name, { simple: true }));
}

/** The database file plus its WAL, in bytes (0 for what does not exist). */
export function fileBytes(path: string | undefined): number {
  if (path === undefined) return 0;
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += statSync(`${path}${suffix}`).size;
    } catch {
      // no WAL file: nothing to add
    }
  }
  return total;
}
