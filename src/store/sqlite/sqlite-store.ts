/**
 * The embedded EventStore: one SQLite file in WAL mode. Writes of one tick share a
 * transaction (group commit); WAL checkpoints run on a background thread, off the commit
 * path; other processes' commits are noticed through the file system, not by polling.
 */
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { AgentbusError, invalidField } from '../../errors.js';
import type { Clock } from '../../time.js';
import type { AppendItem, AppendedEvent, EventStore, HistoryQuery, StoreTransaction, StoredEvent } from '../event-store.js';
import { validateEventIdQuery, validateHistoryQuery } from '../history-query.js';
import { type ChangeListener, watchCommits } from './change-feed.js';
import { Checkpointer } from './checkpointer.js';
import { SqliteDeliveryState } from './delivery-state.js';
import { SqliteEventCounts } from './event-counts.js';
import { EventLog } from './event-log.js';
import { type FlushContext, GroupCommitter } from './group-commit.js';
import { LagAccounting } from './lag-accounting.js';
import { MIGRATIONS, migrate, refuseUnknownVersions } from './migrations.js';
import type { MigrationListener } from '../schema-version.js';
import { SqliteRetention } from './retention.js';
import { SqliteStateArea } from './state-area.js';
import { SqliteStreamStore } from './streams.js';
import { unwrap } from '../refusals.js';

/** What `synchronous` survives: see docs/operations.md. */
export type SqliteSynchronous = 'off' | 'normal' | 'full' | 'extra';

/** Options of the SQLite store. */
export interface SqliteStoreOptions {
  /**
   * Database file; created with its folder when missing. A file that is not SQLite, or a
   * SQLite database with tables but no agentbus schema (another application's), is refused.
   * @default ".agentbus/agentbus.db"
   */
  path?: string;
  /**
   * Create the database when the file is missing or empty. With false (readers that must not
   * leave an empty database behind a mistyped path), such a file is refused with `NOT_FOUND`.
   * @default true
   */
  create?: boolean;
  /**
   * SQLite `synchronous` level. `normal` (WAL): a commit survives a process crash; a power
   * loss may lose the last commits but never corrupts. `full`: a commit also survives a
   * power loss, at the cost of an fsync per group commit.
   * @default "normal"
   */
  synchronous?: SqliteSynchronous;
  /** @default the system clock */
  clock?: Clock;
  /** How long a write waits for another process's write lock. @default 5000 */
  busyTimeoutMs?: number;
  /** Run WAL checkpoints on a background thread. @default true */
  backgroundCheckpoints?: boolean;
  /**
   * Notice other processes' commits through file-system notification. Off, or where the
   * file system gives none, a cheap check every 500 ms takes its place. @default true
   */
  watch?: boolean;
  /** Told before each migration when an older database is upgraded (a long one shows progress). */
  onMigrate?: MigrationListener;
}

/** The default database file of the embedded shape. */
export const DEFAULT_DB_PATH = '.agentbus/agentbus.db';

const SYSTEM_CLOCK: Clock = { now: () => Date.now() };
const SYNCHRONOUS = new Set<SqliteSynchronous>(['off', 'normal', 'full', 'extra']);

/**
 * WAL file size at which a background checkpoint is requested. The file keeps its size when
 * the WAL starts over (up to WAL_SIZE_LIMIT), so once it has reached this size a small
 * checkpoint is requested at every look (WAL_CHECK_EVERY_*): frequent small checkpoints, as
 * SQLite's automatic ones would be, off the commit path. Truncating the file at each start
 * over, to make its size follow the WAL, was measured worse: regrowing the file stalled
 * paced commits (p99 1.2 to 7.9 ms, about 60 gaps over 10 ms in 10 s).
 */
const CHECKPOINT_AT_WAL_BYTES = 16 * 1024 * 1024;
/** The WAL file's size is looked at every this many flushes (or sooner after large appends). */
const WAL_CHECK_EVERY_FLUSHES = 64;
const WAL_CHECK_EVERY_BYTES = 4 * 1024 * 1024;
/** After a checkpoint, a WAL file larger than this is truncated back to it. */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;

/**
 * Opens (and creates or migrates) the SQLite store.
 *
 * @throws AgentbusError `OPTIONS_INVALID` for a bad option, and naming `path` for a file that
 * is not SQLite or another application's database (tables but no agentbus schema);
 * `NOT_FOUND` for a missing or empty file with `create: false`; `BACKEND_UNAVAILABLE` when the
 * file cannot be opened; `STORE_CORRUPT` when SQLite finds the database damaged;
 * `SCHEMA_TOO_NEW` for a database a newer agentbus wrote (left as it was).
 * @example
 * const store = await openSqliteStore({ path: 'events.db', synchronous: 'full' })
 */
export async function openSqliteStore(options: SqliteStoreOptions = {}): Promise<SqliteEventStore> {
  const synchronous = options.synchronous ?? 'normal';
  if (!SYNCHRONOUS.has(synchronous)) {
    throw new AgentbusError(
      'OPTIONS_INVALID',
      `synchronous: must be one of off, normal, full, extra (got ${String(synchronous)})`,
      {
        field: 'synchronous',
        reason: 'must be one of off, normal, full, extra',
      },
    );
  }
  if (options.onMigrate !== undefined && typeof options.onMigrate !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'onMigrate', 'must be a function');
  }
  const path = options.path ?? DEFAULT_DB_PATH;
  if (typeof path !== 'string' || path.trim() === '') {
    throw new AgentbusError('OPTIONS_INVALID', 'path: must be the path of a database file', {
      field: 'path',
      reason: 'must be the path of a database file',
    });
  }
  const memory = path === ':memory:';
  if (!memory) checkFile(path, options.create ?? true);
  let db: Database.Database;
  try {
    if (!memory) mkdirSync(dirname(resolve(path)), { recursive: true });
    db = new Database(path, { fileMustExist: options.create === false && !memory });
  } catch (error) {
    throw new AgentbusError(
      'BACKEND_UNAVAILABLE',
      `cannot open ${path}: ${(error as Error).message}`,
      { path },
      { cause: error },
    );
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    // Before any pragma that writes: another application's database is left as it was.
    checkSchema(db, path, options.create ?? true);
    db.pragma('page_size = 8192');
    // Takes effect only in a new file (before its first table): lets compact() give pruned
    // pages back in small steps instead of rewriting the file (ADR 0025).
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
    db.pragma('cache_size = -32000');
    db.pragma('temp_store = MEMORY');
    const background = !memory && (options.backgroundCheckpoints ?? true);
    if (background) db.pragma('wal_autocheckpoint = 0');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    const clock = options.clock ?? SYSTEM_CLOCK;
    migrate(db, clock.now(), path, options.onMigrate);
    return new SqliteEventStore(db, memory ? undefined : resolve(path), clock, background, options.watch ?? true);
  } catch (error) {
    db.close();
    if (error instanceof AgentbusError) throw error;
    const code = (error as { code?: string }).code ?? '';
    throw new AgentbusError(
      code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' ? 'STORE_CORRUPT' : 'BACKEND_UNAVAILABLE',
      `cannot use ${path} as an agentbus database: ${(error as Error).message}`,
      { path },
      { cause: error },
    );
  }
}

/** The first bytes of every SQLite database file. */
const SQLITE_HEADER = 'SQLite format 3\0';

/** Refuses a file that is not a database (by its header), and a missing or empty one unless `create`. */
function checkFile(path: string, create: boolean): void {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw refusedPath(path, 'not a file');
    size = stat.size;
  } catch (error) {
    if (error instanceof AgentbusError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return; // the open below reports it
    size = 0;
  }
  if (size === 0) {
    if (!create) throw noDatabase(path);
    return;
  }
  const header = Buffer.alloc(SQLITE_HEADER.length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString('latin1') !== SQLITE_HEADER) throw refusedPath(path, 'not an SQLite database file');
}

/**
 * Refuses a database with tables of its own and no agentbus schema, one whose schema a newer
 * agentbus wrote, and (unless `create`) one with no tables at all. The schema's marker is
 * migration 1 recorded in `schema_migrations`.
 */
function checkSchema(db: Database.Database, path: string, create: boolean): void {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    .pluck()
    .all() as string[];
  if (tables.includes('schema_migrations') && isAgentbusSchema(db)) {
    refuseUnknownVersions(db, path);
    return;
  }
  // Only `schema_migrations`: a first open that stopped before migration 1 committed.
  if (tables.some((name) => name !== 'schema_migrations')) {
    throw refusedPath(path, 'not an agentbus database (it has tables of its own)');
  }
  if (!create) throw noDatabase(path);
}

function isAgentbusSchema(db: Database.Database): boolean {
  const first = MIGRATIONS[0] as { version: number; name: string };
  try {
    return (
      db.prepare('SELECT 1 FROM schema_migrations WHERE version = ? AND name = ?').get(first.version, first.name) !== undefined
    );
  } catch {
    return false; // another application's table of that name, with other columns
  }
}

function refusedPath(path: string, reason: string): AgentbusError {
  return new AgentbusError('OPTIONS_INVALID', `path: ${path}: ${reason}`, { field: 'path', reason: `${path}: ${reason}`, path });
}

function noDatabase(path: string): AgentbusError {
  const reason = `no agentbus database at ${path}`;
  return new AgentbusError('NOT_FOUND', `path: ${reason}`, { field: 'path', reason, path });
}

/** Appends sharing one job: the first caller's items, then each later caller's part. */
interface OpenAppend {
  readonly items: AppendItem[];
  readonly parts: Array<{
    from: number;
    count: number;
    resolve: (stored: AppendedEvent[]) => void;
    reject: (error: unknown) => void;
  }>;
  readonly run: (ctx: FlushContext) => AppendedEvent[];
}

/** The SQLite implementation of {@link EventStore}. Create it with {@link openSqliteStore}. */
export class SqliteEventStore implements EventStore {
  readonly state: SqliteStateArea;
  readonly deliveries: SqliteDeliveryState;
  readonly streams: SqliteStreamStore;
  readonly counts: SqliteEventCounts;
  readonly retention: SqliteRetention;
  readonly changes = { onAppend: (listener: ChangeListener) => this.#onAppend(listener) };
  /** The committed tail hands appended events' frozen copies to local claims. */
  readonly sharesFrozenCopies = true;

  readonly #db: Database.Database;
  readonly #log: EventLog;
  readonly #committer: GroupCommitter;
  readonly #clock: Clock;
  readonly #listeners = new Set<ChangeListener>();
  readonly #checkpointer: Checkpointer | undefined;
  readonly #path: string | undefined;
  readonly #watch: boolean;
  #stopWatching: (() => void) | undefined;
  #bytesSinceWalCheck = 0;
  #flushesSinceWalCheck = 0;
  #wakePending = false;
  #closed = false;
  #openAppend: OpenAppend | undefined;

  /** @internal use {@link openSqliteStore} */
  constructor(db: Database.Database, path: string | undefined, clock: Clock, background: boolean, watch: boolean) {
    this.#db = db;
    this.#path = path;
    this.#clock = clock;
    this.#watch = watch;
    const lag = new LagAccounting(db);
    this.#committer = new GroupCommitter(db, () => this.#afterFlush());
    const now = () => clock.now();
    this.counts = new SqliteEventCounts(db, this.#committer, now);
    this.#log = new EventLog(db, lag, this.counts);
    this.state = new SqliteStateArea(db, (job) => this.#committer.enqueue(job).then(unwrap), now);
    this.streams = new SqliteStreamStore(
      db,
      (job) => (this.#closed ? Promise.reject(closedError()) : this.#committer.enqueue(job).then(unwrap)),
      (items, ctx) => this.#appendNow(items, ctx),
    );
    this.deliveries = new SqliteDeliveryState(db, this.#log, lag, this.counts, this.#committer, now, () => {
      this.#wakePending = true;
    });
    this.retention = new SqliteRetention(db, this.#committer, now, {
      path,
      suspendCheckpoints: async () => this.#checkpointer?.suspend(),
    });
    this.#checkpointer = background && path ? new Checkpointer(path, () => this.#finishCheckpoint()) : undefined;
  }

  /** The database file, or undefined for `:memory:`. */
  get path(): string | undefined {
    return this.#path;
  }

  /**
   * Appends made one after another in a tick share one job (one multi-row insert instead of
   * one job and insert each), as long as nothing else was queued in between.
   */
  append(items: readonly AppendItem[]): Promise<AppendedEvent[]> {
    if (this.#closed) return Promise.reject(closedError());
    if (items.length === 0) return Promise.resolve([]);
    const open = this.#openAppend;
    if (open && this.#committer.lastQueued === open.run) {
      return new Promise((resolve, reject) => {
        open.parts.push({ from: open.items.length, count: items.length, resolve, reject });
        for (const item of items) open.items.push(item);
      });
    }
    const joined: OpenAppend = {
      items: [...items],
      parts: [],
      run: (ctx) => {
        if (this.#openAppend === joined) this.#openAppend = undefined;
        return this.#appendNow(joined.items, ctx);
      },
    };
    this.#openAppend = joined;
    const first = this.#committer.enqueue(joined.run);
    first.then(
      (stored) => {
        for (const part of joined.parts) part.resolve(stored.slice(part.from, part.from + part.count));
      },
      (error: unknown) => {
        for (const part of joined.parts) part.reject(error);
      },
    );
    // The first caller's events lead the job.
    const count = items.length;
    return first.then((stored) => (stored.length === count ? stored : stored.slice(0, count)));
  }

  read(query: HistoryQuery = {}): AsyncIterable<StoredEvent> {
    return this.#log.read(validateHistoryQuery(query));
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    return this.#log.get(validateEventIdQuery(id));
  }

  async head(): Promise<number> {
    return this.#log.head();
  }

  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(closedError());
    const direct = <R>(job: () => R | Error): Promise<Exclude<R, Error>> => {
      const result = job();
      return result instanceof Error ? Promise.reject(result) : Promise.resolve(result as Exclude<R, Error>);
    };
    const tx: StoreTransaction = {
      append: (items) => direct(() => this.#appendNow(items)),
      state: new SqliteStateArea(this.#db, direct, () => this.#clock.now()),
    };
    return this.#committer.exclusive(() => fn(tx)).finally(() => this.#afterFlush());
  }

  /** Runs `PRAGMA integrity_check`; returns "ok" or the problems found. */
  integrityCheck(): string {
    return (this.#db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('\n');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#committer.drain();
    this.#stopWatching?.();
    await this.#checkpointer?.close();
    this.#db.close();
  }

  #appendNow(items: readonly AppendItem[], ctx?: FlushContext): AppendedEvent[] {
    for (const item of items) this.#bytesSinceWalCheck += item.text.length;
    this.#wakePending = true;
    return this.#log.appendInTransaction(items, this.#clock.now(), ctx);
  }

  #afterFlush(): void {
    this.#maybeCheckpoint();
    if (!this.#wakePending) return;
    this.#wakePending = false;
    if (this.#listeners.size === 0) return;
    const head = this.#log.head();
    for (const listener of this.#listeners) listener(head);
  }

  /**
   * Every write grows the WAL (appends, claims, acknowledgements), so the decision rests on
   * the WAL file's real size, looked at every few dozen flushes: one stat, off the commit.
   */
  #maybeCheckpoint(): void {
    if (!this.#checkpointer || !this.#path) return;
    if (++this.#flushesSinceWalCheck < WAL_CHECK_EVERY_FLUSHES && this.#bytesSinceWalCheck < WAL_CHECK_EVERY_BYTES) return;
    this.#flushesSinceWalCheck = 0;
    this.#bytesSinceWalCheck = 0;
    let size = 0;
    try {
      size = statSync(`${this.#path}-wal`).size;
    } catch {
      return;
    }
    if (size >= CHECKPOINT_AT_WAL_BYTES) this.#checkpointer.request();
  }

  /**
   * Under steady writes the background checkpoint never reaches the end of the WAL (new
   * commits keep arriving), so the WAL would never restart and grow without bound. After it
   * (the worker goes round until a round leaves little to copy), the writer's own connection
   * copies the little that was appended meanwhile, between two flushes: that checkpoint
   * completes, the next commit restarts the WAL, and `journal_size_limit` truncates it.
   */
  #finishCheckpoint(): void {
    if (this.#closed || !this.#path || this.#db.inTransaction) return;
    let size = 0;
    try {
      size = statSync(`${this.#path}-wal`).size;
    } catch {
      return;
    }
    if (size < CHECKPOINT_AT_WAL_BYTES) return;
    try {
      this.#db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // Busy (another process): the next round will try again.
    }
  }

  #onAppend(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    if (!this.#stopWatching && this.#path) {
      const notifyOthers = () => {
        if (this.#closed) return;
        const head = this.#log.head();
        for (const l of this.#listeners) l(head);
      };
      this.#stopWatching = watchCommits(this.#db, this.#path, notifyOthers, { notify: this.#watch });
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        this.#stopWatching?.();
        this.#stopWatching = undefined;
      }
    };
  }
}

function closedError(): AgentbusError {
  return new AgentbusError('CLOSED', 'the store is closed');
}
