/**
 * Tracing with an SDK registered: a tiny in-test tracer provider and an AsyncLocalStorage
 * context manager stand in for the OpenTelemetry SDK (none is installed). Publish sets
 * `event.traceparent` from a producer span, the handler runs in a consumer span that is its
 * child, and `ctx.publish` carries the active span on.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Attributes,
  type Context,
  type ContextManager,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  context,
  trace,
} from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, type Envelope, NonRetryableError, createBus } from '../../src/index.js';

/** What the in-test tracer recorded of a span. */
interface Recorded {
  name: string;
  kind: SpanKind;
  context: SpanContext;
  parentSpanId: string | undefined;
  attributes: Attributes;
  status: SpanStatus;
  exceptions: unknown[];
  ended: boolean;
}

const spans: Recorded[] = [];

class TestSpan implements Span {
  constructor(readonly rec: Recorded) {}
  spanContext(): SpanContext {
    return this.rec.context;
  }
  setAttribute(key: string, value: Attributes[string]): this {
    this.rec.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.rec.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.rec.status = status;
    return this;
  }
  updateName(name: string): this {
    this.rec.name = name;
    return this;
  }
  end(): void {
    this.rec.ended = true;
  }
  isRecording(): boolean {
    return !this.rec.ended;
  }
  recordException(exception: unknown): void {
    this.rec.exceptions.push(exception);
  }
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

class TestTracer implements Tracer {
  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = options.root ? undefined : trace.getSpanContext(ctx);
    const rec: Recorded = {
      name,
      kind: options.kind ?? SpanKind.INTERNAL,
      context: { traceId: parent?.traceId ?? hex(16), spanId: hex(8), traceFlags: 1 },
      parentSpanId: parent?.spanId,
      attributes: { ...(options.attributes ?? {}) },
      status: { code: SpanStatusCode.UNSET },
      exceptions: [],
      ended: false,
    };
    spans.push(rec);
    return new TestSpan(rec);
  }
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...args: unknown[]): ReturnType<F> {
    const fn = args.at(-1) as F;
    const options = (args.length > 1 ? args[0] : {}) as SpanOptions;
    const span = this.startSpan(name, options);
    return context.with(trace.setSpan(context.active(), span), () => fn(span)) as ReturnType<F>;
  }
}

const provider: TracerProvider = { getTracer: () => new TestTracer() };

class AsyncLocalContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}

const dirs: string[] = [];
beforeAll(() => {
  // Registered before any bus exists, as an application registers its SDK at startup.
  context.setGlobalContextManager(new AsyncLocalContextManager());
  trace.setGlobalTracerProvider(provider);
});
afterAll(() => {
  trace.disable();
  context.disable();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-tracing-'));
  dirs.push(dir);
  return join(dir, 'agentbus.db');
}

const ids = (traceparent: string | undefined) => {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(traceparent ?? '');
  if (!m) throw new Error(`not a sampled W3C traceparent: ${traceparent}`);
  return { traceId: m[1] as string, spanId: m[2] as string };
};

function span(name: string): Recorded {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`expected one span ${name}, found ${found.length}: ${spans.map((s) => s.name)}`);
  return found[0] as Recorded;
}

async function waitFor<T>(fn: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('tracing with an OpenTelemetry SDK registered', () => {
  let bus: Bus | undefined;
  afterEach(async () => {
    await bus?.close();
    bus = undefined;
    spans.length = 0;
  });

  it('publishes under a producer span, child of the active span, and puts its context in event.traceparent', async () => {
    bus = await createBus({ path: freshPath() });
    const tracer = trace.getTracer('app');
    const published = await tracer.startActiveSpan('handle request', async (request) => {
      const e = await (bus as Bus).publish({ topic: 'project.tasks', type: 'FeatureStarted' });
      request.end();
      return e;
    });
    const request = span('handle request');
    const producer = span('publish project.tasks');
    expect(producer.kind).toBe(SpanKind.PRODUCER);
    expect(producer.parentSpanId).toBe(request.context.spanId);
    expect(producer.ended).toBe(true);
    expect(producer.attributes).toMatchObject({
      'messaging.system': 'agentbus',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'project.tasks',
    });
    expect(ids(published.event.traceparent)).toEqual({ traceId: request.context.traceId, spanId: producer.context.spanId });
  });

  it('keeps a traceparent given by the publisher', async () => {
    bus = await createBus({ path: freshPath() });
    const given = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const e = await bus.publish({ topic: 'project.tasks', type: 'FeatureStarted', traceparent: given });
    expect(e.event.traceparent).toBe(given);
    expect(spans.filter((s) => s.kind === SpanKind.PRODUCER)).toEqual([]);
  });

  it('runs the handler in a consumer span, child of the event, and ctx.publish continues the trace', async () => {
    bus = await createBus({ path: freshPath() });
    const received: Envelope[] = [];
    await bus.subscribe({
      name: '/backend-architect',
      topic: 'project.tasks',
      filter: 'type=FeatureStarted',
      handler: async (_e, ctx) => {
        // The handler's own work appears inside the consumer span.
        await trace.getTracer('app').startActiveSpan('design api', async (work) => {
          await ctx.publish('APIDesignStarted', {});
          work.end();
        });
        await ctx.publish('APIDesignCompleted', {});
      },
    });
    await bus.subscribe({
      name: '/python-pro',
      topic: 'project.tasks',
      filter: 'type=APIDesignCompleted',
      handler: (e) => {
        received.push(e);
      },
    });
    const root = await bus.publish({ topic: 'project.tasks', type: 'FeatureStarted', correlationId: 'feature-123' });
    await waitFor(() => received[0], 'the second hop');
    const producer = span('publish project.tasks');
    const consumers = await waitFor(() => {
      const found = spans.filter((s) => s.name === 'process project.tasks' && s.ended);
      return found.length === 2 ? found : undefined;
    }, 'two consumer spans');
    const [first, second] = consumers as [Recorded, Recorded];
    const { traceId } = ids(root.event.traceparent);
    expect(first.kind).toBe(SpanKind.CONSUMER);
    expect(first.parentSpanId).toBe(producer.context.spanId);
    expect(first.context.traceId).toBe(traceId);
    expect(first.attributes).toMatchObject({
      'messaging.system': 'agentbus',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'project.tasks',
      'messaging.consumer.group.name': '/backend-architect',
      'messaging.message.id': root.event.id,
      'messaging.message.conversation_id': 'feature-123',
    });
    // The second hop's consumer span is a child of the first handler's span, in the same trace.
    expect(second.parentSpanId).toBe(first.context.spanId);
    expect(second.context.traceId).toBe(traceId);
    expect(ids(received[0]?.event.traceparent)).toEqual({ traceId, spanId: first.context.spanId });
    // An event published inside the handler's own span carries that span.
    const work = span('design api');
    expect(work.parentSpanId).toBe(first.context.spanId);
    // Committed with the first handler's acknowledgement, before the second hop was delivered.
    const started: Envelope[] = [];
    for await (const e of bus.events({ type: 'APIDesignStarted' })) started.push(e.envelope);
    expect(started).toHaveLength(1);
    expect(ids(started[0]?.event.traceparent)).toEqual({ traceId, spanId: work.context.spanId });
  });

  it('marks the consumer span of a failed handler as an error with the exception', async () => {
    bus = await createBus({ path: freshPath(), retry: { max_retries: 0 } });
    const sub = await bus.subscribe({
      name: '/deployer',
      topic: 'deploy.prod',
      handler: () => {
        throw new NonRetryableError('manifest is invalid');
      },
    });
    await bus.publish({ topic: 'deploy.prod', type: 'DeployCommand' });
    await waitFor(() => spans.find((s) => s.name === 'process deploy.prod' && s.ended), 'the consumer span');
    await sub.idle();
    const consumer = span('process deploy.prod');
    expect(consumer.status.code).toBe(SpanStatusCode.ERROR);
    expect(consumer.status.message).toContain('manifest is invalid');
    expect(consumer.exceptions).toHaveLength(1);
  });
});
