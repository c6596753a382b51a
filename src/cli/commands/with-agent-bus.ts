/**
 * Opening the bus with its CQRS layer for the `send` and `projections` commands, on the
 * backends the global options choose, like `withBus` does for the others.
 */
import { existsSync } from 'node:fs';
import { type AgentBus, createBus } from '../../agentbus.js';
import { AgentbusError } from '../../errors.js';
import { type BusTarget, busOptionsOf } from '../context.js';

/**
 * Opens the bus `target` chooses, runs `fn`, closes the bus whatever happens.
 * @throws AgentbusError `NOT_FOUND` when `mustExist` and there is no SQLite database at the path.
 */
export async function withAgentBus<T>(
  target: string | BusTarget,
  fn: (bus: AgentBus) => Promise<T>,
  options: { mustExist?: boolean } = {},
): Promise<T> {
  const { options: busOptions, sqlitePath } = await busOptionsOf(target);
  if (options.mustExist && sqlitePath !== undefined && sqlitePath !== ':memory:' && !existsSync(sqlitePath)) {
    throw new AgentbusError('NOT_FOUND', `--db: no agentbus database at ${sqlitePath} (pass --db or AGENTBUS_DB)`, {
      field: '--db',
      path: sqlitePath,
    });
  }
  const bus = await createBus(busOptions);
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}
