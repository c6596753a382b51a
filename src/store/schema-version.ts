/**
 * The refusal both stores share when a database's schema was written by a newer agentbus:
 * after a rollback, an older binary would otherwise write to tables it does not understand.
 */
import { AgentbusError } from '../errors.js';

/**
 * Refuses with `SCHEMA_TOO_NEW` when `recorded` (the versions in the database's
 * `schema_migrations`) holds one missing from `known` (this build's migrations). `database`
 * names it for the message: a file path, or a redacted URL and schema.
 * @throws AgentbusError `SCHEMA_TOO_NEW`, with `database`, `version` (the newest recorded),
 *   `knownVersion` (the newest known) and `unknownVersions` in its details.
 */
export function refuseNewerSchema(database: string, recorded: readonly number[], known: readonly number[]): void {
  const knownSet = new Set(known);
  const unknown = recorded.filter((v) => !knownSet.has(v)).sort((a, b) => a - b);
  if (unknown.length === 0) return;
  const version = Math.max(...recorded);
  const knownVersion = Math.max(0, ...known);
  throw new AgentbusError(
    'SCHEMA_TOO_NEW',
    `${database} has schema version ${version}, but this agentbus knows versions up to ${knownVersion}: ` +
      'a newer agentbus wrote it. Upgrade agentbus to that version (or newer) to open it; nothing was written.',
    { database, version, knownVersion, unknownVersions: unknown },
  );
}

/** A migration about to be applied to a database that already had a schema (an upgrade). */
export interface MigrationStep {
  /** The database, as errors name it: a file path, or a redacted URL and schema. */
  readonly database: string;
  /** The newest version the database had before this run. */
  readonly from: number;
  readonly version: number;
  readonly name: string;
}

/**
 * Told before each migration of an upgrade (not when a new database is created), so that a
 * long one (an index over millions of rows) does not look like a hang.
 */
export type MigrationListener = (step: MigrationStep) => void;

/** Calls `listener` for an upgrade step; a listener that throws never stops the migration. */
export function tellMigration(
  listener: MigrationListener | undefined,
  recorded: readonly number[],
  step: Omit<MigrationStep, 'from'>,
): void {
  if (!listener || recorded.length === 0) return;
  try {
    listener({ ...step, from: Math.max(...recorded) });
  } catch {
    // Progress output only.
  }
}
