/**
 * The subprocess runner: any program in any language is an agent. The envelope goes to its
 * stdin as one line of JSON; each line it prints on stdout is a JSON event to publish
 * (`{"type": ..., "payload": ..., "topic"?: ...}`), published with the ack; exit 0
 * acknowledges; a non-zero exit is a retryable failure carrying the end of its stderr. At
 * the timeout it gets SIGTERM, then SIGKILL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Envelope } from '../../envelope/envelope.js';
import { AgentbusError, NonRetryableError } from '../../errors.js';
import type { AgentContext } from '../context.js';
import {
  type AgentRunner,
  type CommandRunnerSpec,
  DEFAULT_RUNNER_TIMEOUT_MS,
  RunnerError,
  publishOutput,
  validateRunnerSpec,
} from './runner.js';
import { positiveDuration } from '../../time.js';

/** Most bytes of stderr kept for the failure message (the last ones). */
const STDERR_KEEP = 8 * 1024;
/** Most bytes of stdout read; a process printing more is killed and fails. */
const STDOUT_MAX = 16 * 1024 * 1024;
/** agentbus's own variables that name files, not secrets: a child may use them. */
const PASSED_AGENTBUS_VARIABLES: ReadonlySet<string> = new Set(['AGENTBUS_DB', 'AGENTBUS_CONFIG']);

/**
 * The environment a command inherits: this process's, without agentbus's own `AGENTBUS_*`
 * variables (tokens by the documented `token_env` names, store and NATS URLs with their
 * passwords), except those that only name files. The spec's `env` adds what the command
 * needs on purpose, an `AGENTBUS_*` variable too.
 */
function inheritedEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.toUpperCase().startsWith('AGENTBUS_') && !PASSED_AGENTBUS_VARIABLES.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Creates a subprocess runner.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field.
 * @example commandRunner({ type: 'command', command: 'python3', args: ['agents/reviewer.py'] })
 */
export function commandRunner(spec: CommandRunnerSpec): AgentRunner {
  const s = validateRunnerSpec(spec) as CommandRunnerSpec;
  const timeoutMs = positiveDuration(s.timeout, 'runner.timeout', DEFAULT_RUNNER_TIMEOUT_MS);
  const graceMs = positiveDuration(s.killGrace, 'runner.killGrace', 5_000);
  return {
    type: 'command',
    description: [s.command, ...(s.args ?? [])].join(' '),
    run: (event, ctx) => runCommand(s, { timeoutMs, graceMs }, event, ctx),
  };
}

/** Signals the process group (a shell's children too), falling back to the process. */
function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

async function runCommand(
  spec: CommandRunnerSpec,
  limits: { timeoutMs: number; graceMs: number },
  event: Envelope,
  ctx: AgentContext,
): Promise<void> {
  const label = [spec.command, ...(spec.args ?? [])].join(' ');
  const child = spawn(spec.command, spec.args ?? [], {
    cwd: spec.cwd,
    env: {
      ...inheritedEnvironment(),
      ...spec.env,
      AGENTBUS_AGENT: ctx.agent,
      AGENTBUS_EVENT_ID: event.event.id,
      AGENTBUS_EVENT_TYPE: event.event.type,
      AGENTBUS_ATTEMPT: String(ctx.attempt),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group, so a timeout kills what a shell script started too.
    detached: true,
  });
  let stopped: Error | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (reason: Error) => {
    if (stopped) return;
    stopped = reason;
    kill(child, 'SIGTERM');
    killTimer = setTimeout(() => kill(child, 'SIGKILL'), limits.graceMs);
  };
  const timer = setTimeout(
    () =>
      stop(
        new AgentbusError('TIMEOUT', `command ${label} timed out after ${limits.timeoutMs} ms`, { timeoutMs: limits.timeoutMs }),
      ),
    limits.timeoutMs,
  );
  const onAbort = () =>
    stop(ctx.signal.reason instanceof Error ? ctx.signal.reason : new AgentbusError('TIMEOUT', `command ${label} aborted`));
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });

  const lines: Array<{ line: number; value: unknown }> = [];
  let badLine: string | undefined;
  let stdoutBytes = 0;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  child.stdout.on('data', (chunk: Buffer) => {
    stdoutBytes += chunk.byteLength;
    if (stdoutBytes > STDOUT_MAX)
      stop(new NonRetryableError(`command ${label} printed more than ${STDOUT_MAX} bytes`, { code: 'invalid_output' }));
  });
  let lineNo = 0;
  const reader = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  reader.on('line', (text) => {
    lineNo++;
    if (text.trim() === '' || badLine) return;
    try {
      lines.push({ line: lineNo, value: JSON.parse(text) });
    } catch {
      badLine = `stdout line ${lineNo} of ${label} is not JSON: ${text.slice(0, 200)}`;
    }
  });
  // A program that exits without reading stdin closes the pipe: that is not a failure.
  child.stdin.on('error', () => {});
  child.stdin.end(`${JSON.stringify(event)}\n`);

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  clearTimeout(killTimer);
  ctx.signal.removeEventListener('abort', onAbort);
  reader.close();

  if (exit.error) {
    const missing = (exit.error as NodeJS.ErrnoException).code === 'ENOENT';
    const message = `command ${label} could not start: ${exit.error.message}`;
    if (missing) throw new NonRetryableError(message, { code: 'command_not_found' });
    throw new RunnerError('temporary_failure', message, { cause: exit.error });
  }
  if (stopped) throw stopped;
  const tail = stderr.trim();
  if (exit.code !== 0) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    throw new RunnerError('temporary_failure', `command ${label} ${how}${tail ? `: ${tail}` : ''}`);
  }
  if (badLine) throw new NonRetryableError(badLine, { code: 'invalid_output' });
  await publishOutput(
    ctx,
    lines.map((l) => l.value),
    `stdout of ${label}: events`,
  );
}
