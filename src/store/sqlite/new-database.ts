/**
 * Undoing the creation of a database file: an open that fails after the store created its
 * file (an unreachable NATS server, say) leaves no empty database behind.
 */
import { existsSync, rmSync, rmdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Files SQLite keeps beside a database. */
const COMPANIONS = ['', '-wal', '-shm', '-journal'];

/**
 * Notes what opening `path` would create (the file and any missing folders) and returns a
 * function that removes them again. Nothing is removed when the file existed already.
 */
export function noteNewDatabase(path: string): () => void {
  if (path === ':memory:') return () => {};
  const file = resolve(path);
  if (existsSync(file)) return () => {};
  const folders: string[] = [];
  for (let folder = dirname(file); !existsSync(folder); folder = dirname(folder)) folders.push(folder);
  return () => {
    for (const suffix of COMPANIONS) rmSync(`${file}${suffix}`, { force: true });
    for (const folder of folders) {
      try {
        rmdirSync(folder); // only when empty: another process may have put files there since
      } catch {
        return;
      }
    }
  };
}
