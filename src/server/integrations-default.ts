/**
 * The integrations `agentbus serve` wires in: metrics, status and timelines from
 * src/observe, and webhook subscriptions run by src/agents. Agents, sagas and aggregators
 * are read from the store by the routes themselves.
 */
import type { Bus } from '../bus/index.js';
import { createObserveSources } from '../observe/index.js';
import type { Integrations } from './integrations.js';
import type { WebhookTargetPolicy } from './webhook-targets.js';
import { createWebhookSubscriptions } from './webhooks.js';

/** Options of {@link defaultIntegrations}. */
export interface DefaultIntegrationsOptions {
  /**
   * Where webhook calls may connect (give the server the same policy as `webhookTargets`).
   * @default createWebhookTargetPolicy(): DEFAULT_WEBHOOK_DENY
   */
  readonly webhookTargets?: WebhookTargetPolicy;
}

/** The integrations for a server over `bus`; `close()` them with the server. */
export async function defaultIntegrations(
  bus: Bus,
  log: (line: string) => void = () => {},
  options: DefaultIntegrationsOptions = {},
): Promise<Integrations> {
  const observe = createObserveSources(bus);
  const webhooks = await createWebhookSubscriptions(bus, {
    log,
    ...(options.webhookTargets ? { targets: options.webhookTargets } : {}),
  });
  return {
    metrics: observe.metrics,
    status: observe.status,
    timeline: observe.timeline,
    webhooks,
    close: () => observe.close(),
  };
}
