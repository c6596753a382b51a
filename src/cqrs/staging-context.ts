/**
 * A handler context whose `publish` holds events back until the handler has succeeded: a
 * command that fails commits its failure reply, never the events it published on the way.
 * The envelope returned to the handler is the one that will be committed (same id and time).
 */
import type { ContextPublishOptions, HandlerContext } from '../bus/handler-context.js';
import { createEnvelope } from '../envelope/create.js';
import type { Envelope, JsonValue } from '../envelope/envelope.js';

/** An event published by a handler, held until its outcome is known. */
export interface StagedPublish {
  readonly type: string;
  readonly payload: JsonValue | undefined;
  readonly options: ContextPublishOptions;
}

/** Wraps `ctx` so that `publish` validates now and records into `staged`. */
export function stagingContext(
  ctx: HandlerContext,
  incoming: Envelope,
  staged: StagedPublish[],
  settings: { source: string; newId: () => string; now: () => number },
): HandlerContext {
  return {
    subscription: ctx.subscription,
    seq: ctx.seq,
    attempt: ctx.attempt,
    signal: ctx.signal,
    working: () => ctx.working(),
    async publish<P extends JsonValue = JsonValue>(type: string, payload?: P, options: ContextPublishOptions = {}) {
      // The same defaults as the bus's ctx.publish, so the committed copy equals this one.
      const envelope = createEnvelope<P>(
        {
          source: settings.source,
          correlationId: incoming.event.correlation_id,
          causationId: incoming.event.id,
          ...(incoming.event.traceparent ? { traceparent: incoming.event.traceparent } : {}),
          ...options,
          topic: options.topic ?? incoming.routing.topic,
          type,
          ...(payload === undefined ? {} : { payload }),
        },
        { clock: { now: settings.now }, newId: settings.newId, defaultSource: settings.source },
      );
      staged.push({ type, payload, options: { ...options, id: envelope.event.id, timestamp: envelope.event.timestamp } });
      return envelope;
    },
  };
}
