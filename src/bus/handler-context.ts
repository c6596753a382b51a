/**
 * What a handler receives besides the envelope: publishing that joins the handler's
 * acknowledgement (one transaction), the attempt number, an abort signal, lease extension.
 */
import type { Envelope, JsonValue, PublishInput } from '../envelope/envelope.js';
import type { EnvelopeWithText } from '../envelope/validate.js';
import { AgentbusError } from '../errors.js';
import type { StateIncrement } from '../store/event-store.js';

/** Options of `ctx.publish`; correlation, causation and source come from the context. */
export type ContextPublishOptions = Partial<Omit<PublishInput, 'type' | 'payload'>>;

/** The second argument of every handler. */
export interface HandlerContext {
  /** The subscription (consumer group) delivering this event. */
  readonly subscription: string;
  /** The event's position in the log. */
  readonly seq: number;
  /** 1 for the first delivery, 2 for the first retry, ... */
  readonly attempt: number;
  /** Aborted when the handler's timeout passes or the bus closes. */
  readonly signal: AbortSignal;
  /**
   * Publishes an event caused by this one: `source` is the subscription's source,
   * `correlation_id` the incoming one, `causation_id` the incoming id, `topic` the incoming
   * topic unless given. The event is committed together with this delivery's
   * acknowledgement, and discarded if the handler fails.
   * @example await ctx.publish('APIDesignStarted', { task_id: 'T1' })
   */
  publish<P extends JsonValue = JsonValue>(type: string, payload?: P, options?: ContextPublishOptions): Promise<Envelope<P>>;
  /** Extends this delivery's lease: call it during long work. */
  working(): Promise<void>;
}

/** Builds and validates an envelope (the bus's publish path). */
export type EnvelopeFactory = (input: PublishInput) => EnvelopeWithText;

/** What a context is made of; the dispatcher keeps one per subscription and varies the rest. */
export interface ContextArgs {
  envelope: Envelope;
  subscription: string;
  seq: number;
  attempt: number;
  signal: AbortSignal;
  source: string;
  createEnvelope: EnvelopeFactory;
  working: () => Promise<void>;
  /** The traceparent for published events (the active span's); default: the incoming one. */
  traceparent?: () => string | undefined;
  /** Ids for published events that stay the same across redeliveries (see `Delivery.effectId`). */
  effectId?: (label: string) => string;
}

const NOTHING_STAGED: EnvelopeWithText[] = [];

const NO_COUNTERS: StateIncrement[] = [];

/** The dispatcher's side of a context, out of the handler's reach (set in Context's static block). */
let sealContext: (context: Context) => void;
let stagedOf: (context: Context) => EnvelopeWithText[];
let countersOf: (context: Context) => StateIncrement[];
let addCounter: (context: Context, counter: StateIncrement) => void;

/**
 * One object per delivery, its methods on the prototype: a handler that publishes nothing
 * costs no closures and no staging array (deliveries are the hot path). What the handler
 * sees is only {@link HandlerContext}.
 */
class Context implements HandlerContext {
  readonly subscription: string;
  readonly seq: number;
  readonly attempt: number;
  readonly signal: AbortSignal;
  #staged: EnvelopeWithText[] = NOTHING_STAGED;
  #counters: StateIncrement[] = NO_COUNTERS;
  #sealed = false;
  readonly #args: ContextArgs;

  static {
    sealContext = (context) => {
      context.#sealed = true;
    };
    stagedOf = (context) => context.#staged;
    countersOf = (context) => context.#counters;
    addCounter = (context, counter) => {
      if (context.#sealed) throw new AgentbusError('CLOSED', 'a counter added after the handler finished');
      if (context.#counters === NO_COUNTERS) context.#counters = [];
      context.#counters.push(counter);
    };
  }

  constructor(args: ContextArgs) {
    this.#args = args;
    this.subscription = args.subscription;
    this.seq = args.seq;
    this.attempt = args.attempt;
    this.signal = args.signal;
  }

  working(): Promise<void> {
    return this.#args.working();
  }

  async publish<P extends JsonValue>(type: string, payload?: P, options: ContextPublishOptions = {}): Promise<Envelope<P>> {
    const args = this.#args;
    if (this.#sealed) {
      throw new AgentbusError(
        'CLOSED',
        `ctx.publish(${type}) after the handler of ${args.subscription} finished or timed out; publish before returning`,
      );
    }
    const incoming = args.envelope;
    const traceparent = args.traceparent ? args.traceparent() : incoming.event.traceparent;
    const item = args.createEnvelope({
      source: args.source,
      correlationId: incoming.event.correlation_id,
      causationId: incoming.event.id,
      ...(traceparent ? { traceparent } : {}),
      ...options,
      ...(options.id === undefined && args.effectId ? { id: args.effectId(String(this.#staged.length)) } : {}),
      topic: options.topic ?? incoming.routing.topic,
      type,
      ...(payload === undefined ? {} : { payload }),
    });
    if (this.#staged === NOTHING_STAGED) this.#staged = [];
    this.#staged.push(item);
    return item.envelope as Envelope<P>;
  }
}

/** A handler's context. */
export function createHandlerContext(args: ContextArgs): HandlerContext {
  return new Context(args);
}

/** After this, `ctx.publish` refuses: the handler's outcome is decided. */
export function sealHandlerContext(ctx: HandlerContext): void {
  sealContext(ctx as Context);
}

/** The events the handler published through `ctx`, to commit with its acknowledgement. */
export function stagedEvents(ctx: HandlerContext): EnvelopeWithText[] {
  return stagedOf(ctx as Context);
}

/**
 * For runtimes built on the bus (the agents' chain budget): increases a counter of the state
 * area with this delivery's acknowledgement, in its transaction where the transport can; not
 * at all when the handler fails.
 * @internal
 */
export function countWithAck(ctx: HandlerContext, counter: StateIncrement): void {
  addCounter(ctx as Context, counter);
}

/** The counters {@link countWithAck} added, to commit with the acknowledgement. */
export function ackCounters(ctx: HandlerContext): StateIncrement[] {
  return countersOf(ctx as Context);
}
