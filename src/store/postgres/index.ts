/**
 * The PostgreSQL EventStore. `pg` is loaded by `openPostgresStore`, never by importing this
 * module's dependants, so the SQLite default never loads it.
 */
export { openPostgresStore, PostgresEventStore } from './postgres-store.js';
export type { PostgresStoreOptions } from './postgres-store.js';
export { POSTGRES_MIGRATIONS } from './migrations.js';
export type { PostgresMigration } from './migrations.js';
