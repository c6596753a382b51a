/**
 * Helpers of the crash suite: child processes running fixtures against the built library,
 * killed with SIGKILL, and cleanup so that no child outlives its test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = join(HERE, 'fixtures');
export const DIST_INDEX = join(HERE, '..', '..', 'dist', 'index.js');

/** Fails early with a clear message when the library was not built. */
export function assertBuilt(): void {
  if (!existsSync(DIST_INDEX)) {
    throw new Error(`${DIST_INDEX} is missing: run \`npx tsc -p tsconfig.build.json\` (npm test builds first)`);
  }
}

/** A running fixture process. */
export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code or signal once the process is gone (and reaped). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when stdout contains a line equal to `line`; rejects if the process exits first. */
  waitForLine(line: string): Promise<void>;
  /** SIGKILL, then waits until the process is reaped. */
  kill(): Promise<void>;
}

const live = new Set<Child>();

/** Starts `node fixtures/<name> ...args`. */
export function startChild(name: string, args: readonly string[]): Child {
  const proc = spawn(process.execPath, [join(FIXTURES, name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      gone = true;
      for (const w of waiters.splice(0)) w();
      resolve({ code, signal });
    });
  });
  const child: Child = {
    proc,
    pid: proc.pid,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForLine(line) {
      for (;;) {
        if (out.split('\n').includes(line)) return;
        if (gone) throw new Error(`${name} (pid ${proc.pid}) exited before printing "${line}"; stderr:\n${err}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    async kill() {
      if (!gone) proc.kill('SIGKILL');
      await exited;
      live.delete(child);
    },
  };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

/** Kills every child still running (afterEach). */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.kill()));
}

/** A fresh temp dir, removed by `cleanup`. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `agentbus-crash-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Complete lines of a file written with O_APPEND; a torn last line (no newline) is dropped. */
export function readLines(path: string): string[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  lines.pop(); // '' after the last newline, or a torn line
  return lines.filter((l) => l !== '');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A uniformly random integer in [min, max]. */
export function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}
