/**
 * What every command shares: the global options (`--db`, `--store`, `--nats`, `--config`,
 * `--json`) and opening the bus they choose.
 */
import type { Command } from 'commander';
import { type AgentBus, createBus } from '../agentbus.js';
import type { BusOptions } from '../bus/index.js';
import type { MigrationStep } from '../store/index.js';
import { loadConfig } from '../config/index.js';
import { AgentbusError, invalidField, isAgentbusError } from '../errors.js';
import { note } from './output.js';

/**
 * Which backends a command opens: resolved from `--store` (or `AGENTBUS_STORE`), `--nats`
 * (or `AGENTBUS_NATS`), the config file, and `--db`, in that order.
 */
export interface BusTarget {
  /** SQLite file given with `--db` (or its default). */
  readonly db: string;
  /** `--db` was given (flag or AGENTBUS_DB), not defaulted: it wins over the config file. */
  readonly dbGiven: boolean;
  /** A SQLite path or a `postgres://` URL. */
  readonly store?: string;
  /** NATS server URL(s), comma-separated. */
  readonly nats?: string;
  /** JetStream stream name. @default "AGENTBUS" */
  readonly natsStream?: string;
  /** Subject prefix. @default "agentbus" */
  readonly natsPrefix?: string;
  /**
   * NATS flags typed on the command line (not taken from the environment): without a NATS
   * server they are a mistake, while exported variables may serve other commands.
   */
  readonly natsFlagsGiven?: readonly string[];
  /** Config file (YAML or JSON) with `store` and `nats`. */
  readonly config?: string;
}

/** The options every command accepts. */
export interface GlobalOptions {
  /** SQLite database file. @default env AGENTBUS_DB, else ".agentbus/agentbus.db" */
  readonly db: string;
  /** Machine-readable output. @default false */
  readonly json: boolean;
  /** Every backend choice, for {@link withBus}. */
  readonly target: BusTarget;
}

/** Reads the global options as seen by `command` (given before or after the command name). */
export function globalOptions(command: Command): GlobalOptions {
  const all = command.optsWithGlobals<{
    db: string;
    json?: boolean;
    store?: string;
    nats?: string;
    natsStream?: string;
    natsPrefix?: string;
    config?: string;
  }>();
  let root: Command = command;
  while (root.parent) root = root.parent;
  const source = root.getOptionValueSource('db');
  const natsFlagsGiven = (
    [
      ['natsStream', '--nats-stream'],
      ['natsPrefix', '--nats-prefix'],
    ] as const
  )
    .filter(([key]) => root.getOptionValueSource(key) === 'cli')
    .map(([, flag]) => flag);
  const target: BusTarget = {
    db: all.db,
    dbGiven: source === 'cli' || source === 'env',
    ...(all.store !== undefined ? { store: all.store } : {}),
    ...(all.nats !== undefined ? { nats: all.nats } : {}),
    ...(all.natsStream !== undefined ? { natsStream: all.natsStream } : {}),
    ...(all.natsPrefix !== undefined ? { natsPrefix: all.natsPrefix } : {}),
    ...(all.config !== undefined ? { config: all.config } : {}),
    ...(natsFlagsGiven.length > 0 ? { natsFlagsGiven } : {}),
  };
  return { db: all.db, json: all.json === true, target };
}

const isPostgres = (store: string) => /^postgres(ql)?:\/\//.test(store);

/** Where a value came from, as an error names it: a flag, or a key of the config file. */
interface FieldLabel {
  readonly field: string;
  /** The config file the value came from. */
  readonly file?: string;
}

/** What {@link busOptionsOf} resolves. */
export interface BusPlan {
  /** What to pass to `createBus`. */
  readonly options: BusOptions;
  /** The SQLite file it opens, if any. */
  readonly sqlitePath?: string;
  /** The library's field names (`path`, `transport.stream`, ...) as the user gave them. */
  readonly labels: Readonly<Record<string, FieldLabel>>;
}

function refuse(label: FieldLabel, reason: string): AgentbusError {
  return label.file === undefined
    ? invalidField('OPTIONS_INVALID', label.field, reason)
    : new AgentbusError('OPTIONS_INVALID', `${label.file}: ${label.field}: ${reason}`, {
        field: label.field,
        reason,
        file: label.file,
      });
}

/**
 * `error` naming the flag or config key the user gave instead of the library's field
 * (`transport.stream` becomes `--nats-stream`); other errors unchanged.
 */
function relabel(error: unknown, labels: Readonly<Record<string, FieldLabel>>): unknown {
  if (!isAgentbusError(error)) return error;
  const label = labels[String(error.details.field)];
  if (label === undefined) return error;
  let reason = String(error.details.reason ?? error.message);
  if (error.code === 'NOT_FOUND' && label.field === '--db') reason += ' (publish an event first, or pass --db / AGENTBUS_DB)';
  const message = label.file === undefined ? `${label.field}: ${reason}` : `${label.file}: ${label.field}: ${reason}`;
  return new AgentbusError(
    error.code,
    message,
    { ...error.details, field: label.field, reason, ...(label.file === undefined ? {} : { file: label.file }) },
    { cause: error },
  );
}

/**
 * The `createBus` options a target chooses, the SQLite file it opens (if any), and how to
 * name the library's fields in errors. Refuses bad values without opening anything.
 * @throws AgentbusError `OPTIONS_INVALID` naming the flag or the config file's key.
 */
export async function busOptionsOf(target: string | BusTarget, options: { mustExist?: boolean } = {}): Promise<BusPlan> {
  // A reader opens an existing database only (`create: false`): it never leaves an empty one behind.
  const sqliteAt = (path: string): BusOptions => ({
    store: options.mustExist ? { sqlite: path, create: false } : { sqlite: path },
    sqlite: { onMigrate: tellUpgrade },
  });
  if (typeof target === 'string') {
    const label = { field: '--db' };
    if (target.trim() === '') throw refuse(label, 'must be a file path (got an empty string)');
    return { options: sqliteAt(target), sqlitePath: target, labels: { path: label, 'store.sqlite': label } };
  }
  if (target.db.trim() === '') throw refuse({ field: '--db' }, 'must be a file path (got an empty string)');
  const config = target.config !== undefined ? await loadConfig(target.config) : undefined;
  const fromConfig = (field: string): FieldLabel => ({ field, ...(target.config === undefined ? {} : { file: target.config }) });
  const configStore = target.dbGiven ? undefined : config?.store;
  const store = target.store ?? configStore;
  const storeLabel: FieldLabel = target.store !== undefined ? { field: '--store' } : fromConfig('store');
  if (store !== undefined) {
    // Another URL scheme is refused by createBus (as store.sqlite / path, named --store here).
    if (store.trim() === '') throw refuse(storeLabel, 'must be a SQLite file path or a postgres:// URL (got an empty string)');
  }
  const natsText = target.nats ?? config?.nats;
  const natsLabel: FieldLabel = target.nats !== undefined ? { field: '--nats' } : fromConfig('nats');
  const servers = typeof natsText === 'string' ? natsText.split(',').map((s) => s.trim()) : natsText;
  if (servers !== undefined && (servers.length === 0 || servers.some((s) => s === ''))) {
    throw refuse(natsLabel, 'must be one or more server URLs, comma-separated');
  }
  const [strayFlag] = servers === undefined ? (target.natsFlagsGiven ?? []) : [];
  if (strayFlag !== undefined) {
    throw refuse({ field: strayFlag }, 'needs a NATS server: give --nats (or AGENTBUS_NATS, or nats in the config file)');
  }
  const transport = servers
    ? {
        transport: {
          nats: [...servers],
          ...(target.natsStream !== undefined ? { stream: target.natsStream } : {}),
          ...(target.natsPrefix !== undefined ? { subjectPrefix: target.natsPrefix } : {}),
        },
      }
    : {};
  const labels: Record<string, FieldLabel> = {
    'transport.nats': natsLabel,
    'transport.stream': { field: '--nats-stream' },
    'transport.subjectPrefix': { field: '--nats-prefix' },
    'store.postgres': storeLabel,
    path: store === undefined ? { field: '--db' } : storeLabel,
    'store.sqlite': store === undefined ? { field: '--db' } : storeLabel,
  };
  // The config file's retention (checked when it was loaded): long-running commands prune by it.
  const retention = config?.retention !== undefined ? { retention: config.retention } : {};
  // The config file's postgres section applies to a PostgreSQL store; beside its own SQLite store it is a mistake.
  const postgres = config?.postgres ?? {};
  if (config?.postgres !== undefined && configStore !== undefined && !isPostgres(configStore)) {
    throw refuse(fromConfig('postgres'), 'applies to a PostgreSQL store only, but store is a SQLite file');
  }
  if (store !== undefined && isPostgres(store)) {
    return { options: { store: { postgres: store, onMigrate: tellUpgrade, ...postgres }, ...transport, ...retention }, labels };
  }
  const path = store ?? target.db;
  return { options: { ...sqliteAt(path), ...transport, ...retention }, sqlitePath: path, labels };
}

/** An upgrade of an older database may take a while (an index over millions of rows): say so. */
function tellUpgrade(step: MigrationStep): void {
  note(`upgrading ${step.database} from schema version ${step.from}: ${step.version} (${step.name})`);
}

/**
 * Opens the bus `target` chooses. Every option is checked before anything is opened, and a
 * refusal names the flag or config key the value came from.
 * @throws AgentbusError `OPTIONS_INVALID` naming the flag, `NOT_FOUND` when `mustExist` and there is no database.
 */
export async function openBus(
  target: string | BusTarget,
  options: { mustExist?: boolean } = {},
): Promise<{ bus: AgentBus; plan: BusPlan }> {
  const plan = await busOptionsOf(target, options);
  try {
    return { bus: await createBus(plan.options), plan };
  } catch (error) {
    throw relabel(error, plan.labels);
  }
}

/**
 * Opens the bus `target` chooses (a SQLite path, or every global option), runs `fn`, and closes the bus whatever happens.
 * With `mustExist`, a missing or empty database is refused instead of created: reading
 * commands never leave an empty database behind a mistyped path.
 * @throws AgentbusError `NOT_FOUND` when `mustExist` and there is no agentbus database at `db`.
 */
export async function withBus<T>(
  target: string | BusTarget,
  fn: (bus: AgentBus) => Promise<T>,
  options: { mustExist?: boolean } = {},
): Promise<T> {
  const { bus } = await openBus(target, options);
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}
