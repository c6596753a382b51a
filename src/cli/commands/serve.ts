/**
 * `agentbus serve`: the HTTP API and the web dashboard over one database.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { BusOptions } from '../../bus/index.js';
import { DEFAULT_HOST, DEFAULT_PORT, loadConfig, parseConfig } from '../../config/index.js';
import { type Integrations, type RunningServer, createWebhookTargetPolicy, startServer } from '../../server/index.js';
import { defaultIntegrations } from '../../server/integrations-default.js';
import { globalOptions, openBus } from '../context.js';
import { note } from '../output.js';

interface ServeFlags {
  host?: string;
  port?: number;
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('Must be a port from 0 to 65535.');
  return Number(value);
}

/** What the store option shows in the start-up line: the SQLite path, or the URL without its credentials. */
function describeStore(options: BusOptions, sqlitePath: string | undefined): string {
  if (sqlitePath !== undefined) return sqlitePath;
  const postgres = (options.store as { postgres?: unknown } | undefined)?.postgres;
  if (typeof postgres !== 'string') return 'the configured store';
  try {
    const url = new URL(postgres);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return 'PostgreSQL';
  }
}

async function serveAction(flags: ServeFlags, command: Command): Promise<void> {
  const { target } = globalOptions(command);
  // The server section and the store come from the same file (global --config / AGENTBUS_CONFIG).
  const config = target.config !== undefined ? await loadConfig(target.config) : await parseConfig({});
  const host = flags.host ?? config.server.host ?? DEFAULT_HOST;
  const port = flags.port ?? config.server.port ?? DEFAULT_PORT;
  const {
    bus,
    plan: { options, sqlitePath },
  } = await openBus(target);
  let integrations: Integrations | undefined;
  let server: RunningServer;
  try {
    // One policy for creating webhooks and for every call they make.
    const webhookTargets = createWebhookTargetPolicy(config.server.webhookDeny);
    integrations = await defaultIntegrations(bus, (line) => note(line), { webhookTargets });
    server = await startServer({
      bus,
      host,
      port,
      tokens: config.server.tokens,
      bodyLimit: config.server.bodyLimit,
      ...(config.server.signInLimit ? { signInLimit: config.server.signInLimit } : {}),
      ...(config.server.streams?.max ? { maxStreams: config.server.streams.max } : {}),
      ...(config.server.streams?.perToken ? { maxStreamsPerToken: config.server.streams.perToken } : {}),
      ...(config.server.streams?.perAddress ? { maxStreamsPerAddress: config.server.streams.perAddress } : {}),
      ...(config.server.clientAddressHeader ? { clientAddressHeader: config.server.clientAddressHeader } : {}),
      webhookTargets,
      integrations,
      log: (line) => note(line),
    });
  } catch (error) {
    await integrations?.webhooks?.close();
    await integrations?.close?.();
    await bus.close();
    throw error;
  }
  // A long-running process of the bus: it fires the delayed events and workflow timeouts
  // that short-lived ones (`agentbus publish --delay`) scheduled.
  bus.timers.start();
  const tokens = config.server.tokens.length;
  note(
    `agentbus serve: listening on ${server.url} (dashboard at /, API at /v1, OpenAPI at /openapi.json; ` +
      `${tokens === 0 ? 'no tokens: loopback only' : `${tokens} token${tokens === 1 ? '' : 's'}`}; store ${describeStore(options, sqlitePath)})`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  note('agentbus serve: stopping');
  await server.close();
  await bus.close();
}

/** Adds `serve` to `program`. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .summary('run the HTTP API and the web dashboard')
    .description(
      'Serve the HTTP API (/v1: publish, history, live stream, subscriptions, dead letters, status; /healthz, ' +
        '/metrics, /openapi.json) and the web dashboard (/). Binds 127.0.0.1 by default; a non-loopback --host ' +
        'needs tokens in the config file (--config: server { host, port, bodyLimit, tokens, signInLimit, streams }). Runs until Ctrl-C (SIGINT) or SIGTERM.',
    )
    .option('--host <address>', `address to bind (default: the config's, else ${DEFAULT_HOST})`)
    .option('--port <n>', `port (default: the config's, else ${DEFAULT_PORT}; 0 picks a free one)`, parsePort)
    .action(serveAction);
}
