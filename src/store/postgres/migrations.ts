/**
 * Versioned schema of the PostgreSQL store, in its own schema (default `agentbus`). All
 * pending migrations run in one transaction under a transaction-level advisory lock, so
 * processes starting together apply each exactly once. Never edit a released migration:
 * add one.
 */
import { type MigrationListener, refuseNewerSchema, tellMigration } from '../schema-version.js';
import type { Sql } from './connection.js';

/** One step of the schema; `sql(s)` gets the quoted schema name. */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: (s: string) => string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'log, state, streams and delivery state',
    sql: (s) => `
      -- The one row every append locks: positions are handed out in commit order (ADR 0007).
      CREATE TABLE ${s}.log_head (
        id                smallint PRIMARY KEY CHECK (id = 1),
        last_seq          bigint   NOT NULL,
        stored_at         bigint   NOT NULL,
        consumers_version bigint   NOT NULL
      );
      INSERT INTO ${s}.log_head VALUES (1, 0, 0, 0);

      CREATE TABLE ${s}.events (
        seq            bigint   PRIMARY KEY,
        id             text     NOT NULL UNIQUE,
        topic          text     COLLATE "C" NOT NULL,
        type           text     NOT NULL,
        correlation_id text     NOT NULL,
        causation_id   text,
        partition_key  text,
        priority       smallint NOT NULL,
        ts             bigint   NOT NULL,
        expires_at     bigint,
        stored_at      bigint   NOT NULL,
        target         text,
        body           text     NOT NULL
      );
      -- Keyset pages: (filter column, seq), so a filtered page is one index range scan.
      CREATE INDEX events_by_correlation ON ${s}.events (correlation_id, seq);
      CREATE INDEX events_by_causation ON ${s}.events (causation_id, seq) WHERE causation_id IS NOT NULL;
      CREATE INDEX events_by_type ON ${s}.events (type, seq);
      CREATE INDEX events_by_topic ON ${s}.events (topic, seq);
      CREATE INDEX events_by_ts ON ${s}.events (ts);

      CREATE TABLE ${s}.state (
        namespace  text    COLLATE "C" NOT NULL,
        key        text    COLLATE "C" NOT NULL,
        value      text    NOT NULL,
        version    integer NOT NULL,
        updated_at bigint  NOT NULL,
        PRIMARY KEY (namespace, key)
      );

      CREATE TABLE ${s}.stream_events (
        stream  text    COLLATE "C" NOT NULL,
        version integer NOT NULL,
        seq     bigint  NOT NULL UNIQUE,
        PRIMARY KEY (stream, version)
      );

      CREATE TABLE ${s}.consumers (
        name          text    COLLATE "C" PRIMARY KEY,
        topic         text    NOT NULL,
        filter        text,
        next_seq      bigint  NOT NULL,
        paused        boolean NOT NULL DEFAULT false,
        redelivered   bigint  NOT NULL DEFAULT 0,
        dead_lettered bigint  NOT NULL DEFAULT 0,
        expired       bigint  NOT NULL DEFAULT 0,
        created_at    bigint  NOT NULL,
        max_lag       bigint,
        on_full       text,
        ordered       boolean NOT NULL DEFAULT false,
        active_owner  text,
        active_until  bigint
      );

      -- Exact pending counts of consumers with a lag limit. Apart from consumers (and without a
      -- foreign key to it), so that the append path never waits for a claim holding a
      -- consumer's row: it is written only under the log-head lock.
      CREATE TABLE ${s}.consumer_lag (
        consumer text   COLLATE "C" PRIMARY KEY,
        pending  bigint NOT NULL
      );

      -- A claimed window of first deliveries: one row for many events.
      CREATE TABLE ${s}.consumer_windows (
        consumer    text     NOT NULL,
        first_seq   bigint   NOT NULL,
        last_seq    bigint   NOT NULL,
        pending     bigint[] NOT NULL,
        owner       text     NOT NULL,
        lease_until bigint   NOT NULL,
        token       bigint   NOT NULL,
        PRIMARY KEY (consumer, first_seq)
      );

      -- Per-event exceptions: scheduled, leased or returned redeliveries.
      CREATE TABLE ${s}.consumer_retries (
        consumer        text    NOT NULL,
        seq             bigint  NOT NULL,
        attempt         integer NOT NULL,
        due_at          bigint  NOT NULL,
        owner           text,
        lease_until     bigint,
        token           bigint  NOT NULL,
        reason          text,
        error           text,
        stack           text,
        first_failed_at bigint,
        last_failed_at  bigint,
        failures        integer NOT NULL DEFAULT 0,
        PRIMARY KEY (consumer, seq)
      );
      CREATE INDEX consumer_retries_by_due ON ${s}.consumer_retries (consumer, due_at);

      CREATE TABLE ${s}.dead_letters (
        id              bigserial PRIMARY KEY,
        consumer        text    NOT NULL,
        seq             bigint  NOT NULL,
        reason          text    NOT NULL,
        error           text    NOT NULL,
        stack           text,
        retries         integer NOT NULL,
        first_failed_at bigint  NOT NULL,
        last_failed_at  bigint  NOT NULL,
        status          text    NOT NULL DEFAULT 'open',
        note            text,
        replayed_as     text
      );
      CREATE INDEX dead_letters_by_consumer ON ${s}.dead_letters (consumer, status);
    `,
  },
  {
    version: 2,
    name: 'event counts per topic and source',
    // Kept by the append phase (under the log-head lock); filled once here from the log.
    sql: (s) => `
      CREATE TABLE ${s}.event_counts (
        topic    text   COLLATE "C" NOT NULL,
        source   text   COLLATE "C" NOT NULL,
        events   bigint NOT NULL,
        last_seq bigint NOT NULL,
        PRIMARY KEY (topic, source)
      );
      INSERT INTO ${s}.event_counts (topic, source, events, last_seq)
        SELECT topic, coalesce(body::jsonb -> 'event' ->> 'source', ''), count(*), max(seq) FROM ${s}.events GROUP BY 1, 2;
    `,
  },
  {
    version: 3,
    name: 'recent activity per minute, topic and kind',
    // Kept by the append phase and the settle flushes, old minutes dropped (ADR 0016). Not
    // filled from the log: consumed and failed could not be, and published alone would mislead.
    sql: (s) => `
      CREATE TABLE ${s}.activity (
        bucket bigint NOT NULL, -- the minute, epoch ms floored
        topic  text   COLLATE "C" NOT NULL,
        kind   text   COLLATE "C" NOT NULL, -- published, consumed, retried, dead_lettered
        n      bigint NOT NULL,
        PRIMARY KEY (bucket, topic, kind)
      );
    `,
  },
  {
    version: 4,
    name: 'retention',
    // A prune keeps the events of dead letters (looked up by position) and records its
    // progress in a row of its own, never in log_head, which every append locks (ADR 0018).
    sql: (s) => `
      CREATE INDEX dead_letters_by_seq ON ${s}.dead_letters (seq);
      CREATE TABLE ${s}.retention (
        id             smallint PRIMARY KEY CHECK (id = 1),
        pruned_through bigint   NOT NULL,
        pruned_events  bigint   NOT NULL,
        pruned_at      bigint
      );
      INSERT INTO ${s}.retention VALUES (1, 0, 0, NULL);
    `,
  },
  {
    version: 5,
    name: 'state by write time',
    // Prunes read a namespace's records last written before a cutoff, oldest first, paged by
    // (updated_at, key): an index range instead of a scan of the namespace (ADR 0019). Built
    // inside the migration transaction (not CONCURRENTLY): writes to the state wait for it.
    sql: (s) => `
      CREATE INDEX state_by_updated ON ${s}.state (namespace, updated_at, key);
    `,
  },
  {
    version: 6,
    name: 'failed attempts and handled counts',
    // A retry and a dead letter keep their failed attempts (JSON text, the last 20), written
    // with the failure; NULL in older rows reads as no history. Acknowledgements per
    // subscription are counted by the flushes that settle them. Nothing is filled in: an
    // upgraded schema starts counting at the upgrade (ADR 0021).
    sql: (s) => `
      ALTER TABLE ${s}.consumer_retries ADD COLUMN attempts text;
      ALTER TABLE ${s}.dead_letters ADD COLUMN attempts text;
      CREATE TABLE ${s}.consumer_counts (
        consumer text   COLLATE "C" PRIMARY KEY,
        handled  bigint NOT NULL
      );
    `,
  },
  {
    version: 7,
    name: 'recovered deliveries',
    // The failed attempts of an event a subscription then handled, moved here from its retry
    // row by the statement of the flush that deletes that row; keyed by position first, so
    // retention deletes them with their events and a correlation's are found from its events
    // (ADR 0023). Retries handled before the upgrade left nothing to fill in.
    sql: (s) => `
      CREATE TABLE ${s}.consumer_recovered (
        seq             bigint  NOT NULL,
        consumer        text    COLLATE "C" NOT NULL,
        retries         integer NOT NULL,
        first_failed_at bigint  NOT NULL,
        attempts        text,
        handled_attempt integer NOT NULL,
        handled_at      bigint  NOT NULL,
        PRIMARY KEY (seq, consumer)
      );
    `,
  },
];

/**
 * Applies every migration not yet recorded, in one transaction under an advisory lock keyed
 * by the schema name; returns the versions applied. `sql` must be a dedicated connection.
 * A schema with a version this build does not know is refused and the transaction rolled
 * back: nothing is written.
 * @throws AgentbusError `SCHEMA_TOO_NEW` naming `database`
 */
export async function migratePostgres(
  sql: Sql,
  schema: string,
  quotedSchema: string,
  now: number,
  database: string,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
  onMigrate?: MigrationListener,
): Promise<number[]> {
  const s = quotedSchema;
  await sql.rows({ text: 'BEGIN' });
  try {
    await sql.rows({ text: 'SELECT pg_advisory_xact_lock(hashtext($1))' }, [`agentbus.migrate:${schema}`]);
    await sql.rows({ text: `CREATE SCHEMA IF NOT EXISTS ${s}` });
    await sql.rows({
      text: `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
    });
    const rows = await sql.rows<{ version: number }>({ text: `SELECT version FROM ${s}.schema_migrations` });
    const recorded = rows.map((r) => Number(r.version));
    refuseNewerSchema(
      database,
      recorded,
      migrations.map((m) => m.version),
    );
    const applied = new Set(recorded);
    const done: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      tellMigration(onMigrate, recorded, { database, version: migration.version, name: migration.name });
      await sql.rows({ text: migration.sql(s) });
      await sql.rows({ text: `INSERT INTO ${s}.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)` }, [
        migration.version,
        migration.name,
        now,
      ]);
      done.push(migration.version);
    }
    await sql.rows({ text: 'COMMIT' });
    return done;
  } catch (error) {
    await sql.rows({ text: 'ROLLBACK' }).catch(() => {});
    throw error;
  }
}
