/**
 * Noticing commits of other processes: the file system tells us when the WAL file changes,
 * and `PRAGMA data_version` tells whether another connection committed. A slow check of
 * `data_version` backs the notification up (lost notifications, inotify limits, file systems
 * without notification); with notification off or failing it is the only signal and runs
 * more often. It is one cheap read per interval for the whole store, never a write.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type Database from 'better-sqlite3';

/** Called with the log's head after events were appended. */
export type ChangeListener = (head: number) => void;

/** Safety check interval while file-system notification works. */
export const SAFETY_CHECK_MS = 5_000;
/** Second look after a notification that found no new commit. */
export const RECHECK_MS = 50;
/** Check interval when there is no file-system notification. */
export const FALLBACK_CHECK_MS = 500;

/**
 * Calls `onChange` (at most once per tick) after another connection commits to the
 * database at `path`. Returns a function that stops watching.
 */
export function watchCommits(
  db: Database.Database,
  path: string,
  onChange: () => void,
  options: { notify: boolean } = { notify: true },
): () => void {
  const wal = `${basename(path)}-wal`;
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seen = dataVersion.get() as number;
  let queued = false;
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let recheck: NodeJS.Timeout | undefined;
  const check = () => {
    queued = false;
    if (!db.open) return false;
    const version = dataVersion.get() as number;
    if (version === seen) return false;
    seen = version;
    onChange();
    return true;
  };
  // The WAL file may change (and notify) a moment before the commit is visible to this
  // connection: when a notification finds nothing new, look once more shortly after.
  const checkNotified = () => {
    if (check() || recheck) return;
    recheck = setTimeout(() => {
      recheck = undefined;
      check();
    }, RECHECK_MS);
    recheck.unref();
  };
  const schedule = (ms: number) => {
    if (timer) clearInterval(timer);
    timer = setInterval(check, ms);
    timer.unref();
  };
  if (options.notify) {
    try {
      watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        if ((file !== null && file !== wal) || queued) return;
        queued = true;
        setImmediate(checkNotified);
      });
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
        schedule(FALLBACK_CHECK_MS);
      });
    } catch {
      watcher = undefined;
    }
  }
  schedule(watcher ? SAFETY_CHECK_MS : FALLBACK_CHECK_MS);
  return () => {
    watcher?.close();
    if (timer) clearInterval(timer);
    if (recheck) clearTimeout(recheck);
  };
}
