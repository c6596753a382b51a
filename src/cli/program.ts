/**
 * The `agentbus` command line: global options, the commands, and how it fails.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { DEFAULT_DB_PATH } from '../store/sqlite/index.js';
import { registerAgents } from './commands/agents.js';
import { registerAggregators } from './commands/aggregators.js';
import { registerCompact } from './commands/compact.js';
import { registerApprovals } from './commands/approve.js';
import { registerDemo } from './commands/demo.js';
import { registerDlq } from './commands/dlq.js';
import { registerEvents } from './commands/events.js';
import { registerPrune } from './commands/prune.js';
import { registerPublish } from './commands/publish.js';
import { registerRun } from './commands/run.js';
import { registerSagas } from './commands/sagas.js';
import { registerProjections } from './commands/projections.js';
import { registerSend } from './commands/send.js';
import { registerServe } from './commands/serve.js';
import { registerStatus } from './commands/status.js';
import { registerSubscriptions } from './commands/subscriptions.js';
import { registerTail } from './commands/tail.js';
import { registerTimeline } from './commands/timeline.js';
import { registerTimers } from './commands/timers.js';
import { registerTopics } from './commands/topics.js';
import { formatCommanderError, reportError } from './errors.js';

/** The package version, read from package.json next to `dist/` and `src/`. */
function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const { version } = JSON.parse(text) as { version?: unknown };
    return typeof version === 'string' ? version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Builds the program. Settings made here (exit override, error output) are inherited by
 * every command added afterwards.
 */
export function createProgram(): Command {
  const program = new Command('agentbus')
    .description('Event-driven coordination runtime for multi-agent systems')
    .version(packageVersion())
    .addOption(new Option('--db <path>', 'SQLite database file').env('AGENTBUS_DB').default(DEFAULT_DB_PATH))
    .addOption(new Option('--store <url>', 'postgres://... URL, or a SQLite file (overrides --db)').env('AGENTBUS_STORE'))
    .addOption(new Option('--nats <servers>', 'NATS JetStream server URL(s), comma-separated, for delivery').env('AGENTBUS_NATS'))
    .addOption(
      new Option('--nats-stream <name>', 'JetStream stream of the events (default AGENTBUS)').env('AGENTBUS_NATS_STREAM'),
    )
    .addOption(
      new Option('--nats-prefix <prefix>', 'subject prefix: topic t is subject <prefix>.t (default agentbus)').env(
        'AGENTBUS_NATS_PREFIX',
      ),
    )
    .addOption(new Option('--config <file>', 'config file (YAML or JSON) with store, nats and server').env('AGENTBUS_CONFIG'))
    .option('--json', 'machine-readable JSON output')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(formatCommanderError(text)) })
    .configureHelp({ showGlobalOptions: true });
  registerPublish(program);
  registerEvents(program);
  registerTail(program);
  registerSubscriptions(program);
  registerDlq(program);
  registerPrune(program);
  registerCompact(program);
  registerSend(program);
  registerProjections(program);
  registerAgents(program);
  registerAggregators(program);
  registerSagas(program);
  registerRun(program);
  registerApprovals(program);
  registerTimers(program);
  registerStatus(program);
  registerTopics(program);
  registerTimeline(program);
  registerServe(program);
  registerDemo(program);
  return program;
}

/**
 * Runs the CLI on `argv` (as `process.argv`) and resolves with the exit code: 0, 1 for a
 * failure, 2 for refused input. Errors are printed as one line on stderr.
 * @example process.exitCode = await runCli(process.argv)
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    await createProgram().parseAsync([...argv]);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
