/**
 * Noticing commits of other processes without polling: the file system tells us when the
 * WAL file changes, and `PRAGMA data_version` tells whether another connection committed.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type Database from 'better-sqlite3';

/** Called with the log's head after events were appended. */
export type ChangeListener = (head: number) => void;

/**
 * Calls `onChange` (at most once per tick) after another connection commits to the
 * database at `path`. Returns a function that stops watching.
 */
export function watchCommits(db: Database.Database, path: string, onChange: () => void): () => void {
  const wal = `${basename(path)}-wal`;
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seen = dataVersion.get() as number;
  let queued = false;
  let watcher: FSWatcher | undefined;
  const check = () => {
    queued = false;
    if (!db.open) return;
    const version = dataVersion.get() as number;
    if (version === seen) return;
    seen = version;
    onChange();
  };
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      if (file !== null && file !== wal) return;
      if (queued) return;
      queued = true;
      setImmediate(check);
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    // No file-system notification here: other processes' events arrive on the next claim.
  }
  return () => watcher?.close();
}
