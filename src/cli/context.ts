/**
 * What every command shares: the global options (`--db`, `--json`) and opening the bus on
 * the chosen database.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { type Bus, createBus } from '../bus/index.js';
import { AgentbusError } from '../errors.js';

/** The options every command accepts. */
export interface GlobalOptions {
  /** SQLite database file. @default env AGENTBUS_DB, else ".agentbus/agentbus.db" */
  readonly db: string;
  /** Machine-readable output. @default false */
  readonly json: boolean;
}

/** Reads the global options as seen by `command` (given before or after the command name). */
export function globalOptions(command: Command): GlobalOptions {
  const all = command.optsWithGlobals<{ db: string; json?: boolean }>();
  return { db: all.db, json: all.json === true };
}

/**
 * Opens the bus on `db`, runs `fn`, and closes the bus whatever happens.
 * With `mustExist`, a missing database is refused instead of created: reading commands
 * never leave an empty database behind a mistyped path.
 * @throws AgentbusError `NOT_FOUND` when `mustExist` and there is no file at `db`.
 */
export async function withBus<T>(db: string, fn: (bus: Bus) => Promise<T>, options: { mustExist?: boolean } = {}): Promise<T> {
  if (options.mustExist && db !== ':memory:' && !existsSync(db)) {
    throw new AgentbusError(
      'NOT_FOUND',
      `--db: no agentbus database at ${db} (publish an event first, or pass --db / AGENTBUS_DB)`,
      {
        field: '--db',
        path: db,
      },
    );
  }
  const bus = await createBus({ path: db });
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}
