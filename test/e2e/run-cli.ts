/**
 * Runs the built CLI (`node dist/cli/main.js`) exactly as a user does, in a child process.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SEED_EXAMPLE } from '../../src/envelope/index.js';

/** The built entry point; `npm test` builds before running the tests. */
export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** How a CLI run ended. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runCli}. */
export interface RunOptions {
  /** Written to stdin, which is then closed (it is closed empty when absent). */
  readonly input?: string;
  /** Extra environment; AGENTBUS_DB, _DEBUG, _STORE, _NATS and _CONFIG are unset unless given here. */
  readonly env?: Record<string, string>;
  readonly cwd?: string;
}

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [
    'AGENTBUS_DB',
    'AGENTBUS_DEBUG',
    'AGENTBUS_STORE',
    'AGENTBUS_NATS',
    'AGENTBUS_NATS_STREAM',
    'AGENTBUS_NATS_PREFIX',
    'AGENTBUS_CONFIG',
  ])
    delete env[name];
  return { ...env, ...extra };
}

/** Starts `node dist/cli/main.js ...args` with piped stdio. */
export function spawnCli(args: readonly string[], options: RunOptions = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: childEnv(options.env), stdio: 'pipe' });
}

/** Runs the CLI to its end and collects its output. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A CLI process that keeps running (`tail`), with its output so far. */
export interface RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves when `predicate` holds for the output; rejects after `timeoutMs`. */
  waitFor(predicate: (out: { stdout: string; stderr: string }) => boolean, timeoutMs?: number): Promise<void>;
  /** Sends `signal` and resolves with how the process ended. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
  /** Resolves with how the process ended, without signalling it. */
  exited(): Promise<CliResult>;
}

/** Starts a long-running CLI command. */
export function startCli(args: readonly string[], options: RunOptions = {}): RunningCli {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end();
  const ended = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    async waitFor(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate({ stdout, stderr })) {
        if (child.exitCode !== null) throw new Error(`the CLI exited (${child.exitCode}): ${stderr}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting; stdout: ${stdout} stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    stop(signal = 'SIGTERM') {
      child.kill(signal);
      return ended;
    },
    exited: () => ended,
  };
}

const tempDirs: string[] = [];

/** A fresh database path in a new temporary folder (the file does not exist yet). */
export function freshDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-e2e-'));
  tempDirs.push(dir);
  return join(dir, 'agentbus.db');
}

/** Removes the folders of every {@link freshDb} of this test file (call it in `afterAll`). */
export function removeFreshDbs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The seed's "Standard Event Structure" example envelope. */
export const SEED_ENVELOPE = SEED_EXAMPLE;

/** The data rows of a seed-style markdown table (header and separator dropped), as trimmed cells. */
export function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) =>
      line
        .slice(1, -1)
        .split('|')
        .map((cell) => cell.trim()),
    );
}
