/** Temp dirs, the built library, and a description of the machine. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
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

/** The commit of the built library, with `+dirty` when src/ has uncommitted changes. */
function revision() {
  const cwd = new URL('../..', import.meta.url);
  try {
    const git = (...args) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'src') ? '+dirty' : ''}`;
  } catch {
    return 'unknown';
  }
}

export function machineInfo() {
  const db = new Database(':memory:');
  const sqlite = db.prepare('select sqlite_version() as v').get().v;
  db.close();
  const list = cpus();
  return {
    revision: revision(),
    node: process.version,
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform} ${process.arch}`,
    betterSqlite3: require('better-sqlite3/package.json').version,
    sqlite,
    tmpdir: tmpdir(),
    loadavgStart: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    date: new Date().toISOString(),
  };
}

/** Lets pending I/O and timers run. */
export const tick = () => new Promise((resolve) => setImmediate(resolve));
