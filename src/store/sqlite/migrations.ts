/**
 * Versioned schema of the SQLite store. A migration is applied once, in order, inside a
 * transaction, and recorded in `schema_migrations`. Never edit a released migration: add one.
 */
import type Database from 'better-sqlite3';
import { type MigrationListener, refuseNewerSchema, tellMigration } from '../schema-version.js';

/** One step of the schema. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'log, state and delivery state',
    sql: `
      CREATE TABLE events (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        id             TEXT    NOT NULL UNIQUE,
        topic          TEXT    NOT NULL,
        type           TEXT    NOT NULL,
        correlation_id TEXT    NOT NULL,
        causation_id   TEXT,
        partition_key  TEXT,
        priority       INTEGER NOT NULL,
        ts             INTEGER NOT NULL,
        expires_at     INTEGER,
        stored_at      INTEGER NOT NULL,
        body           TEXT    NOT NULL
      );
      CREATE INDEX events_by_correlation ON events (correlation_id);
      CREATE INDEX events_by_causation ON events (causation_id) WHERE causation_id IS NOT NULL;
      CREATE INDEX events_by_type ON events (type);
      CREATE INDEX events_by_topic ON events (topic);
      CREATE INDEX events_by_ts ON events (ts);

      CREATE TABLE state (
        namespace  TEXT    NOT NULL,
        key        TEXT    NOT NULL,
        value      TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (namespace, key)
      ) WITHOUT ROWID;

      CREATE TABLE consumers (
        name          TEXT    PRIMARY KEY,
        topic         TEXT    NOT NULL,
        filter        TEXT,
        next_seq      INTEGER NOT NULL,
        paused        INTEGER NOT NULL DEFAULT 0,
        redelivered   INTEGER NOT NULL DEFAULT 0,
        dead_lettered INTEGER NOT NULL DEFAULT 0,
        expired       INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- A claimed window of first deliveries: one row for many events.
      CREATE TABLE consumer_windows (
        consumer    TEXT    NOT NULL,
        first_seq   INTEGER NOT NULL,
        last_seq    INTEGER NOT NULL,
        pending     TEXT    NOT NULL,
        owner       TEXT    NOT NULL,
        lease_until INTEGER NOT NULL,
        token       INTEGER NOT NULL,
        PRIMARY KEY (consumer, first_seq)
      ) WITHOUT ROWID;

      -- Per-event exceptions above the window: scheduled, leased or returned redeliveries.
      CREATE TABLE consumer_retries (
        consumer        TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        attempt         INTEGER NOT NULL,
        due_at          INTEGER NOT NULL,
        owner           TEXT,
        lease_until     INTEGER,
        token           INTEGER NOT NULL,
        reason          TEXT,
        error           TEXT,
        stack           TEXT,
        first_failed_at INTEGER,
        last_failed_at  INTEGER,
        PRIMARY KEY (consumer, seq)
      ) WITHOUT ROWID;
      CREATE INDEX consumer_retries_by_due ON consumer_retries (consumer, due_at);

      CREATE TABLE dead_letters (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        consumer        TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        reason          TEXT    NOT NULL,
        error           TEXT    NOT NULL,
        stack           TEXT,
        retries         INTEGER NOT NULL,
        first_failed_at INTEGER NOT NULL,
        last_failed_at  INTEGER NOT NULL,
        status          TEXT    NOT NULL DEFAULT 'open',
        note            TEXT
      );
      CREATE INDEX dead_letters_by_consumer ON dead_letters (consumer, status);
    `,
  },
  {
    version: 2,
    name: 'events addressed to one subscription',
    sql: `
      ALTER TABLE events ADD COLUMN target TEXT;
      ALTER TABLE dead_letters ADD COLUMN replayed_as TEXT;
    `,
  },
  {
    version: 3,
    name: 'lag limits',
    sql: `
      ALTER TABLE consumers ADD COLUMN max_lag INTEGER;
      ALTER TABLE consumers ADD COLUMN on_full TEXT;
      ALTER TABLE consumers ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    name: 'ordered consumers have one active member',
    sql: `
      ALTER TABLE consumers ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE consumers ADD COLUMN active_owner TEXT;
      ALTER TABLE consumers ADD COLUMN active_until INTEGER;
    `,
  },
  {
    version: 5,
    name: 'handler failures counted apart from deliveries',
    sql: `
      ALTER TABLE consumer_retries ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 6,
    name: 'streams with versions',
    sql: `
      -- An event's place in its stream; the event itself stays in events.
      CREATE TABLE stream_events (
        stream  TEXT    NOT NULL,
        version INTEGER NOT NULL,
        seq     INTEGER NOT NULL UNIQUE,
        PRIMARY KEY (stream, version)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    name: 'event counts per topic and source',
    // Kept by the append transaction; filled once here from the existing log.
    sql: `
      CREATE TABLE event_counts (
        topic    TEXT    NOT NULL,
        source   TEXT    NOT NULL,
        events   INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (topic, source)
      ) WITHOUT ROWID;
      INSERT INTO event_counts (topic, source, events, last_seq)
        SELECT topic, coalesce(json_extract(body, '$.event.source'), ''), count(*), max(seq) FROM events GROUP BY 1, 2;
    `,
  },
  {
    version: 8,
    name: 'recent activity per minute, topic and kind',
    // Kept by the append and settle transactions, old minutes dropped (ADR 0016). Not filled
    // from the log: consumed and failed could not be, and published alone would mislead.
    sql: `
      CREATE TABLE activity (
        bucket INTEGER NOT NULL, -- the minute, epoch ms floored
        topic  TEXT    NOT NULL,
        kind   TEXT    NOT NULL, -- published, consumed, retried, dead_lettered
        n      INTEGER NOT NULL,
        PRIMARY KEY (bucket, topic, kind)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 9,
    name: 'failures of retries scheduled before version 5',
    // Version 5 added `failures` as 0 for every waiting retry, so a retry a release before it
    // scheduled lost the failures it had spent and got its whole budget again. Those releases
    // spent the budget per delivery (`attempt`). Only rows last failed before version 5 was
    // applied are theirs: since then a lapsed lease records a retry with no failure counted.
    sql: `
      UPDATE consumer_retries SET failures = attempt
       WHERE failures = 0 AND last_failed_at IS NOT NULL
         AND last_failed_at < (SELECT applied_at FROM schema_migrations WHERE version = 5);
    `,
  },
  {
    version: 10,
    name: 'retention',
    // A prune keeps the events of dead letters: it looks them up by position (ADR 0018). Its
    // progress (log start, events pruned, last prune) is kept in store_meta.
    sql: `
      CREATE INDEX dead_letters_by_seq ON dead_letters (seq);
    `,
  },
  {
    version: 11,
    name: 'state by write time',
    // Prunes read a namespace's records last written before a cutoff, oldest first, paged by
    // (updated_at, key): an index range instead of a scan of the namespace (ADR 0019).
    sql: `
      CREATE INDEX state_by_updated ON state (namespace, updated_at, key);
    `,
  },
  {
    version: 12,
    name: 'failed attempts and handled counts',
    // A retry and a dead letter keep their failed attempts (JSON, the last 20), written with
    // the failure; NULL in older rows reads as no history. Acknowledgements per subscription
    // are counted by the commits that settle them. Neither can be recovered from the log, so
    // nothing is filled in: an upgraded database starts counting at the upgrade (ADR 0021).
    sql: `
      ALTER TABLE consumer_retries ADD COLUMN attempts TEXT;
      ALTER TABLE dead_letters ADD COLUMN attempts TEXT;
      CREATE TABLE consumer_counts (
        consumer TEXT    PRIMARY KEY,
        handled  INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 13,
    name: 'recovered deliveries',
    // The failed attempts of an event a subscription then handled, moved here from its retry
    // row by the acknowledgement that deletes that row; keyed by position first, so retention
    // deletes them with their events by range and a correlation's are found from its events
    // (ADR 0023). Retries handled before the upgrade left nothing to fill in.
    sql: `
      CREATE TABLE consumer_recovered (
        seq             INTEGER NOT NULL,
        consumer        TEXT    NOT NULL,
        retries         INTEGER NOT NULL,
        first_failed_at INTEGER NOT NULL,
        attempts        TEXT,
        handled_attempt INTEGER NOT NULL,
        handled_at      INTEGER NOT NULL,
        PRIMARY KEY (seq, consumer)
      ) WITHOUT ROWID;
    `,
  },
];

/** The versions recorded in `schema_migrations`, which must exist. */
export function recordedVersions(db: Database.Database): number[] {
  return db
    .prepare('SELECT version FROM schema_migrations')
    .pluck()
    .all()
    .map((v) => Number(v));
}

/**
 * Refuses a database (named `database` in the message) whose schema has a version this
 * build does not know: a newer agentbus wrote it.
 * @throws AgentbusError `SCHEMA_TOO_NEW`
 */
export function refuseUnknownVersions(db: Database.Database, database: string): void {
  refuseNewerSchema(
    database,
    recordedVersions(db),
    MIGRATIONS.map((m) => m.version),
  );
}

/**
 * Applies every migration not yet recorded; returns the versions applied. A database with a
 * version this build does not know is refused before anything is applied.
 * @throws AgentbusError `SCHEMA_TOO_NEW` naming `database`
 */
export function migrate(db: Database.Database, now: number, database = 'the database', onMigrate?: MigrationListener): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  refuseUnknownVersions(db, database);
  const recorded = recordedVersions(db);
  const applied = new Set(recorded);
  const done: number[] = [];
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    tellMigration(onMigrate, recorded, { database, version: migration.version, name: migration.name });
    db.transaction(() => {
      // Another process may have applied it since we looked.
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(migration.version)) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        now,
      );
    }).immediate();
    done.push(migration.version);
  }
  return done;
}
