/**
 * Which engines a bus runs on: the embedded SQLite file (default), PostgreSQL for history and
 * state, NATS JetStream for delivery. Drivers beyond SQLite are loaded only when chosen.
 */
import { invalidField, isAgentbusError } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import type { PostgresStoreOptions } from '../store/postgres/postgres-store.js';
import { DEFAULT_DB_PATH, type SqliteStoreOptions, openSqliteStore } from '../store/sqlite/index.js';
import { noteNewDatabase } from '../store/sqlite/new-database.js';
import type { Clock } from '../time.js';
import { type NatsTransportOptions, resolveNatsSettings } from '../transport/nats/options.js';
import { createStoreBackedTransport } from '../transport/store-backed/store-backed-transport.js';
import type { Transport } from '../transport/transport.js';

/** History and state in a SQLite file. */
export interface SqliteStoreChoice {
  /** Database file. @default ".agentbus/agentbus.db" */
  readonly sqlite: string;
  /**
   * Create the database when the file is missing or empty; with false such a file is refused
   * (`NOT_FOUND`), for readers that must not leave an empty database behind a mistyped path.
   * @default true
   */
  readonly create?: boolean;
}

/** History and state in PostgreSQL. */
export interface PostgresStoreChoice extends Omit<PostgresStoreOptions, 'url' | 'clock'> {
  /** Connection URL, e.g. `postgres://agentbus@db.internal:5432/agentbus`. */
  readonly postgres: string;
}

/** An EventStore opened by the caller (the bus does not close it), or which engine to open. */
export type StoreChoice = EventStore | SqliteStoreChoice | PostgresStoreChoice;

/** Delivery through NATS JetStream; history stays in the bus's store (the recorder writes it). */
export interface NatsTransportChoice extends Omit<NatsTransportOptions, 'servers' | 'store'> {
  /** Server URL(s), e.g. `nats://127.0.0.1:4222`. */
  readonly nats: string | readonly string[];
}

/** A transport created by the caller (the bus does not close it), or which engine to use. */
export type TransportChoice = Transport | NatsTransportChoice;

/** What {@link openBackends} opened, and whether the bus owns (closes) each. */
export interface Backends {
  readonly store: EventStore;
  readonly transport: Transport;
  readonly ownsStore: boolean;
  readonly ownsTransport: boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isStore = (value: Record<string, unknown>): boolean =>
  typeof value.append === 'function' && typeof value.read === 'function';

const isTransport = (value: Record<string, unknown>): boolean =>
  typeof value.publish === 'function' && typeof value.consumer === 'function';

/**
 * Opens the store and the transport a bus runs on.
 * @throws AgentbusError `OPTIONS_INVALID` naming `store` or `transport` for a choice it does not know.
 */
export async function openBackends(options: {
  store?: StoreChoice;
  transport?: TransportChoice;
  path?: string;
  sqlite?: Omit<SqliteStoreOptions, 'path' | 'clock'>;
  clock: Clock;
}): Promise<Backends> {
  // Every option is checked before anything is opened: a refusal writes nothing.
  const transportChoice = checkTransport(options.transport);
  const sqlitePath = checkStore(options);
  // A SQLite file this call creates is removed again when a later step fails.
  const undoCreate = sqlitePath === undefined ? () => {} : noteNewDatabase(sqlitePath);
  let opened: { store: EventStore; ownsStore: boolean };
  try {
    opened = await openStore(options);
  } catch (error) {
    undoCreate();
    throw error;
  }
  const { store, ownsStore } = opened;
  try {
    if (transportChoice === undefined)
      return { store, transport: createStoreBackedTransport(store), ownsStore, ownsTransport: true };
    if (!('nats' in transportChoice)) return { store, transport: transportChoice, ownsStore, ownsTransport: false };
    const { nats, ...rest } = transportChoice;
    const { createNatsTransport } = await import('../transport/nats/index.js');
    const transport = await createNatsTransport({ ...rest, servers: nats, store });
    return { store, transport, ownsStore, ownsTransport: true };
  } catch (error) {
    if (ownsStore) {
      await store.close();
      undoCreate();
    }
    throw error;
  }
}

/** `scheme://...`: a URL, never a file path. */
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** Refuses a SQLite path that is a URL (`mysql://...` would otherwise become a file). */
function checkSqlitePath(path: string, field: string): string {
  const scheme = URL_LIKE.exec(path)?.[0];
  if (scheme === undefined) return path;
  const postgres = /^postgres(ql)?:\/\//.test(path);
  throw invalidField(
    'OPTIONS_INVALID',
    field,
    postgres
      ? 'must be a file path, not a URL (open PostgreSQL with store: { postgres: URL })'
      : `must be a file path, not a ${scheme} URL (agentbus stores events in SQLite files and PostgreSQL only)`,
  );
}

/**
 * Checks the store choice without opening anything; returns the SQLite file it opens (if any).
 * @throws AgentbusError `OPTIONS_INVALID` naming `path`, `store`, `store.sqlite` or `store.postgres`
 */
function checkStore(options: { store?: StoreChoice; path?: string }): string | undefined {
  const choice = options.store;
  if (choice === undefined) {
    return options.path === undefined ? DEFAULT_DB_PATH : checkSqlitePath(options.path, 'path');
  }
  if (!isObject(choice))
    throw invalidField('OPTIONS_INVALID', 'store', 'must be an EventStore, { sqlite: PATH } or { postgres: URL }');
  if (isStore(choice)) return undefined;
  if ('postgres' in choice) {
    const { postgres } = choice as PostgresStoreChoice;
    if (typeof postgres !== 'string' || !/^postgres(ql)?:\/\//.test(postgres)) {
      throw invalidField('OPTIONS_INVALID', 'store.postgres', 'must be a postgres:// or postgresql:// connection URL');
    }
    try {
      new URL(postgres);
    } catch {
      // The URL is not echoed: it may hold a password.
      throw invalidField('OPTIONS_INVALID', 'store.postgres', 'not a valid URL (postgres://user@host:port/database)');
    }
    return undefined;
  }
  if ('sqlite' in choice) {
    const { sqlite, create } = choice as SqliteStoreChoice;
    if (typeof sqlite !== 'string' || sqlite === '') throw invalidField('OPTIONS_INVALID', 'store.sqlite', 'must be a file path');
    if (create !== undefined && typeof create !== 'boolean')
      throw invalidField('OPTIONS_INVALID', 'store.create', 'must be true or false');
    return checkSqlitePath(sqlite, 'store.sqlite');
  }
  throw invalidField('OPTIONS_INVALID', 'store', 'must be an EventStore, { sqlite: PATH } or { postgres: URL }');
}

async function openStore(options: {
  store?: StoreChoice;
  path?: string;
  sqlite?: Omit<SqliteStoreOptions, 'path' | 'clock'>;
  clock: Clock;
}): Promise<{ store: EventStore; ownsStore: boolean }> {
  const { store: choice, clock } = options;
  if (choice === undefined) {
    const path = options.path;
    return { store: await openSqliteStore({ ...options.sqlite, ...(path ? { path } : {}), clock }), ownsStore: true };
  }
  if (!isObject(choice))
    throw invalidField('OPTIONS_INVALID', 'store', 'must be an EventStore, { sqlite: PATH } or { postgres: URL }');
  if (isStore(choice)) return { store: choice as EventStore, ownsStore: false };
  if ('postgres' in choice) {
    const { postgres, ...rest } = choice as PostgresStoreChoice;
    const { openPostgresStore } = await import('../store/postgres/index.js');
    return { store: await openPostgresStore({ ...rest, url: postgres, clock }), ownsStore: true };
  }
  if ('sqlite' in choice) {
    const { sqlite, create } = choice as SqliteStoreChoice;
    const store = await openSqliteStore({ ...options.sqlite, path: sqlite, clock, ...(create === undefined ? {} : { create }) });
    return { store, ownsStore: true };
  }
  throw invalidField('OPTIONS_INVALID', 'store', 'must be an EventStore, { sqlite: PATH } or { postgres: URL }');
}

/**
 * Checks the transport choice, NATS settings included, without connecting.
 * @throws AgentbusError `OPTIONS_INVALID` naming `transport` or `transport.<option>`
 */
function checkTransport(choice: TransportChoice | undefined): Transport | NatsTransportChoice | undefined {
  if (choice === undefined) return undefined;
  const refuse = () => invalidField('OPTIONS_INVALID', 'transport', 'must be a Transport or { nats: SERVERS }');
  if (!isObject(choice)) throw refuse();
  if (isTransport(choice)) return choice as Transport;
  if (!('nats' in choice)) throw refuse();
  const { nats } = choice as NatsTransportChoice;
  const servers = typeof nats === 'string' ? [nats] : nats;
  if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.trim() === '')) {
    throw invalidField('OPTIONS_INVALID', 'transport.nats', 'must be a server URL or a non-empty list of them');
  }
  const { nats: _, ...rest } = choice as NatsTransportChoice;
  try {
    resolveNatsSettings({ ...rest, servers });
  } catch (error) {
    if (!isAgentbusError(error) || typeof error.details.field !== 'string') throw error;
    const option = error.details.field === 'servers' ? 'nats' : error.details.field;
    throw invalidField('OPTIONS_INVALID', `transport.${option}`, String(error.details.reason));
  }
  return choice as NatsTransportChoice;
}
