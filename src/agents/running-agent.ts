/**
 * One agent running in this process: its durable subscriptions, the wrapped handler
 * (guards, counts, actions, runners), and pause / resume / stop.
 */
import type { Bus, Subscription } from '../bus/bus.js';
import { type HandlerContext, countWithAck } from '../bus/handler-context.js';
import type { Envelope } from '../envelope/envelope.js';
import { AgentbusError, isAgentbusError } from '../errors.js';
import type { AgentDefinition, AgentSubscription } from './agent.js';
import { type AgentContext, type AgentLogEntry, createAgentContext } from './context.js';
import { type GuardLimits, checkBudget, checkChain } from './guards.js';
import type { AgentCounts, AgentSubscriptionInfo } from './health.js';
import { createRunner } from './runners/create.js';
import type { AgentRunner } from './runners/runner.js';

/** The state-area namespace of per-correlation event budgets (key: correlation id). */
export const BUDGET_NAMESPACE = 'agents.budget';

/** An agent running in this process. */
export interface RunningAgent {
  readonly name: string;
  readonly definition: AgentDefinition;
  /** `running`, `paused` (its work subscriptions hold their position), or `stopped`. */
  readonly state: 'running' | 'paused' | 'stopped';
  /** Why it was paused (the event that paused it, or the caller's reason). */
  readonly reason: string | undefined;
  /** Its durable subscription names. */
  readonly subscriptions: readonly string[];
  /** This process's counts since the agent started here, and handlers running now. */
  counts(): AgentCounts & { readonly processing: number };
  /**
   * Pauses the work subscriptions (handlers, runners, forwards): durably, so every process
   * running the agent stops taking events; they keep their position. Subscriptions with the
   * `pause` and `resume` actions keep running.
   */
  pause(reason?: string): Promise<void>;
  /** Resumes: the work subscriptions catch up from where they paused. */
  resume(): Promise<void>;
  /** Stops in this process (running handlers finish); the durable subscriptions remain. */
  stop(): Promise<void>;
  /** Resolves when none of its subscriptions holds a delivery in this process. */
  idle(): Promise<void>;
}

/** What the runtime gives each agent. */
export interface AgentSettings {
  readonly guards: GuardLimits;
  readonly log: (entry: AgentLogEntry) => void;
  /** Called after a state change, so the runtime reports it at once. */
  readonly changed: () => void;
}

type Mutable = { -readonly [K in keyof AgentCounts]: number };

function isWork(sub: AgentSubscription): boolean {
  return sub.run.kind !== 'action' || sub.run.action === 'forward';
}

/** How listings describe what a subscription runs. */
export function describeRun(sub: AgentSubscription, runner: AgentRunner | undefined): string {
  if (sub.run.kind === 'action') return sub.run.action;
  if (sub.run.kind === 'handler') return 'handler';
  return runner?.type ?? 'runner';
}

/** @internal created by `AgentRuntime.start` */
export class AgentInstance implements RunningAgent {
  readonly name: string;
  readonly definition: AgentDefinition;
  readonly #bus: Bus;
  readonly #settings: AgentSettings;
  readonly #runners = new Map<string, AgentRunner>();
  readonly #running = new Map<string, Subscription>();
  readonly #counts: Mutable = { published: 0, consumed: 0, failed: 0 };
  /** What the last heartbeat reported. */
  readonly #flushed: Mutable = { published: 0, consumed: 0, failed: 0 };
  #processing = 0;
  #state: 'running' | 'paused' | 'stopped' = 'running';
  #reason: string | undefined;
  #closing: Promise<void>[] = [];
  /** Serialises pause, resume and stop. */
  #queue: Promise<void> = Promise.resolve();

  constructor(bus: Bus, definition: AgentDefinition, settings: AgentSettings) {
    this.#bus = bus;
    this.definition = definition;
    this.name = definition.name;
    this.#settings = settings;
    for (const sub of definition.subscriptions) {
      if (sub.run.kind === 'runner') this.#runners.set(sub.name, createRunner(sub.run.runner));
    }
  }

  get state(): 'running' | 'paused' | 'stopped' {
    return this.#state;
  }

  get reason(): string | undefined {
    return this.#reason;
  }

  get subscriptions(): readonly string[] {
    return this.definition.subscriptions.map((s) => s.name);
  }

  /** The subscriptions as listings show them. */
  get info(): AgentSubscriptionInfo[] {
    return this.definition.subscriptions.map((s) => ({
      name: s.name,
      topic: s.topic,
      filter: s.filterText ?? null,
      runs: describeRun(s, this.#runners.get(s.name)),
      inbox: s.inbox,
    }));
  }

  counts(): AgentCounts & { readonly processing: number } {
    return { ...this.#counts, processing: this.#processing };
  }

  /** Counts since the previous call (for heartbeats). */
  takeDelta(): AgentCounts {
    const delta = {
      published: this.#counts.published - this.#flushed.published,
      consumed: this.#counts.consumed - this.#flushed.consumed,
      failed: this.#counts.failed - this.#flushed.failed,
    };
    Object.assign(this.#flushed, this.#counts);
    return delta;
  }

  /** Gives back a delta whose heartbeat could not be written, so the next one reports it. */
  restoreDelta(delta: AgentCounts): void {
    this.#flushed.published -= delta.published;
    this.#flushed.consumed -= delta.consumed;
    this.#flushed.failed -= delta.failed;
  }

  /** Subscribes; starts paused when every work subscription is paused in the store. */
  async start(): Promise<void> {
    const work = this.definition.subscriptions.filter(isWork);
    const infos = await Promise.all(work.map((s) => this.#bus.subscriptions.get(s.name)));
    if (work.length > 0 && infos.every((i) => i?.paused === true)) {
      this.#state = 'paused';
      this.#reason = 'paused before this process started';
    }
    try {
      for (const sub of this.definition.subscriptions) {
        if (this.#state === 'paused' && isWork(sub)) continue;
        await this.#subscribe(sub);
      }
    } catch (error) {
      await Promise.all([...this.#running.values()].map((s) => s.close()));
      this.#running.clear();
      this.#state = 'stopped';
      throw error;
    }
  }

  pause(reason = 'paused'): Promise<void> {
    return this.#serial(async () => {
      if (this.#state !== 'running') return;
      const work = this.definition.subscriptions.filter(isWork);
      for (const sub of work) await this.#pauseDurably(sub.name);
      this.#state = 'paused';
      this.#reason = reason;
      // Not awaited: a handler of this agent may be the one pausing it, and closing waits for handlers.
      for (const sub of work) this.#close(sub.name);
      this.#settings.changed();
    });
  }

  resume(): Promise<void> {
    return this.#serial(async () => {
      if (this.#state !== 'paused') return;
      await Promise.all(this.#closing.splice(0));
      for (const sub of this.definition.subscriptions.filter(isWork)) {
        await this.#bus.subscriptions.resume(sub.name).catch((error: unknown) => {
          if (!isAgentbusError(error, 'NOT_FOUND')) throw error;
        });
        if (!this.#running.has(sub.name)) await this.#subscribe(sub);
      }
      this.#state = 'running';
      this.#reason = undefined;
      this.#settings.changed();
    });
  }

  stop(): Promise<void> {
    return this.#serial(async () => {
      if (this.#state === 'stopped') return;
      this.#state = 'stopped';
      for (const name of [...this.#running.keys()]) this.#close(name);
      await Promise.all(this.#closing.splice(0));
      this.#settings.changed();
    });
  }

  /**
   * Follows a pause or resume made by another process (or `agentbus subscriptions`): paused
   * when all work subscriptions are paused in the store, running when none is.
   */
  async sync(): Promise<void> {
    if (this.#state === 'stopped') return;
    const work = this.definition.subscriptions.filter(isWork);
    if (work.length === 0) return;
    const infos = await Promise.all(work.map((s) => this.#bus.subscriptions.get(s.name)));
    if (this.#state === 'running' && infos.every((i) => i?.paused === true)) {
      await this.#serial(async () => {
        if (this.#state !== 'running') return;
        this.#state = 'paused';
        this.#reason = 'paused by another process';
        for (const sub of work) this.#close(sub.name);
      });
    } else if (this.#state === 'paused' && infos.every((i) => i?.paused !== true)) {
      await this.resume();
    }
  }

  async idle(): Promise<void> {
    await Promise.all([...this.#running.values()].map((s) => s.idle()));
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(fn);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #pauseDurably(name: string): Promise<void> {
    try {
      await this.#bus.subscriptions.pause(name);
    } catch (error) {
      if (!isAgentbusError(error, 'NOT_FOUND')) throw error;
    }
  }

  #close(name: string): void {
    const sub = this.#running.get(name);
    if (!sub) return;
    this.#running.delete(name);
    this.#closing.push(sub.close());
  }

  async #subscribe(sub: AgentSubscription): Promise<void> {
    const { run: _run, filter, filterText: _text, inbox: _inbox, ...delivery } = sub;
    const subscription = await this.#bus.subscribe({
      ...delivery,
      ...(filter ? { filter } : {}),
      source: this.name,
      handler: (event, ctx) => this.#handle(sub, event, ctx),
    });
    this.#running.set(sub.name, subscription);
  }

  async #handle(sub: AgentSubscription, event: Envelope, base: HandlerContext): Promise<void> {
    this.#processing++;
    try {
      const { guards } = this.#settings;
      const handle = createAgentContext({
        base,
        event,
        agent: this.name,
        guards,
        state: this.#bus.store.state,
        log: this.#settings.log,
      });
      const guarded = isWork(sub);
      if (guarded) {
        const trip = checkChain(event, this.name, guards) ?? checkBudget(event, this.name, await this.#spent(event), guards);
        if (trip) throw trip;
      }
      await this.#run(sub, event, handle.ctx);
      const published = handle.published();
      this.#counts.consumed++;
      this.#counts.published += published;
      // Counted with the acknowledgement (one transaction on the store-backed transport): a
      // handler that fails, or a crash before the ack commits, counts nothing.
      if (guarded && published > 0)
        countWithAck(base, { namespace: BUDGET_NAMESPACE, key: event.event.correlation_id, by: published });
    } catch (error) {
      this.#counts.failed++;
      throw error;
    } finally {
      this.#processing--;
    }
  }

  async #run(sub: AgentSubscription, event: Envelope, ctx: AgentContext): Promise<void> {
    const { run } = sub;
    if (run.kind === 'handler') {
      await run.handler(event, ctx);
      return;
    }
    if (run.kind === 'runner') {
      const runner = this.#runners.get(sub.name);
      if (!runner) throw new AgentbusError('HANDLER_FAILED', `no runner for ${sub.name}`);
      await runner.run(event, ctx);
      return;
    }
    if (run.action === 'pause') {
      ctx.log.info(`paused by ${event.event.type} ${event.event.id}`);
      await this.pause(`${event.event.type} ${event.event.id} on ${event.routing.topic}`);
    } else if (run.action === 'resume') {
      await this.resume();
    } else if (run.to) {
      const to = run.to;
      await ctx.publish(event.event.type, event.payload, {
        topic: to.topic ?? event.routing.topic,
        ...('agent' in to ? { deliverTo: to.agent } : {}),
        source: event.event.source,
        priority: event.routing.priority,
        ...(event.routing.partition_key !== undefined ? { partitionKey: event.routing.partition_key } : {}),
      });
    }
  }

  async #spent(event: Envelope): Promise<number> {
    const record = await this.#bus.store.state.get<number>(BUDGET_NAMESPACE, event.event.correlation_id);
    return record?.value ?? 0;
  }
}
