/** Temp dirs, the built library, and a description of the machine. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

export const require = createRequire(import.meta.url);
export const Database = require('better-sqlite3');

/** Runs `fn(dir)` in a fresh temp dir and removes the dir afterwards. */
export async function withTempDir(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function machineInfo() {
  const db = new Database(':memory:');
  const sqlite = db.prepare('select sqlite_version() as v').get().v;
  db.close();
  const list = cpus();
  return {
    node: process.version,
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform} ${process.arch}`,
    betterSqlite3: require('better-sqlite3/package.json').version,
    sqlite,
    tmpdir: tmpdir(),
    date: new Date().toISOString(),
  };
}

/** Lets pending I/O and timers run. */
export const tick = () => new Promise((resolve) => setImmediate(resolve));
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Closes a bus while a timer keeps the event loop alive: the store's checkpoint worker is
 * unref'd, so awaiting its exit alone would let the process end mid-close (exit code 13).
 */
export async function closeBus(bus) {
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    await bus.close();
  } finally {
    clearInterval(keepAlive);
  }
}
