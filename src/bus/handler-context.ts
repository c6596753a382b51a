/**
 * What a handler receives besides the envelope: publishing that joins the handler's
 * acknowledgement (one transaction), the attempt number, an abort signal, lease extension.
 */
import type { Envelope, JsonValue, PublishInput } from '../envelope/envelope.js';
import type { EnvelopeWithText } from '../envelope/validate.js';
import { AgentbusError } from '../errors.js';

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

/** A context plus the events it staged. */
export interface StagedContext {
  readonly ctx: HandlerContext;
  readonly staged: EnvelopeWithText[];
  /** After this, `ctx.publish` refuses: the handler's outcome is decided. */
  seal(): void;
}

export function createHandlerContext(args: {
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
}): StagedContext {
  const staged: EnvelopeWithText[] = [];
  let sealed = false;
  const incoming = args.envelope;
  const ctx: HandlerContext = {
    subscription: args.subscription,
    seq: args.seq,
    attempt: args.attempt,
    signal: args.signal,
    working: args.working,
    async publish<P extends JsonValue>(type: string, payload?: P, options: ContextPublishOptions = {}) {
      if (sealed) {
        throw new AgentbusError(
          'CLOSED',
          `ctx.publish(${type}) after the handler of ${args.subscription} finished or timed out; publish before returning`,
        );
      }
      const traceparent = args.traceparent ? args.traceparent() : incoming.event.traceparent;
      const item = args.createEnvelope({
        source: args.source,
        correlationId: incoming.event.correlation_id,
        causationId: incoming.event.id,
        ...(traceparent ? { traceparent } : {}),
        ...options,
        topic: options.topic ?? incoming.routing.topic,
        type,
        ...(payload === undefined ? {} : { payload }),
      });
      staged.push(item);
      return item.envelope as Envelope<P>;
    },
  };
  return {
    ctx,
    staged,
    seal: () => {
      sealed = true;
    },
  };
}
