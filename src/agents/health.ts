/**
 * Agent health and activity, kept in the state area (namespace `agents`, one record per
 * agent) so that any process (`agentbus agents`, metrics, the dashboard) can read it:
 * state, subscriptions, and the seed's Agent Activity counts (published, consumed,
 * processing) plus failures. Each runtime instance writes its heartbeat there and publishes
 * it as an `AgentHealthEvent` on `system.agents`; an instance whose heartbeats stop is
 * `unhealthy`.
 */
import { hostname } from 'node:os';
import { isAgentbusError } from '../errors.js';
import type { StateArea } from '../store/event-store.js';

/** The states of an agent. */
export type AgentState = 'running' | 'paused' | 'unhealthy' | 'stopped';

/** The state-area namespace of agent records. */
export const AGENTS_NAMESPACE = 'agents';

/** One subscription of an agent, as listings show it. */
export interface AgentSubscriptionInfo {
  /** The durable subscription name. */
  readonly name: string;
  readonly topic: string;
  /** The filter as written; null for none. */
  readonly filter: string | null;
  /** What it runs: `handler`, `webhook`, `command`, `pause`, `resume`, `forward`, or a custom runner's type. */
  readonly runs: string;
  /** True for the inbox (events addressed to the agent). */
  readonly inbox: boolean;
}

/** The counts of the seed's Agent Activity table, plus failures. */
export interface AgentCounts {
  /** Events the agent published (counted when its handler succeeds). */
  readonly published: number;
  /** Events it handled successfully. */
  readonly consumed: number;
  /** Attempts that failed (retried or dead-lettered). */
  readonly failed: number;
}

/** One process running the agent. */
export interface AgentInstanceRecord {
  readonly id: string;
  /** Stored state, or `unhealthy` when its heartbeats stopped. */
  readonly state: AgentState;
  /** Handlers running now. */
  readonly processing: number;
  readonly lastHeartbeat: number;
  readonly intervalMs: number;
  readonly startedAt: number;
  readonly pid: number;
  readonly host: string;
  /** Why it is paused or unhealthy. */
  readonly reason?: string;
}

/** An agent as `listAgents` returns it. */
export interface AgentRecord extends AgentCounts {
  readonly name: string;
  readonly description?: string;
  /** `running` if any instance runs, else `paused`, else `unhealthy`, else `stopped`. */
  readonly state: AgentState;
  readonly subscriptions: readonly AgentSubscriptionInfo[];
  /** Handlers running now, over its live instances. */
  readonly processing: number;
  /** The latest heartbeat of any instance (ms). */
  readonly lastHeartbeat: number | undefined;
  readonly instances: readonly AgentInstanceRecord[];
}

/** The record as stored (snake_case, like the wire). */
interface StoredInstance {
  state: AgentState;
  processing: number;
  last_heartbeat: number;
  interval_ms: number;
  started_at: number;
  pid: number;
  host: string;
  reason?: string;
}
interface StoredAgent {
  name: string;
  description?: string;
  subscriptions: AgentSubscriptionInfo[];
  counts: AgentCounts;
  instances: Record<string, StoredInstance>;
}

/** Options of {@link listAgents}. */
export interface ListAgentsOptions {
  /** @default Date.now() */
  now?: number;
  /** Heartbeats an instance may miss before it counts as unhealthy. @default 3 */
  missedHeartbeats?: number;
}

/** Instances gone (stopped or dead) for longer than this are dropped from the record. */
const FORGET_AFTER_MS = 24 * 3_600_000;

function effective(instance: StoredInstance, now: number, missed: number): AgentState {
  const live = instance.state === 'running' || instance.state === 'paused';
  if (live && now - instance.last_heartbeat > missed * instance.interval_ms) return 'unhealthy';
  return instance.state;
}

function toRecord(stored: StoredAgent, now: number, missed: number): AgentRecord {
  const instances = Object.entries(stored.instances).map(([id, i]): AgentInstanceRecord => {
    const state = effective(i, now, missed);
    return {
      id,
      state,
      processing: state === 'running' || state === 'paused' ? i.processing : 0,
      lastHeartbeat: i.last_heartbeat,
      intervalMs: i.interval_ms,
      startedAt: i.started_at,
      pid: i.pid,
      host: i.host,
      ...(state === 'unhealthy' && i.state !== 'unhealthy'
        ? {
            reason: `no heartbeat for ${Math.round((now - i.last_heartbeat) / 1000)} s (every ${i.interval_ms / 1000} s expected)`,
          }
        : i.reason !== undefined
          ? { reason: i.reason }
          : {}),
    };
  });
  const states = new Set(instances.map((i) => i.state));
  const state: AgentState = states.has('running')
    ? 'running'
    : states.has('paused')
      ? 'paused'
      : states.has('unhealthy')
        ? 'unhealthy'
        : 'stopped';
  const beats = instances.map((i) => i.lastHeartbeat);
  return {
    name: stored.name,
    ...(stored.description !== undefined ? { description: stored.description } : {}),
    state,
    subscriptions: stored.subscriptions,
    published: stored.counts.published,
    consumed: stored.counts.consumed,
    failed: stored.counts.failed,
    processing: instances.reduce((sum, i) => sum + i.processing, 0),
    lastHeartbeat: beats.length ? Math.max(...beats) : undefined,
    instances,
  };
}

/**
 * Every agent that ever ran on this store, in name order, with its state, subscriptions
 * and counts: the seed's Agent Activity table as data. Reads only the state area.
 * @example for (const a of await listAgents(bus.store)) console.log(a.name, a.state, a.published, a.consumed, a.processing)
 */
export async function listAgents(store: { readonly state: StateArea }, options: ListAgentsOptions = {}): Promise<AgentRecord[]> {
  const now = options.now ?? Date.now();
  const missed = options.missedHeartbeats ?? 3;
  const out: AgentRecord[] = [];
  for await (const record of store.state.list<StoredAgent>(AGENTS_NAMESPACE)) out.push(toRecord(record.value, now, missed));
  return out;
}

/** One agent's record, or undefined. */
export async function getAgent(
  store: { readonly state: StateArea },
  name: string,
  options: ListAgentsOptions = {},
): Promise<AgentRecord | undefined> {
  const record = await store.state.get<StoredAgent>(AGENTS_NAMESPACE, name);
  return record ? toRecord(record.value, options.now ?? Date.now(), options.missedHeartbeats ?? 3) : undefined;
}

/** What one instance reports at a heartbeat. */
export interface HeartbeatReport {
  readonly name: string;
  readonly description: string | undefined;
  readonly subscriptions: readonly AgentSubscriptionInfo[];
  readonly instance: string;
  readonly state: AgentState;
  readonly reason?: string;
  readonly processing: number;
  /** Counts since the previous report (added to the record's totals). */
  readonly delta: AgentCounts;
  readonly intervalMs: number;
  readonly startedAt: number;
  readonly now: number;
}

/** Updates a record with compare-and-set, retrying on a concurrent write. */
async function update(
  state: StateArea,
  name: string,
  change: (current: StoredAgent | undefined) => StoredAgent | undefined,
): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const current = await state.get<StoredAgent>(AGENTS_NAMESPACE, name);
    const next = change(current?.value);
    if (!next) return false;
    try {
      await state.put(AGENTS_NAMESPACE, name, next, current ? current.version : 'absent');
      return true;
    } catch (error) {
      if (!isAgentbusError(error, 'CONCURRENCY_CONFLICT') || attempt >= 20) throw error;
    }
  }
}

/** Writes one instance's heartbeat into its agent's record, adding its counts. */
export function writeHeartbeat(state: StateArea, report: HeartbeatReport): Promise<boolean> {
  return update(state, report.name, (current) => {
    const instances: Record<string, StoredInstance> = {};
    // Instances silent for a day (stopped, or dead without saying so) are forgotten.
    for (const [id, i] of Object.entries(current?.instances ?? {})) {
      if (report.now - i.last_heartbeat <= FORGET_AFTER_MS) instances[id] = i;
    }
    instances[report.instance] = {
      state: report.state,
      processing: report.processing,
      last_heartbeat: report.now,
      interval_ms: report.intervalMs,
      started_at: report.startedAt,
      pid: process.pid,
      host: hostname(),
      ...(report.reason !== undefined ? { reason: report.reason } : {}),
    };
    const counts = current?.counts ?? { published: 0, consumed: 0, failed: 0 };
    return {
      name: report.name,
      ...(report.description !== undefined ? { description: report.description } : {}),
      subscriptions: [...report.subscriptions],
      counts: {
        published: counts.published + report.delta.published,
        consumed: counts.consumed + report.delta.consumed,
        failed: counts.failed + report.delta.failed,
      },
      instances,
    };
  });
}

/**
 * Marks instances whose heartbeats stopped as `unhealthy` in their records. Returns the
 * ones this call marked (another monitor marking them first is not repeated), so the
 * caller announces each exactly once.
 */
export async function markMissedHeartbeats(
  state: StateArea,
  options: { now: number; missedHeartbeats: number },
): Promise<Array<{ agent: string; instance: string; lastHeartbeat: number; intervalMs: number }>> {
  const marked: Array<{ agent: string; instance: string; lastHeartbeat: number; intervalMs: number }> = [];
  const stale: string[] = [];
  for await (const record of state.list<StoredAgent>(AGENTS_NAMESPACE)) {
    const instances = Object.values(record.value.instances);
    if (instances.some((i) => effective(i, options.now, options.missedHeartbeats) === 'unhealthy' && i.state !== 'unhealthy')) {
      stale.push(record.key);
    }
  }
  for (const name of stale) {
    const found: typeof marked = [];
    await update(state, name, (current) => {
      found.length = 0;
      if (!current) return undefined;
      const instances = { ...current.instances };
      for (const [id, i] of Object.entries(instances)) {
        if (i.state !== 'unhealthy' && effective(i, options.now, options.missedHeartbeats) === 'unhealthy') {
          const missedFor = Math.round((options.now - i.last_heartbeat) / 1000);
          instances[id] = {
            ...i,
            state: 'unhealthy',
            processing: 0,
            reason: `no heartbeat for ${missedFor} s (every ${i.interval_ms / 1000} s expected)`,
          };
          found.push({ agent: name, instance: id, lastHeartbeat: i.last_heartbeat, intervalMs: i.interval_ms });
        }
      }
      return found.length ? { ...current, instances } : undefined;
    });
    marked.push(...found);
  }
  return marked;
}
