/**
 * W3C trace context through the envelope (`event.traceparent`) and spans through
 * `@opentelemetry/api` with the messaging semantic conventions: a `publish <topic>` producer
 * span per event published outside a handler, a `process <topic>` consumer span per handler
 * run (child of the event's traceparent), and `ctx.publish` carrying the active span on.
 *
 * Free when unused: the API is loaded (`await import`) only once an OpenTelemetry SDK or
 * context manager has registered itself in the API's process-wide slot; until then no span
 * is made and traceparents pass through unchanged. See docs/adr/0009-observability-counts-and-lazy-tracing.md.
 */
import type * as OtelApi from '@opentelemetry/api';
import type { Envelope } from '../envelope/envelope.js';

type Api = typeof OtelApi;

/** Where `@opentelemetry/api` 1.x keeps its registered globals (shared by every copy of the API). */
const GLOBAL_KEY = Symbol.for('opentelemetry.js.api.1');
const TRACER_NAME = 'agentbus';
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-|$)/;

let api: Api | undefined;
let loading: Promise<void> | undefined;

/** True when an SDK (tracer provider) or a context manager registered with the API. */
function registered(): boolean {
  const slot = (globalThis as Record<symbol, { trace?: unknown; context?: unknown } | undefined>)[GLOBAL_KEY];
  return slot !== undefined && (slot.trace !== undefined || slot.context !== undefined);
}

/**
 * Loads `@opentelemetry/api` if an SDK registered itself; resolves at once otherwise.
 * `createBus` awaits it, so a provider registered before the bus traces from the first event.
 */
export function loadTracing(): Promise<void> {
  if (api || !registered()) return Promise.resolve();
  loading ??= import('@opentelemetry/api').then(
    (m) => {
      api = m;
    },
    () => {
      // Not installed: tracing stays off.
    },
  );
  return loading;
}

/** True when spans are made (an OpenTelemetry SDK is registered and the API loaded). */
export function tracingOn(): boolean {
  return tracingApi() !== undefined;
}

/** The API when tracing is on; starts loading it when an SDK appeared since. */
function tracingApi(): Api | undefined {
  if (api) return api;
  if (loading === undefined && registered()) void loadTracing();
  return undefined;
}

function format(sc: OtelApi.SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The remote span context of a traceparent, or undefined when it is absent or invalid. */
function parse(a: Api, traceparent: string | undefined): OtelApi.SpanContext | undefined {
  const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
  if (!m) return undefined;
  const sc = { traceId: m[2] as string, spanId: m[3] as string, traceFlags: Number.parseInt(m[4] as string, 16), isRemote: true };
  return a.isSpanContextValid(sc) ? sc : undefined;
}

/** A producer span around one publish. */
export interface PublishTrace {
  /** The traceparent to put in the envelope: the producer span's context. */
  readonly traceparent: string | undefined;
  end(error?: unknown): void;
}

/**
 * Starts a `publish <topic>` producer span under the active context, for an event published
 * without a traceparent. Undefined when tracing is off or the event has one already.
 */
export function startPublishTrace(topic: string, given: string | undefined): PublishTrace | undefined {
  const a = given === undefined ? tracingApi() : undefined;
  if (!a) return undefined;
  const span = a.trace.getTracer(TRACER_NAME).startSpan(`publish ${topic}`, { kind: a.SpanKind.PRODUCER });
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': TRACER_NAME,
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': topic,
    });
  }
  const sc = span.spanContext();
  return {
    traceparent: a.isSpanContextValid(sc) ? format(sc) : undefined,
    end: (error) => endSpan(a, span, error),
  };
}

/** A consumer span around one handler run. */
export interface ProcessTrace {
  /** Runs `fn` with the consumer span as the active span. */
  run<T>(fn: () => T): T;
  /** The traceparent for events the handler publishes: the active span's, else the consumer span's. */
  traceparent(): string | undefined;
  end(error?: unknown): void;
}

/**
 * Starts a `process <topic>` consumer span, child of the event's traceparent. Undefined when
 * tracing is off: the handler then runs as is and `ctx.publish` passes the traceparent on.
 */
export function startProcessTrace(envelope: Envelope, subscription: string, attempt: number): ProcessTrace | undefined {
  const a = tracingApi();
  if (!a) return undefined;
  const { event, routing } = envelope;
  const remote = parse(a, event.traceparent);
  const parent = remote ? a.trace.setSpanContext(a.ROOT_CONTEXT, remote) : a.context.active();
  const span = a.trace.getTracer(TRACER_NAME).startSpan(`process ${routing.topic}`, { kind: a.SpanKind.CONSUMER }, parent);
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': TRACER_NAME,
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': routing.topic,
      'messaging.consumer.group.name': subscription,
      'messaging.message.id': event.id,
      'messaging.message.conversation_id': event.correlation_id,
      'agentbus.event.type': event.type,
      'agentbus.delivery.attempt': attempt,
    });
  }
  const active = a.trace.setSpan(parent, span);
  const own = span.spanContext();
  return {
    run: (fn) => a.context.with(active, fn),
    traceparent: () => {
      const current = a.trace.getSpanContext(a.context.active());
      if (current && a.isSpanContextValid(current)) return format(current);
      return a.isSpanContextValid(own) ? format(own) : event.traceparent;
    },
    end: (error) => endSpan(a, span, error),
  };
}

function endSpan(a: Api, span: OtelApi.Span, error: unknown): void {
  if (error !== undefined && span.isRecording()) {
    const e = error instanceof Error ? error : new Error(String(error));
    span.recordException(e);
    span.setStatus({ code: a.SpanStatusCode.ERROR, message: e.message });
  }
  span.end();
}
