/**
 * The user-facing bus: a {@link Bus} with the CQRS layer attached, `bus.commands`,
 * `bus.queries`, `bus.streams` and `bus.projections`. The bus layer never imports cqrs/;
 * this module sits above both and assembles them (docs/adr/0005-cqrs-on-top-of-the-bus.md).
 */
import { type Bus, type BusOptions, createBus as openBus } from './bus/bus.js';
import {
  type CommandBus,
  type EventStreams,
  type Projections,
  type QueryBus,
  ReplyWaiter,
  createCommandBus,
  createEventStreams,
  createProjections,
  createQueryBus,
} from './cqrs/index.js';
import { positiveInteger, validateTopicPrefix } from './cqrs/names.js';
import { parseTimeout } from './cqrs/command-bus.js';
import { createIdGenerator } from './envelope/ids.js';
import { invalidField, refuseUnknownKeys } from './errors.js';

/** CQRS settings of {@link createBus}. */
export interface CqrsOptions {
  /** First tokens of command topics: a command `T` travels on `<prefix>.T`. @default "commands" */
  commandTopicPrefix?: string;
  /** How long `commands.send` waits for the reply unless told. @default "30s" */
  commandTimeout?: string | number;
  /** How long `queries.ask` waits for the answer unless told. @default "10s" */
  queryTimeout?: string | number;
  /** `streams.load` stores a snapshot every this many events; 0 turns snapshots off. @default 100 */
  snapshotEvery?: number;
}

/** Options of {@link createBus}: the bus's options plus the CQRS settings. */
export interface AgentBusOptions extends BusOptions {
  cqrs?: CqrsOptions;
}

/** A bus with commands, queries, event-sourced streams and projections. */
export interface AgentBus extends Bus {
  /** Command bus: one handler per command type, request and reply over the bus. */
  readonly commands: CommandBus;
  /** Query bus: request and reply against read models, never writing events. */
  readonly queries: QueryBus;
  /** Streams with versions for event-sourced aggregates, with snapshots. */
  readonly streams: EventStreams;
  /** Persistent, checkpointed, rebuildable read models. */
  readonly projections: Projections;
}

const SYSTEM_CLOCK = { now: () => Date.now() };
const CQRS_OPTIONS: ReadonlySet<string> = new Set(['commandTopicPrefix', 'commandTimeout', 'queryTimeout', 'snapshotEvery']);

/**
 * Opens a bus with the CQRS layer. With no options it uses `.agentbus/agentbus.db` in the
 * working directory.
 *
 * @throws AgentbusError `OPTIONS_INVALID` naming the field.
 * @example
 * const bus = await createBus({ path: 'agentbus.db' })
 * await bus.commands.register('CreateUserCommand', async (cmd) => {
 *   const id = `user-${cmd.payload.email}`
 *   await bus.streams.append(id, [{ type: 'UserCreatedEvent', payload: cmd.payload }], { expectedVersion: 'no_stream' })
 *   return { id }
 * })
 * const { id } = await bus.commands.send('CreateUserCommand', { email: 'ada@example.com' })
 */
export async function createBus(options: AgentBusOptions = {}): Promise<AgentBus> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  }
  const { cqrs = {}, ...busOptions } = options;
  refuseUnknownKeys(cqrs, CQRS_OPTIONS, 'cqrs.');
  const commandTimeout = parseTimeout(cqrs.commandTimeout, 30_000, 'cqrs.commandTimeout');
  const queryTimeout = parseTimeout(cqrs.queryTimeout, 10_000, 'cqrs.queryTimeout');
  const snapshotEvery = positiveInteger(cqrs.snapshotEvery, 'cqrs.snapshotEvery', 100, 0);
  const commandTopicPrefix = validateTopicPrefix(cqrs.commandTopicPrefix ?? 'commands', 'cqrs.commandTopicPrefix');
  const bus = await openBus(busOptions);
  const clock = options.clock ?? SYSTEM_CLOCK;
  const now = () => clock.now();
  const newId = createIdGenerator({ clock });
  const defaultSource = options.source ?? '/agentbus';
  try {
    const waiter = new ReplyWaiter(bus.store);
    const commands = createCommandBus(bus, waiter, {
      topicPrefix: commandTopicPrefix,
      defaultTimeoutMs: commandTimeout,
      defaultSource,
      now,
      newId,
    });
    const queries = createQueryBus(bus, { defaultTimeoutMs: queryTimeout, now, newId });
    const streams = createEventStreams(bus.store, { snapshotEvery, now, newId, defaultSource, limits: options.limits });
    const projections = createProjections(bus.store, now);
    const closeBus = bus.close.bind(bus);
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        waiter.close();
        await Promise.all([commands.close(), queries.close(), projections.close()]);
        await closeBus();
      })();
      return closing;
    };
    return Object.assign(bus, { commands, queries, streams, projections, close });
  } catch (error) {
    await bus.close();
    throw error;
  }
}
