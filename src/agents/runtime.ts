/**
 * The agent runtime: starts agents on a bus, reports their heartbeats (state area and
 * `AgentHealthEvent` on `system.agents`), follows pauses made elsewhere, and marks agents
 * whose heartbeats stopped as unhealthy.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Bus } from '../bus/bus.js';
import { SYSTEM_EVENTS, SYSTEM_TOPICS } from '../envelope/taxonomy.js';
import { AgentbusError, invalidField } from '../errors.js';
import { type AgentDefinition, type AgentInput, defineAgent } from './agent.js';
import type { AgentLogEntry } from './context.js';
import { type GuardOptions, mergeGuards, resolveGuardOverrides } from './guards.js';
import { type AgentState, markMissedHeartbeats, writeHeartbeat } from './health.js';
import { pruneBudgets } from './budget.js';
import { AgentInstance, type RunningAgent } from './running-agent.js';
import { MAX_DURATION_MS, positiveDuration } from '../time.js';

/** Options of {@link createAgentRuntime}. */
export interface AgentRuntimeOptions {
  /** Time between heartbeats. @default "30s" */
  heartbeatInterval?: string | number;
  /** Heartbeats an agent may miss before it is `unhealthy`. @default 3 */
  missedHeartbeats?: number;
  /** Watch every agent's heartbeats and announce the ones that stop (`AgentHealthEvent` with state `unhealthy`). @default true */
  monitor?: boolean;
  /** Chain-reaction guard limits of every agent (an agent's own `guards` win). @default maxDepth 64, maxRepeats 5, budget 10000 */
  guards?: GuardOptions;
  /** Receives `ctx.log` lines. @default warn and error as one JSON line on stderr */
  log?: (entry: AgentLogEntry) => void;
  /** Names this process in heartbeats. @default "<host>:<pid>:<random>" */
  instance?: string;
  /**
   * How long a correlation's chain-budget count is kept after its last event; the heartbeat
   * deletes older ones (at most once an hour). A correlation quiet for longer starts afresh.
   * @default "7d"
   */
  budgetRetention?: string | number;
}

/** Runs agents on a bus. */
export interface AgentRuntime {
  /**
   * Starts an agent: subscribes its subscriptions (durable, named after it) and reports it.
   * @throws AgentbusError `OPTIONS_INVALID` when invalid or already running here.
   */
  start(agent: AgentDefinition | AgentInput): Promise<RunningAgent>;
  get(name: string): RunningAgent | undefined;
  readonly agents: readonly RunningAgent[];
  /** This process's instance id in heartbeats. */
  readonly instance: string;
  /** Reports every agent now (and checks others' heartbeats), without waiting for the interval. */
  heartbeat(): Promise<void>;
  /** Stops every agent (running handlers finish), reports them `stopped`. The bus stays open. */
  close(): Promise<void>;
}

function defaultLog(entry: AgentLogEntry): void {
  if (entry.level === 'warn' || entry.level === 'error') process.stderr.write(`${JSON.stringify(entry)}\n`);
}

/**
 * Creates an agent runtime on `bus`.
 * @example
 * const runtime = createAgentRuntime(bus, { heartbeatInterval: '10s' })
 * await runtime.start(defineAgent({ name: '/python-pro', subscriptions: [
 *   { topic: 'project.tasks', filter: 'type=APIDesignCompleted',
 *     handler: async (event, ctx) => { await ctx.publish('BackendImplementationStarted', {}) } }] }))
 * // ... later
 * await runtime.close()
 */
export function createAgentRuntime(bus: Bus, options: AgentRuntimeOptions = {}): AgentRuntime {
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  const intervalMs = positiveDuration(options.heartbeatInterval, 'heartbeatInterval', 30_000);
  const missed = options.missedHeartbeats ?? 3;
  if (!Number.isInteger(missed) || missed < 1)
    throw invalidField('OPTIONS_INVALID', 'missedHeartbeats', 'must be a whole number of at least 1');
  const guards = resolveGuardOverrides(options.guards, 'guards');
  const instance = options.instance ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const log = options.log ?? defaultLog;
  const monitor = options.monitor ?? true;
  const budgetRetentionMs = positiveDuration(options.budgetRetention, 'budgetRetention', 7 * 86_400_000, MAX_DURATION_MS);
  const pruneEveryMs = Math.min(budgetRetentionMs, 3_600_000);
  let prunedAt = Number.NEGATIVE_INFINITY;
  const agents = new Map<string, AgentInstance>();
  const startedAt = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> | undefined;
  let closed = false;

  async function report(agent: AgentInstance, state: AgentState): Promise<void> {
    const now = Date.now();
    const delta = agent.takeDelta();
    const counts = agent.counts();
    try {
      await writeHeartbeat(bus.store.state, {
        name: agent.name,
        description: agent.definition.description,
        subscriptions: agent.info,
        instance,
        state,
        ...(agent.reason !== undefined && state === 'paused' ? { reason: agent.reason } : {}),
        processing: counts.processing,
        delta,
        intervalMs,
        startedAt: startedAt.get(agent.name) ?? now,
        now,
      });
    } catch (error) {
      agent.restoreDelta(delta);
      throw error;
    }
    await bus.publish({
      topic: SYSTEM_TOPICS.agents,
      type: SYSTEM_EVENTS.AgentHealth,
      source: agent.name,
      partitionKey: agent.name,
      payload: {
        agent: agent.name,
        state,
        instance,
        ...(agent.reason !== undefined && state === 'paused' ? { reason: agent.reason } : {}),
        subscriptions: [...agent.subscriptions],
        published: counts.published,
        consumed: counts.consumed,
        processing: counts.processing,
        failed: counts.failed,
        interval_ms: intervalMs,
      },
    });
  }

  async function beat(): Promise<void> {
    for (const agent of [...agents.values()]) {
      await agent.sync().catch(() => {});
      await report(agent, agent.state);
      // Reported stopped once; a stopped agent may be started again under its name.
      if (agent.state === 'stopped') agents.delete(agent.name);
    }
    const now = Date.now();
    if (now - prunedAt >= pruneEveryMs) {
      prunedAt = now;
      await pruneBudgets(bus.store.state, now - budgetRetentionMs);
    }
    if (!monitor) return;
    const marked = await markMissedHeartbeats(bus.store.state, { now, missedHeartbeats: missed });
    for (const m of marked) {
      await bus.publish({
        topic: SYSTEM_TOPICS.agents,
        type: SYSTEM_EVENTS.AgentHealth,
        partitionKey: m.agent,
        payload: {
          agent: m.agent,
          state: 'unhealthy',
          instance: m.instance,
          reason: `missed ${missed} heartbeats`,
          last_heartbeat: new Date(m.lastHeartbeat).toISOString(),
          interval_ms: m.intervalMs,
        },
      });
    }
  }

  /** One heartbeat at a time; a report asked for during one runs after it. */
  function heartbeat(): Promise<void> {
    const run = (beating ?? Promise.resolve()).then(beat);
    const settled = run.catch(() => {});
    beating = settled;
    return run;
  }

  function ensureTimer(): void {
    if (timer || closed) return;
    timer = setInterval(() => {
      heartbeat().catch((error: unknown) =>
        log({
          level: 'warn',
          agent: '/agentbus',
          message: `heartbeat failed: ${error instanceof Error ? error.message : String(error)}`,
          eventId: '',
          correlationId: '',
          subscription: '',
        }),
      );
    }, intervalMs);
    timer.unref();
  }

  return {
    instance,
    get agents() {
      return [...agents.values()];
    },
    get: (name) => agents.get(name),
    heartbeat,
    async start(input) {
      if (closed) throw new AgentbusError('CLOSED', 'the agent runtime is closed');
      const definition = isDefinition(input) ? input : defineAgent(input);
      if (agents.has(definition.name)) {
        throw invalidField('OPTIONS_INVALID', 'name', `agent ${definition.name} is already running in this runtime`);
      }
      const agent: AgentInstance = new AgentInstance(bus, definition, {
        guards: mergeGuards(guards, definition.guards),
        log,
        changed: () => {
          void heartbeat().catch(() => {});
        },
      });
      agents.set(definition.name, agent);
      startedAt.set(definition.name, Date.now());
      try {
        await agent.start();
      } catch (error) {
        agents.delete(definition.name);
        throw error;
      }
      await heartbeat();
      ensureTimer();
      return agent;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await Promise.all([...agents.values()].map((a) => a.stop()));
      await heartbeat().catch(() => {});
    },
  };
}

function isDefinition(value: AgentDefinition | AgentInput): value is AgentDefinition {
  return Object.isFrozen(value) && Array.isArray(value.subscriptions) && value.subscriptions.every((s) => 'run' in s);
}
