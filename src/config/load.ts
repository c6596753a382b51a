/**
 * Loading a config file: YAML or JSON, validated, tokens resolved from the file, an
 * environment variable or a token file. Errors name the file and the field's path; a token's
 * value never appears in them.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type RetentionOptions, resolveRetention } from '../bus/retention.js';
import { AgentbusError, invalidField, isAgentbusError } from '../errors.js';
import { describeIssue } from '../schema-issues.js';
import { CONFIG_SCHEMA, type ConfigFile } from './schema.js';

/** Topic patterns a token may (`allow`) and may not (`deny`) use. Deny wins; no rule means deny. */
export interface TopicRules {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** One bearer token with its permissions, its secret resolved. */
export interface TokenConfig {
  /** Shown in logs instead of the token. */
  readonly name: string;
  /** The secret; compared in constant time, never logged. */
  readonly token: string;
  /** Topics it may publish to. */
  readonly publish: TopicRules;
  /** Topics it may read (history, live stream, timelines). */
  readonly subscribe: TopicRules;
  /** May work the dead-letter queue and manage subscriptions; implies `metrics`. @default false */
  readonly admin: boolean;
  /**
   * May read `/metrics`, whose series name every topic and subscription (a Prometheus
   * scraper's token). @default false
   */
  readonly metrics?: boolean;
}

/** The `server` section, resolved. */
export interface ServerConfig {
  /** @default "127.0.0.1" */
  readonly host: string;
  /** @default 7070 */
  readonly port: number;
  /** Largest request body in bytes. @default 1048576 (1 MiB) */
  readonly bodyLimit: number;
  /** Once any is configured, every route requires one. @default [] */
  readonly tokens: readonly TokenConfig[];
  /**
   * Networks (CIDR) a webhook subscription created over HTTP may not target.
   * @default the server's: link-local (cloud metadata) and kin
   */
  readonly webhookDeny?: readonly string[];
  /**
   * Failed sign-ins per client address before a lockout (`window` and `lockout` in ms here).
   * @default the server's: 10 within 1 minute lock out for 5 minutes
   */
  readonly signInLimit?: {
    readonly enabled?: boolean;
    readonly maxFailures?: number;
    readonly windowMs?: number;
    readonly lockoutMs?: number;
    readonly maxClients?: number;
  };
  /** Caps on concurrent live streams. @default the server's: 256 in all, 64 per token, 32 per address */
  readonly streams?: { readonly max?: number; readonly perToken?: number; readonly perAddress?: number };
  /** Behind a reverse proxy: the header whose last entry is the client's address. @default the socket's */
  readonly clientAddressHeader?: string;
}

/** The `postgres` section: options of the PostgreSQL store. */
export interface PostgresConfig {
  /** ms a statement may run or wait for a lock; 0: no limit. */
  readonly statementTimeoutMs?: number;
  /** ms establishing a connection may take. */
  readonly connectTimeoutMs?: number;
}

/** A config file, validated and resolved. */
export interface AgentbusConfig {
  /** SQLite path or `postgres://` URL. */
  readonly store?: string;
  /** NATS URL(s). */
  readonly nats?: string | readonly string[];
  /** Event-log retention (checked): the bus's `retention` option. */
  readonly retention?: RetentionOptions;
  /** Timeouts of the PostgreSQL store, used when the store is a postgres:// URL. */
  readonly postgres?: PostgresConfig;
  readonly server: ServerConfig;
}

/** Where {@link parseConfig} resolves `token_env` and `token_file`. */
export interface ParseConfigOptions {
  /** Named in errors. @default "config" */
  readonly file?: string;
  /** Environment for `token_env`. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory `token_file` paths are relative to. @default the working directory */
  readonly baseDir?: string;
}

/** Shortest token accepted: guessable secrets are refused. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Reads, validates and resolves a config file (`.json`, or YAML for anything else).
 * @throws AgentbusError `OPTIONS_INVALID` naming the file and the field's path, e.g.
 *   `server.tokens[0].publish.allow[1]`; `NOT_FOUND` when the file does not exist.
 * @example
 * const config = await loadConfig('agentbus.yaml')
 */
export async function loadConfig(
  path: string,
  options: Omit<ParseConfigOptions, 'file' | 'baseDir'> = {},
): Promise<AgentbusConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw invalidField('OPTIONS_INVALID', '--config', `no config file at ${path}`, { path });
    throw invalidField('OPTIONS_INVALID', '--config', `cannot read ${path}: ${code ?? String(error)}`);
  }
  let value: unknown;
  try {
    value = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw invalidField('OPTIONS_INVALID', path, `not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${oneLine(error)}`);
  }
  return parseConfig(value ?? {}, { ...options, file: path, baseDir: dirname(resolve(path)) });
}

/**
 * Validates a config value (already parsed from YAML or JSON) and resolves its tokens.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field's path.
 */
export async function parseConfig(value: unknown, options: ParseConfigOptions = {}): Promise<AgentbusConfig> {
  const file = options.file ?? 'config';
  const result = CONFIG_SCHEMA.safeParse(value);
  if (!result.success) throw fromIssue(file, result.error.issues[0]);
  const config: ConfigFile = result.data;
  const retention = checkRetention(config.retention, file);
  const tokens: TokenConfig[] = [];
  const names = new Set<string>();
  const secrets = new Set<string>();
  for (const [index, entry] of config.server.tokens.entries()) {
    const field = `server.tokens[${index}]`;
    if (names.has(entry.name)) throw refused(file, `${field}.name`, `"${entry.name}" is given twice`);
    names.add(entry.name);
    const token = await resolveToken(entry, field, file, options);
    if (token.length < MIN_TOKEN_LENGTH) {
      throw refused(file, field, `the token of "${entry.name}" is shorter than ${MIN_TOKEN_LENGTH} characters`);
    }
    if (/\s/.test(token)) throw refused(file, field, `the token of "${entry.name}" contains white space`);
    if (secrets.has(token)) throw refused(file, field, `the token of "${entry.name}" is the same as another token's`);
    secrets.add(token);
    const { publish, subscribe, admin, metrics } = entry;
    tokens.push({ name: entry.name, token, publish, subscribe, admin, metrics });
  }
  return {
    ...(config.store !== undefined ? { store: config.store } : {}),
    ...(config.nats !== undefined ? { nats: config.nats } : {}),
    ...(retention !== undefined ? { retention } : {}),
    ...(config.postgres !== undefined ? { postgres: withoutUndefined(config.postgres) } : {}),
    server: {
      host: config.server.host,
      port: config.server.port,
      bodyLimit: config.server.bodyLimit,
      tokens,
      ...(config.server.webhookDeny !== undefined ? { webhookDeny: config.server.webhookDeny } : {}),
      ...limitsOf(config.server),
    },
  };
}

/** The server's limits as given, in ms; absent ones are left to the server's defaults. */
function limitsOf(server: ConfigFile['server']): Pick<ServerConfig, 'signInLimit' | 'streams' | 'clientAddressHeader'> {
  const limit = server.signInLimit;
  return {
    ...(limit === undefined
      ? {}
      : {
          signInLimit: withoutUndefined({
            enabled: limit.enabled,
            maxFailures: limit.maxFailures,
            windowMs: limit.window,
            lockoutMs: limit.lockout,
            maxClients: limit.maxClients,
          }),
        }),
    ...(server.streams === undefined ? {} : { streams: withoutUndefined(server.streams) }),
    ...(server.clientAddressHeader === undefined ? {} : { clientAddressHeader: server.clientAddressHeader }),
  };
}

/** `value` without its keys set to `undefined` (exactOptionalPropertyTypes). */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The `retention` section, checked as `createBus` checks it, errors naming the file. */
function checkRetention(value: ConfigFile['retention'], file: string): RetentionOptions | undefined {
  if (value === undefined) return undefined;
  const options: RetentionOptions = withoutUndefined(value);
  try {
    resolveRetention(options);
  } catch (error) {
    if (!isAgentbusError(error)) throw error;
    throw refused(file, String(error.details.field), String(error.details.reason ?? error.message));
  }
  return options;
}

async function resolveToken(
  entry: ConfigFile['server']['tokens'][number],
  field: string,
  file: string,
  options: ParseConfigOptions,
): Promise<string> {
  if (entry.token !== undefined) return entry.token;
  if (entry.token_env !== undefined) {
    const value = (options.env ?? process.env)[entry.token_env];
    if (value === undefined || value === '') {
      throw refused(file, `${field}.token_env`, `environment variable ${entry.token_env} is not set`);
    }
    return value.trim();
  }
  const path = resolve(options.baseDir ?? '.', entry.token_file ?? '');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw refused(file, `${field}.token_file`, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** `server.tokens[0].publish.allow[1]` from zod's path. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out === '' ? '(top level)' : out;
}

function fromIssue(file: string, issue: z.core.$ZodIssue | undefined): AgentbusError {
  if (!issue) return refused(file, '(top level)', 'invalid');
  const { path, reason } = describeIssue(issue);
  return refused(file, formatPath(path), reason);
}

function refused(file: string, field: string, reason: string): AgentbusError {
  return new AgentbusError('OPTIONS_INVALID', `${file}: ${field}: ${reason}`, { field, reason, file });
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
