/**
 * The command bus: exactly one handler per command type, request and reply over the bus.
 *
 * A command is an event of kind `command` on `<prefix>.<Type>`, kept in history and expiring
 * at the sender's timeout. The handler runs in a durable subscription (one consumer group per
 * command type, so handlers of the same type in several processes split the work). Its reply
 * (`CommandSucceeded` or `CommandFailed`, caused by the command) is committed together with
 * the command's acknowledgement and the events the handler published; the sender finds it by
 * causation, woken by the store's change feed, whichever process wrote it.
 */
import type { Bus, Subscription } from '../bus/bus.js';
import type { HandlerContext } from '../bus/handler-context.js';
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { AgentbusError, invalidField } from '../errors.js';
import { positiveDuration } from '../time.js';
import { type StagedPublish, stagingContext } from './staging-context.js';
import { typeToken, validateMessageType, validateTopicPrefix } from './names.js';
import { type RemoteErrorData, fromRemoteError, toRemoteError } from './remote-error.js';
import type { ReplyWaiter } from './reply-waiter.js';

/** Type of the reply to a command that succeeded. */
export const COMMAND_SUCCEEDED = 'CommandSucceeded';
/** Type of the reply to a command whose handler threw. */
export const COMMAND_FAILED = 'CommandFailed';

/**
 * Handles one command type. Returns the result `send` resolves with (JSON); throwing an
 * AgentbusError or NonRetryableError makes `send` throw one with the same code.
 * `ctx.publish` stages events that commit with the reply, and only if the handler succeeds.
 */
export type CommandHandler<P = JsonValue, R = unknown> = (command: Envelope<P>, ctx: HandlerContext) => R | Promise<R>;

/** Options of `commands.register`. */
export interface RegisterCommandOptions {
  /** Commands of this type handled at once in this process. @default 1 */
  concurrency?: number;
  /** `source` of the replies and of events the handler publishes. @default the bus's source */
  source?: string;
  /** How long a command stays leased to a handler process that stopped renewing it (crashed). @default "30s" */
  ackWait?: string | number;
}

/** Options of `commands.send`. */
export interface SendCommandOptions {
  /** How long to wait for the reply; the command expires then. @default the bus's command timeout, "30s" */
  timeout?: string | number;
  /** @default the command's own id */
  correlationId?: string;
  /** @default null */
  causationId?: string | null;
  /** @default the bus's source */
  source?: string;
  /** Ordering key of the command. */
  partitionKey?: string;
}

/** A registered handler. */
export interface CommandRegistration {
  readonly commandType: string;
  /** Stops handling in this process; the consumer group stays for the other processes. */
  close(): Promise<void>;
}

/** The command bus at `bus.commands`. */
export interface CommandBus {
  /**
   * Handles `commandType` in this process.
   * @throws AgentbusError `OPTIONS_INVALID` for a bad type, or when this process already has a handler for it.
   * @example await bus.commands.register('CreateUserCommand', async (cmd) => ({ id: cmd.payload.id }))
   */
  register<P = JsonValue, R = unknown>(
    commandType: string,
    handler: CommandHandler<P, R>,
    options?: RegisterCommandOptions,
  ): Promise<CommandRegistration>;
  /**
   * Sends a command and resolves with its handler's result.
   * @throws AgentbusError `TIMEOUT` when no reply came in time, `NO_HANDLER` when no handler
   *   took the command, the handler's own code when it failed (`HANDLER_FAILED` for a plain Error),
   *   or a NonRetryableError with the handler's code.
   * @example const user = await bus.commands.send('CreateUserCommand', { name: 'Ada' }, { timeout: '5s' })
   */
  send<R = unknown, P extends JsonValue = JsonValue>(commandType: string, payload: P, options?: SendCommandOptions): Promise<R>;
}

/** Settings of the command bus. */
export interface CommandBusSettings {
  /** First tokens of command topics: `<prefix>.<Type>`. @default "commands" */
  readonly topicPrefix: string;
  /** @default 30000 */
  readonly defaultTimeoutMs: number;
  readonly defaultSource: string;
  readonly now: () => number;
  readonly newId: () => string;
}

/** The durable consumer group that handles `commandType`. */
export function commandGroup(commandType: string): string {
  return `commands/${commandType}`;
}

/** Parses a timeout option: a positive duration. @throws AgentbusError `OPTIONS_INVALID` naming `field`. */
export function parseTimeout(value: unknown, fallback: number, field = 'timeout'): number {
  return positiveDuration(value, field, fallback);
}

/** Creates the command bus of `bus`. */
export function createCommandBus(
  bus: Bus,
  waiter: ReplyWaiter,
  settings: CommandBusSettings,
): CommandBus & {
  close(): Promise<void>;
} {
  const prefix = validateTopicPrefix(settings.topicPrefix, 'commands.topicPrefix');
  const registered = new Map<string, Subscription>();
  const topicOf = (type: string) => `${prefix}.${typeToken(type)}`;
  const replyTopicOf = (type: string) => `${topicOf(type)}.reply`;

  const register: CommandBus['register'] = async (commandType, handler, options = {}) => {
    const type = validateMessageType(commandType, 'commandType');
    if (typeof handler !== 'function') throw invalidField('OPTIONS_INVALID', 'handler', 'must be a function');
    if (registered.has(type)) {
      throw invalidField(
        'OPTIONS_INVALID',
        'commandType',
        `${type} already has a handler in this process (one per command type)`,
      );
    }
    const source = options.source ?? settings.defaultSource;
    const replyTopic = replyTopicOf(type);
    const subscription = await bus.subscribe({
      name: commandGroup(type),
      topic: topicOf(type),
      filter: { event: { type: [type] } },
      start: 'latest',
      source,
      // Failures are replies, not retries; a crashed handler's lease still lapses to another member.
      retry: { max_retries: 0 },
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.ackWait === undefined ? {} : { ackWait: options.ackWait }),
      handler: async (envelope, ctx) => {
        const staged: StagedPublish[] = [];
        const handlerCtx = stagingContext(ctx, envelope, staged, { source, newId: settings.newId, now: settings.now });
        let reply: { type: string; payload: JsonValue };
        try {
          const result = await handler(envelope as Envelope<never>, handlerCtx);
          reply = { type: COMMAND_SUCCEEDED, payload: { command_type: type, result: toJson(result) } };
        } catch (error) {
          reply = { type: COMMAND_FAILED, payload: { command_type: type, error: toRemoteError(error) } };
          staged.length = 0;
        }
        try {
          for (const s of staged) await ctx.publish(s.type, s.payload, s.options);
        } catch (error) {
          reply = { type: COMMAND_FAILED, payload: { command_type: type, error: toRemoteError(error) } };
        }
        await ctx.publish(reply.type, reply.payload, { topic: replyTopic, kind: 'event' });
      },
    });
    registered.set(type, subscription);
    return {
      commandType: type,
      close: async () => {
        if (registered.get(type) !== subscription) return;
        registered.delete(type);
        await subscription.close();
      },
    };
  };

  const send: CommandBus['send'] = async <R, P extends JsonValue>(
    commandType: string,
    payload: P,
    options: SendCommandOptions = {},
  ): Promise<R> => {
    const type = validateMessageType(commandType, 'commandType');
    if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
    const timeoutMs = parseTimeout(options.timeout, settings.defaultTimeoutMs);
    const command = await bus.publish({
      topic: topicOf(type),
      type,
      kind: 'command',
      payload: payload ?? {},
      expiresAt: new Date(settings.now() + timeoutMs).toISOString(),
      ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
      ...(options.causationId === undefined ? {} : { causationId: options.causationId }),
      ...(options.source === undefined ? {} : { source: options.source }),
      ...(options.partitionKey === undefined ? {} : { partitionKey: options.partitionKey }),
    });
    const id = command.event.id;
    const reply = await waiter.wait(id, { topic: replyTopicOf(type), types: [COMMAND_SUCCEEDED, COMMAND_FAILED] }, timeoutMs);
    if (!reply && waiter.closed) throw new AgentbusError('CLOSED', `the bus closed before command ${type} got its reply`);
    if (!reply) throw await noReply(bus, type, id, timeoutMs);
    const body = reply.envelope.payload as { result?: JsonValue; error?: RemoteErrorData };
    if (reply.envelope.event.type === COMMAND_FAILED) {
      throw fromRemoteError(body.error ?? toRemoteError(new Error('no error given')), { kind: 'command', type });
    }
    return (body.result ?? null) as R;
  };

  return {
    register,
    send,
    close: async () => {
      const subscriptions = [...registered.values()];
      registered.clear();
      await Promise.all(subscriptions.map((s) => s.close()));
    },
  };
}

/** A handler's result as reply JSON: undefined becomes null; anything not JSON is refused. */
function toJson(value: unknown): JsonValue {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  if (text === undefined) throw new AgentbusError('HANDLER_FAILED', 'the command handler returned a value that is not JSON');
  return JSON.parse(text) as JsonValue;
}

/**
 * No reply in time: `NO_HANDLER` when no handler took the command (no consumer group for the
 * type, or one that is idle and never reached it), else `TIMEOUT`.
 */
async function noReply(bus: Bus, type: string, id: string, timeoutMs: number): Promise<AgentbusError> {
  const [group, stored] = await Promise.all([
    bus.subscriptions.get(commandGroup(type)).catch(() => undefined),
    bus.store.get(id).catch(() => undefined),
  ]);
  const seq = stored?.seq ?? Number.POSITIVE_INFINITY;
  const untaken = !group || group.paused || (group.nextSeq <= seq && group.inFlight === 0);
  if (untaken) {
    return new AgentbusError(
      'NO_HANDLER',
      `no handler took command ${type} within ${timeoutMs} ms: register one with bus.commands.register('${type}', handler) in a running process`,
      { commandType: type, commandId: id, timeoutMs },
    );
  }
  return new AgentbusError('TIMEOUT', `command ${type} got no reply within ${timeoutMs} ms`, {
    commandType: type,
    commandId: id,
    timeoutMs,
  });
}
