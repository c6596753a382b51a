export { DEFAULT_DB_PATH, openSqliteStore, SqliteEventStore } from './sqlite-store.js';
export type { SqliteStoreOptions, SqliteSynchronous } from './sqlite-store.js';
