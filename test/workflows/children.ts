/**
 * Child processes of the workflow tests: fixtures under ./fixtures importing the built
 * library, killed with SIGKILL or stopped with SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST_INDEX = join(HERE, '..', '..', 'dist', 'index.js');

/** Fails early with a clear message when the library was not built. */
export function assertBuilt(): void {
  if (!existsSync(DIST_INDEX)) throw new Error(`${DIST_INDEX} is missing: run \`npx tsc -p tsconfig.build.json\``);
}

/** A running fixture. */
export interface Fixture {
  readonly proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when stdout has a line starting with `prefix`; rejects if the process exits first. */
  waitForLine(prefix: string): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<Fixture>();

/** Starts `node fixtures/<name> ...args`. */
export function startFixture(name: string, args: readonly string[]): Fixture {
  const proc = spawn(process.execPath, [join(HERE, 'fixtures', name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let gone = false;
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    wake();
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      gone = true;
      wake();
      resolve({ code, signal });
    });
  });
  const fixture: Fixture = {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitForLine(prefix) {
      for (;;) {
        const line = out.split('\n').find((l) => l.startsWith(prefix));
        if (line !== undefined && out.includes(`${line}\n`)) return line;
        if (gone) throw new Error(`${name} exited before printing "${prefix}"; stderr:\n${err}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    async kill(signal = 'SIGKILL') {
      if (!gone) proc.kill(signal);
      const result = await exited;
      live.delete(fixture);
      return result;
    },
  };
  live.add(fixture);
  return fixture;
}

/** Kills every fixture still running (afterEach). */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((f) => f.kill()));
}
