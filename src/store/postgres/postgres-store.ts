/**
 * The EventStore on PostgreSQL, for several processes on several machines. Writes of one
 * tick share a transaction (group commit) and their appends one multi-row insert; positions
 * are handed out under a one-row lock, so their order is commit order (ADR 0007); claims
 * use `FOR UPDATE SKIP LOCKED`; LISTEN/NOTIFY only wakes consumers up.
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { AgentbusError, invalidField } from '../../errors.js';
import type { Clock } from '../../time.js';
import type { AppendItem, AppendedEvent, EventStore, HistoryQuery, StoreTransaction, StoredEvent } from '../event-store.js';
import { validateEventIdQuery, validateHistoryQuery } from '../history-query.js';
import { type ChangeListener, PostgresChangeFeed, SAFETY_CHECK_MS } from './change-feed.js';
import {
  type Sql,
  backendError,
  connectionConfig,
  createPool,
  loadPg,
  quoteIdent,
  redactUrl,
  reportingSql,
  sqlOf,
  withOwnConnection,
} from './connection.js';
import { PostgresDeliveryState } from './delivery-state.js';
import { PostgresEventCounts } from './event-counts.js';
import { PostgresEventLog } from './event-log.js';
import { type AppendRequest, Deferred, type Flush, GroupCommitter, type Settled } from './group-commit.js';
import { PostgresLagAccounting } from './lag-accounting.js';
import { migratePostgres } from './migrations.js';
import type { MigrationListener } from '../schema-version.js';
import type { OwnConnection } from './compaction.js';
import { PostgresRetention } from './retention.js';
import { PostgresStateArea } from './state-area.js';
import { PostgresStreamStore } from './streams.js';
import { type Tables, tablesOf } from './tables.js';

/** Options of the PostgreSQL store. */
export interface PostgresStoreOptions {
  /** Connection URL, e.g. `postgres://agentbus@db.internal:5432/agentbus`. */
  url: string;
  /** Schema holding agentbus's tables; created when missing. @default "agentbus" */
  schema?: string;
  /** Most connections of the pool (writes use one at a time; reads use the others). @default 10 */
  poolSize?: number;
  /** LISTEN/NOTIFY channel that wakes consumers in other processes. @default "<schema>_changes" */
  notifyChannel?: string;
  /** How often the log head is read to catch a lost notification. @default 5000 */
  safetyCheckMs?: number;
  /** `application_name` of the connections, shown in `pg_stat_activity`. @default "agentbus" */
  applicationName?: string;
  /**
   * How long establishing a connection (or waiting for a free one of the pool) may take
   * before the operation fails with `BACKEND_UNAVAILABLE`, in ms. @default 10000
   */
  connectTimeoutMs?: number;
  /**
   * How long one statement may run, lock waits included, before PostgreSQL cancels it (the
   * connections' `statement_timeout`) and the operation fails with `BACKEND_UNAVAILABLE`
   * naming this option; the transaction is rolled back, and later operations run as usual. A
   * server that gives no answer at all is given up on 2 s later and the connection dropped.
   * 0: no limit. Migrations and `retention.compact()` run on a connection of their own,
   * without it. @default 60000
   */
  statementTimeoutMs?: number;
  /** @default the system clock */
  clock?: Clock;
  /** Told before each migration when an older schema is upgraded (a long one shows progress). */
  onMigrate?: MigrationListener;
}

const SYSTEM_CLOCK: Clock = { now: () => Date.now() };
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A prune batch or a big read takes milliseconds; a minute means something is stuck. */
const DEFAULT_STATEMENT_TIMEOUT_MS = 60_000;
/** PostgreSQL's largest `statement_timeout` (INT_MAX ms), less the client's grace. */
const MAX_STATEMENT_TIMEOUT_MS = 2_000_000_000;

function validate(
  options: PostgresStoreOptions,
): Required<Omit<PostgresStoreOptions, 'clock' | 'onMigrate'>> & { clock: Clock; onMigrate?: MigrationListener } {
  if (typeof options !== 'object' || options === null) {
    throw invalidField('OPTIONS_INVALID', 'options', 'must be an object with a url');
  }
  const { url } = options;
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
    throw invalidField('OPTIONS_INVALID', 'url', 'must be a postgres:// or postgresql:// connection URL');
  }
  const schema = options.schema ?? 'agentbus';
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw invalidField(
      'OPTIONS_INVALID',
      'schema',
      'must be a name of letters, digits and _ (at most 63), not starting with a digit',
    );
  }
  const notifyChannel = options.notifyChannel ?? `${schema}_changes`;
  if (typeof notifyChannel !== 'string' || !IDENTIFIER.test(notifyChannel)) {
    throw invalidField('OPTIONS_INVALID', 'notifyChannel', 'must be a name of letters, digits and _ (at most 63)');
  }
  const poolSize = options.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 2 || poolSize > 1000) {
    throw invalidField('OPTIONS_INVALID', 'poolSize', 'must be an integer from 2 to 1000');
  }
  const safetyCheckMs = options.safetyCheckMs ?? SAFETY_CHECK_MS;
  if (!Number.isFinite(safetyCheckMs) || safetyCheckMs < 10) {
    throw invalidField('OPTIONS_INVALID', 'safetyCheckMs', 'must be a number of milliseconds, at least 10');
  }
  const applicationName = options.applicationName ?? 'agentbus';
  if (typeof applicationName !== 'string') throw invalidField('OPTIONS_INVALID', 'applicationName', 'must be a string');
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 100 || connectTimeoutMs > 600_000) {
    throw invalidField('OPTIONS_INVALID', 'connectTimeoutMs', 'must be a whole number of milliseconds from 100 to 600000');
  }
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  if (
    !Number.isInteger(statementTimeoutMs) ||
    statementTimeoutMs < 0 ||
    statementTimeoutMs > MAX_STATEMENT_TIMEOUT_MS ||
    (statementTimeoutMs > 0 && statementTimeoutMs < 10)
  ) {
    throw invalidField(
      'OPTIONS_INVALID',
      'statementTimeoutMs',
      `must be a whole number of milliseconds from 10 to ${MAX_STATEMENT_TIMEOUT_MS}, or 0 for no limit`,
    );
  }
  const clock = options.clock ?? SYSTEM_CLOCK;
  if (typeof clock?.now !== 'function') throw invalidField('OPTIONS_INVALID', 'clock', 'must have a now() method');
  const { onMigrate } = options;
  if (onMigrate !== undefined && typeof onMigrate !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'onMigrate', 'must be a function');
  }
  return {
    url,
    schema,
    notifyChannel,
    poolSize,
    safetyCheckMs,
    applicationName,
    connectTimeoutMs,
    statementTimeoutMs,
    clock,
    ...(onMigrate ? { onMigrate } : {}),
  };
}

/**
 * Opens the PostgreSQL store: connects, creates or migrates its schema (safe when several
 * processes start together) and returns a full {@link EventStore}. `pg` is loaded here, on
 * first use.
 *
 * @throws AgentbusError `OPTIONS_INVALID` for a bad option, `BACKEND_UNAVAILABLE` when the
 * server cannot be reached or refuses the connection, `SCHEMA_TOO_NEW` when a newer agentbus
 * wrote the schema (left as it was).
 * @example
 * const store = await openPostgresStore({ url: 'postgres://agentbus@db:5432/agentbus' })
 * const bus = await createBus({ store })
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresEventStore> {
  const o = validate(options);
  const pg = await loadPg();
  const t = tablesOf(o.schema);
  // Without the statement timeout: a migration may build an index over millions of rows.
  const ownConfig = connectionConfig(pg, o.url, o.applicationName, o.connectTimeoutMs);
  try {
    await withOwnConnection(pg, ownConfig, (client) => {
      const database = `the PostgreSQL store at ${redactUrl(o.url)} (schema ${o.schema})`;
      return migratePostgres(sqlOf(client), o.schema, t.schema, o.clock.now(), database, undefined, o.onMigrate);
    });
  } catch (error) {
    throw backendError(`cannot open the PostgreSQL store at ${redactUrl(o.url)} (schema ${o.schema})`, error, o.url);
  }
  const pool = createPool(pg, o.url, o.poolSize, o.applicationName, o.connectTimeoutMs, o.statementTimeoutMs);
  // An idle connection that breaks must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const feed = new PostgresChangeFeed(
    pg,
    connectionConfig(pg, o.url, `${o.applicationName} listener`, o.connectTimeoutMs, o.statementTimeoutMs),
    o.notifyChannel,
    randomBytes(8).toString('hex'),
    () => log.head(sqlOf(pool)),
    o.safetyCheckMs,
  );
  const lag = new PostgresLagAccounting(t);
  const log = new PostgresEventLog(t, lag);
  const own: OwnConnection = (fn) => withOwnConnection(pg, ownConfig, (client) => fn(sqlOf(client)));
  return new PostgresEventStore({ pool, t, clock: o.clock, feed, lag, log, channel: o.notifyChannel, schema: o.schema, own });
}

interface Parts {
  pool: Pool;
  t: Tables;
  clock: Clock;
  feed: PostgresChangeFeed;
  lag: PostgresLagAccounting;
  log: PostgresEventLog;
  channel: string;
  schema: string;
  /** A connection of its own without the statement timeout (compaction). */
  own: OwnConnection;
}

const HEAD = 'store:head';
const APPENDED = 'store:appended';

/** The PostgreSQL implementation of {@link EventStore}. Create it with {@link openPostgresStore}. */
export class PostgresEventStore implements EventStore {
  readonly state: PostgresStateArea;
  readonly streams: PostgresStreamStore;
  readonly deliveries: PostgresDeliveryState;
  readonly counts: PostgresEventCounts;
  readonly retention: PostgresRetention;
  readonly changes = { onAppend: (listener: ChangeListener) => this.#feed.onAppend(listener) };
  /** The schema holding this store's tables. */
  readonly schema: string;

  readonly #pool: Pool;
  readonly #reader: Sql;
  readonly #t: Tables;
  readonly #clock: Clock;
  readonly #feed: PostgresChangeFeed;
  readonly #lag: PostgresLagAccounting;
  readonly #log: PostgresEventLog;
  readonly #committer: GroupCommitter;
  readonly #channel: string;
  readonly #notify: { name: string; text: string } = { name: 'ab_notify', text: 'SELECT pg_notify($1, $2)' };
  #closing: Promise<void> | undefined;

  /** @internal use {@link openPostgresStore} */
  constructor(parts: Parts) {
    this.#pool = parts.pool;
    // Reads outside a flush: a failure is BACKEND_UNAVAILABLE, never the driver's own error.
    this.#reader = reportingSql(sqlOf(parts.pool), 'PostgreSQL read failed');
    this.#t = parts.t;
    this.#clock = parts.clock;
    this.#feed = parts.feed;
    this.#lag = parts.lag;
    this.#log = parts.log;
    this.#channel = parts.channel;
    this.schema = parts.schema;
    this.#committer = new GroupCommitter(parts.pool, {
      begin: `SELECT consumers_version FROM ${parts.t.logHead} WHERE id = 1`,
      finish: (flush) => this.#finish(flush),
      committed: (flush) => this.#committed(flush),
    });
    const now = () => this.#clock.now();
    this.state = new PostgresStateArea(
      parts.t,
      this.#reader,
      <T>(job: (sql: Sql) => Promise<T | Error>) => this.#run((flush) => job(flush.sql)) as Promise<T>,
      now,
    );
    this.streams = new PostgresStreamStore(parts.t, this.#reader, (job) => this.#run(job));
    this.counts = new PostgresEventCounts(parts.t, this.#reader, (job) => this.#run(job));
    this.deliveries = new PostgresDeliveryState(parts.t, this.#reader, parts.log, parts.lag, this.#committer, now);
    this.retention = new PostgresRetention(parts.pool, parts.t, now, parts.own, parts.schema);
  }

  append(items: readonly AppendItem[]): Promise<AppendedEvent[]> {
    if (items.length === 0) return this.#closing ? Promise.reject(closedError()) : Promise.resolve([]);
    return this.#run(async (flush) => {
      const request = flush.append({ items });
      return new Deferred(() => request.result ?? []);
    });
  }

  read(query: HistoryQuery = {}): AsyncIterable<StoredEvent> {
    return this.#log.read(this.#reader, validateHistoryQuery(query));
  }

  get(id: string): Promise<StoredEvent | undefined> {
    try {
      return this.#log.get(this.#reader, validateEventIdQuery(id));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  head(): Promise<number> {
    return this.#log.head(this.#reader);
  }

  async transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    if (this.#closing) throw closedError();
    let head = 0;
    const result = await this.#committer.exclusive(async (sql) => {
      const tx: StoreTransaction = {
        append: async (items) => {
          const request: AppendRequest = { items };
          const deltas = new Map<string, number>();
          const sink = { lag: (consumer: string, d: number) => deltas.set(consumer, (deltas.get(consumer) ?? 0) + d) };
          const outcome = await this.#log.appendPhase(sql, [request], this.#clock.now(), sink, this.#notifyOptions());
          await this.#lag.apply(sql, deltas);
          if (outcome.inserted > 0) head = outcome.head;
          return request.result ?? [];
        },
        state: new PostgresStateArea(
          this.#t,
          sql,
          async (job) => {
            const value = await job(sql);
            if (value instanceof Error) throw value;
            return value;
          },
          () => this.#clock.now(),
        ),
      };
      return fn(tx);
    });
    if (head > 0) this.#feed.fire(head);
    return result;
  }

  /** Flushes pending writes, stops listening and ends the pool. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#committer.drain();
      await this.#feed.close();
      await this.#pool.end();
    })();
    return this.#closing;
  }

  /** Runs a job in the next group commit, refusing once the store is closing. */
  #run<R>(job: (flush: Flush) => Promise<R>): Promise<Settled<R>> {
    if (this.#closing) return Promise.reject(closedError());
    return this.#committer.enqueue(job);
  }

  #notifyOptions() {
    return { channel: this.#channel, payload: (head: number) => this.#feed.payload(head) };
  }

  /** The end of every flush, inside its transaction: the append phase, lag, notification, activity. */
  async #finish(flush: Flush): Promise<void> {
    const { sql } = flush;
    const now = this.#clock.now();
    let notified = false;
    if (flush.needsHead) {
      const outcome = await this.#log.appendPhase(sql, flush.appends, now, flush, this.#notifyOptions());
      await this.#lag.apply(sql, flush.lagDeltas);
      for (const hook of flush.underHeadLock) await hook(sql);
      flush.scratch.set(HEAD, outcome.head);
      if (outcome.inserted > 0) {
        flush.scratch.set(APPENDED, true);
        notified = true;
      }
    }
    if (flush.wake && !notified) {
      const head = (flush.scratch.get(HEAD) as number | undefined) ?? 0;
      await sql.rows(this.#notify, [this.#channel, this.#feed.payload(head)]);
    }
    // Last, so the activity rows (which other processes' flushes raise too) are locked briefly.
    await this.counts.finish(sql, flush.activity, notified, now);
  }

  #committed(flush: Flush): void {
    if (!flush.wake && !flush.scratch.has(APPENDED)) return;
    this.#feed.fire((flush.scratch.get(HEAD) as number | undefined) ?? 0);
  }
}

function closedError(): AgentbusError {
  return new AgentbusError('CLOSED', 'the store is closed');
}

/** @internal quoting for tests and tools that address the schema. */
export const quoteSchema = quoteIdent;
