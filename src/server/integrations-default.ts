/**
 * The integrations `agentbus serve` wires in: metrics, status and timelines from
 * src/observe, and webhook subscriptions run by src/agents. Agents, sagas and aggregators
 * are read from the store by the routes themselves.
 */
import type { Bus } from '../bus/index.js';
import { createObserveSources } from '../observe/index.js';
import type { Integrations } from './integrations.js';
import { createWebhookSubscriptions } from './webhooks.js';

/** The integrations for a server over `bus`; `close()` them with the server. */
export async function defaultIntegrations(bus: Bus, log: (line: string) => void = () => {}): Promise<Integrations> {
  const observe = createObserveSources(bus);
  const webhooks = await createWebhookSubscriptions(bus, { log });
  return {
    metrics: observe.metrics,
    status: observe.status,
    timeline: observe.timeline,
    webhooks,
    close: () => observe.close(),
  };
}
