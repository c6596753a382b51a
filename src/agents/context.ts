/**
 * The agent's handler context: the bus's context (publishing committed with the ack,
 * attempt, signal, lease extension) plus `handoff`, `checkpoint` and `log`, with every
 * published event carrying the chain-reaction guard extensions.
 */
import type { ContextPublishOptions, HandlerContext } from '../bus/handler-context.js';
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { INTEGRATION_EVENTS, SYSTEM_EVENTS, SYSTEM_TOPICS } from '../envelope/taxonomy.js';
import { invalidField } from '../errors.js';
import type { StateArea } from '../store/event-store.js';
import { validateAgentName } from './agent.js';
import { type GuardLimits, chainExtensions } from './guards.js';

/** Log levels of `ctx.log`. */
export type AgentLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One line of an agent's log, as the runtime's `log` sink receives it. */
export interface AgentLogEntry {
  readonly level: AgentLogLevel;
  readonly agent: string;
  readonly message: string;
  readonly eventId: string;
  readonly correlationId: string;
  readonly subscription: string;
  readonly fields?: Record<string, unknown>;
}

/** `ctx.log`: structured lines tagged with the agent, event and correlation. */
export interface AgentLog {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The second argument of an agent's handler. */
export interface AgentContext extends HandlerContext {
  /** The agent's name, also the `source` of what it publishes. */
  readonly agent: string;
  /** The event being handled. */
  readonly event: Envelope;
  /**
   * Publishes an event caused by this one (committed with the acknowledgement, discarded
   * on failure): `source` = the agent, `correlation_id` kept, `causation_id` = this event,
   * topic = this event's unless given, plus the guard extensions `chain_depth`, `chain_hops`.
   */
  publish<P extends JsonValue = JsonValue>(type: string, payload?: P, options?: ContextPublishOptions): Promise<Envelope<P>>;
  /**
   * Hands the work over to another agent: publishes an `AgentHandoffEvent`
   * (`{ from, to, context }`) addressed to it (`deliver_to`), on this event's topic unless given.
   * @example await ctx.handoff('/test-engineer', { reason: 'implementation done', files: 12 })
   */
  handoff(to: string, context?: JsonValue, options?: ContextPublishOptions): Promise<Envelope>;
  /**
   * Saves `data` under `name` for this agent (state area namespace `agents.checkpoints`) and
   * publishes a `CheckpointCreatedEvent` on `system.checkpoints`, committed with the ack.
   * Read it back with `readCheckpoint(store, agent, name)`.
   */
  checkpoint(name: string, data: JsonValue): Promise<Envelope>;
  readonly log: AgentLog;
}

/** The state-area namespace of checkpoints. */
export const CHECKPOINT_NAMESPACE = 'agents.checkpoints';

/** Reads a checkpoint saved with `ctx.checkpoint`. */
export async function readCheckpoint<T = JsonValue>(state: StateArea, agent: string, name: string): Promise<T | undefined> {
  return (await state.get<T>(CHECKPOINT_NAMESPACE, `${agent}/${name}`))?.value;
}

/** A context plus what it published so far (for the agent's counts). */
export interface AgentContextHandle {
  readonly ctx: AgentContext;
  published(): number;
}

/** Wraps the bus's context of one delivery into the agent's. */
export function createAgentContext(args: {
  base: HandlerContext;
  event: Envelope;
  agent: string;
  guards: GuardLimits;
  state: StateArea;
  log: (entry: AgentLogEntry) => void;
}): AgentContextHandle {
  const { base, event, agent } = args;
  let published = 0;
  const chain = chainExtensions(event, agent, args.guards);
  const publish = async <P extends JsonValue = JsonValue>(type: string, payload?: P, options: ContextPublishOptions = {}) => {
    const stored = await base.publish<P>(type, payload, {
      source: agent,
      ...options,
      extensions: { ...options.extensions, ...chain },
    });
    published++;
    return stored;
  };
  const line =
    (level: AgentLogLevel) =>
    (message: string, fields?: Record<string, unknown>): void =>
      args.log({
        level,
        agent,
        message,
        eventId: event.event.id,
        correlationId: event.event.correlation_id,
        subscription: base.subscription,
        ...(fields ? { fields } : {}),
      });
  const ctx: AgentContext = {
    subscription: base.subscription,
    seq: base.seq,
    attempt: base.attempt,
    signal: base.signal,
    working: () => base.working(),
    agent,
    event,
    publish,
    handoff: (to, context = {}, options = {}) => {
      const target = validateAgentName(to, 'to');
      return publish(INTEGRATION_EVENTS.AgentHandoff, { from: agent, to: target, context }, { ...options, deliverTo: target });
    },
    checkpoint: async (name, data) => {
      if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(name)) {
        throw invalidField('OPTIONS_INVALID', 'name', 'must be 1 to 100 letters, digits, _ . : -');
      }
      const notice = await publish(
        SYSTEM_EVENTS.CheckpointCreated,
        { agent, checkpoint: name, event_id: event.event.id, data },
        { topic: SYSTEM_TOPICS.checkpoints },
      );
      await args.state.put(CHECKPOINT_NAMESPACE, `${agent}/${name}`, data, 'any');
      return notice;
    },
    log: { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') },
  };
  return { ctx, published: () => published };
}
