/**
 * What every command shares: the global options (`--db`, `--store`, `--nats`, `--config`,
 * `--json`) and opening the bus they choose.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { type AgentBus, createBus } from '../agentbus.js';
import type { BusOptions } from '../bus/index.js';
import { loadConfig } from '../config/index.js';
import { AgentbusError, invalidField } from '../errors.js';

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
  const target: BusTarget = {
    db: all.db,
    dbGiven: source === 'cli' || source === 'env',
    ...(all.store !== undefined ? { store: all.store } : {}),
    ...(all.nats !== undefined ? { nats: all.nats } : {}),
    ...(all.natsStream !== undefined ? { natsStream: all.natsStream } : {}),
    ...(all.natsPrefix !== undefined ? { natsPrefix: all.natsPrefix } : {}),
    ...(all.config !== undefined ? { config: all.config } : {}),
  };
  return { db: all.db, json: all.json === true, target };
}

const isPostgres = (store: string) => /^postgres(ql)?:\/\//.test(store);

/**
 * The `createBus` options a target chooses, and the SQLite file it opens (if any).
 * @throws AgentbusError `OPTIONS_INVALID` naming the field of a bad config file or flag, `NOT_FOUND` for a missing config file.
 */
export async function busOptionsOf(target: string | BusTarget): Promise<{ options: BusOptions; sqlitePath?: string }> {
  if (typeof target === 'string') return { options: { path: target }, sqlitePath: target };
  const config = target.config !== undefined ? await loadConfig(target.config) : undefined;
  const store = target.store ?? (target.dbGiven ? undefined : config?.store);
  const natsText = target.nats ?? config?.nats;
  const servers = typeof natsText === 'string' ? natsText.split(',').map((s) => s.trim()) : natsText;
  if (servers !== undefined && (servers.length === 0 || servers.some((s) => s === ''))) {
    throw invalidField('OPTIONS_INVALID', '--nats', 'must be one or more server URLs, comma-separated');
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
  if (store !== undefined && isPostgres(store)) return { options: { store: { postgres: store }, ...transport } };
  const path = store ?? target.db;
  return { options: { path, ...transport }, sqlitePath: path };
}

/**
 * Opens the bus `target` chooses (a SQLite path, or every global option), runs `fn`, and closes the bus whatever happens.
 * With `mustExist`, a missing database is refused instead of created: reading commands
 * never leave an empty database behind a mistyped path.
 * @throws AgentbusError `NOT_FOUND` when `mustExist` and there is no file at `db`.
 */
export async function withBus<T>(
  target: string | BusTarget,
  fn: (bus: AgentBus) => Promise<T>,
  options: { mustExist?: boolean } = {},
): Promise<T> {
  const { options: busOptions, sqlitePath: db } = await busOptionsOf(target);
  if (options.mustExist && db !== undefined && db !== ':memory:' && !existsSync(db)) {
    throw new AgentbusError(
      'NOT_FOUND',
      `--db: no agentbus database at ${db} (publish an event first, or pass --db / AGENTBUS_DB)`,
      {
        field: '--db',
        path: db,
      },
    );
  }
  const bus = await createBus(busOptions);
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}
