/**
 * What `agentbus demo` runs: the seed's example envelope, and a reactive chain across
 * three agents that react to each other's events through the bus, never calling each other.
 */
import type { Bus, Subscription } from '../bus/index.js';
import { type JsonValue, SEED_EXAMPLE } from '../envelope/index.js';
import type { StoredEvent } from '../store/event-store.js';
import { followEvents } from '../bus/follow.js';

/** The correlation id of the chain, as in the seed's correlation table. */
export const CHAIN_CORRELATION_ID = 'project-xyz-feature-123';

/** The event that ends the chain. */
const LAST_EVENT = 'ImplementationCompleted';

/** How long the chain may take before the demo gives up; it normally takes milliseconds. */
const CHAIN_TIMEOUT_MS = 10_000;

/** One agent of the chain: what it listens for, and what it publishes in reaction. */
interface ChainAgent {
  readonly name: string;
  readonly filter: string;
  readonly reactions: ReadonlyArray<{ readonly type: string; readonly payload: JsonValue }>;
}

const AGENTS: readonly ChainAgent[] = [
  {
    name: '/product-strategist',
    filter: 'type=FeatureStarted',
    reactions: [{ type: 'UserStoryApproved', payload: { story_id: 'US-42', title: 'Users can export reports' } }],
  },
  {
    name: '/backend-architect',
    filter: 'type=UserStoryApproved',
    reactions: [
      { type: 'APIDesignStarted', payload: { task_id: 'T1', task_name: 'API Design' } },
      {
        type: 'APIDesignCompleted',
        // The seed's own example event, as the architect finishes the design.
        payload: structuredClone(SEED_EXAMPLE.payload),
      },
    ],
  },
  {
    name: '/python-pro',
    filter: 'type=APIDesignCompleted and payload.result.endpoints>10',
    reactions: [
      { type: 'ImplementationStarted', payload: { task_id: 'T2', task_name: 'Backend Implementation' } },
      { type: LAST_EVENT, payload: { task_id: 'T2', status: 'completed', result: { endpoints_implemented: 12 } } },
    ],
  },
];

/** Subscribes the chain's agents on `project.>`; each reacts with `ctx.publish`. */
async function startAgents(bus: Bus): Promise<Subscription[]> {
  const subscriptions: Subscription[] = [];
  for (const agent of AGENTS) {
    subscriptions.push(
      await bus.subscribe({
        name: agent.name,
        topic: 'project.>',
        filter: agent.filter,
        start: 'latest',
        handler: async (_event, ctx) => {
          for (const reaction of agent.reactions) await ctx.publish(reaction.type, reaction.payload);
        },
      }),
    );
  }
  return subscriptions;
}

/**
 * Runs the chain: subscribes the agents, has `/orchestrator` publish `FeatureStarted`,
 * calls `onEvent` for every event of the chain as it is committed (with the type of its
 * cause), and resolves with the whole correlation, in log order, once `ImplementationCompleted`
 * arrives.
 * @throws Error when a handler fails or the chain does not complete within 10 s.
 */
export async function runChain(
  bus: Bus,
  onEvent: (event: StoredEvent, causeType: string | undefined) => void,
): Promise<StoredEvent[]> {
  const subscriptions = await startAgents(bus);
  const done = new AbortController();
  let failure: string | undefined;
  const offStatus = bus.onStatus((status) => {
    if (status.type !== 'handler_failed') return;
    failure = `${status.subscription} failed: ${status.message}`;
    done.abort();
  });
  const timer = setTimeout(() => {
    failure = `the chain did not complete within ${CHAIN_TIMEOUT_MS / 1000}s`;
    done.abort();
  }, CHAIN_TIMEOUT_MS);
  const types = new Map<string, string>();
  const chain: StoredEvent[] = [];
  let following: Promise<void> | undefined;
  try {
    following = followEvents(bus, {
      fromSeq: (await bus.store.head()) + 1,
      topic: 'project.>',
      match: (event) => event.envelope.event.correlation_id === CHAIN_CORRELATION_ID,
      signal: done.signal,
      onEvent: (event) => {
        const { id, type, causation_id } = event.envelope.event;
        types.set(id, type);
        chain.push(event);
        onEvent(event, causation_id === null ? undefined : types.get(causation_id));
        if (type === LAST_EVENT) done.abort();
      },
    });
    await bus.publish({
      topic: 'project.features',
      type: 'FeatureStarted',
      source: '/orchestrator',
      correlationId: CHAIN_CORRELATION_ID,
      payload: { feature: 'report-export', requested_by: '/orchestrator' },
    });
    await following;
  } finally {
    done.abort();
    await following?.catch(() => {});
    clearTimeout(timer);
    offStatus();
    await Promise.all(subscriptions.map((s) => s.close()));
  }
  if (failure !== undefined) throw new Error(`demo: ${failure}`);
  return chain;
}
