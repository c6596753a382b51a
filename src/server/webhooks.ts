/**
 * Webhook subscriptions created through the API: each is an agent (src/agents) with one
 * subscription whose runner POSTs every event to the URL, connecting only to addresses the
 * target policy accepts. The spec is kept in the state area, so a restarted server starts
 * them again; the durable subscription keeps its position.
 */
import { type AgentRuntime, createAgentRuntime, defineAgent, redactUrl, webhookRunner } from '../agents/index.js';
import type { Bus } from '../bus/index.js';
import type { RetryPolicyInput, StartInput } from '../bus/index.js';
import type { EventPattern } from '../routing/index.js';
import type { WebhookSubscriptionSpec, WebhookSubscriptions } from './integrations.js';
import { type WebhookTargetPolicy, createWebhookTargetPolicy } from './webhook-targets.js';

/** State-area namespace of the webhook specs. */
export const WEBHOOKS_NAMESPACE = 'server.webhooks';

/** Options of {@link createWebhookSubscriptions}. */
export interface WebhookSubscriptionsOptions {
  /** Reports a webhook that could not be restarted. @default ignore */
  readonly log?: (line: string) => void;
  /** The agent runtime to run them on. @default a new one, closed with these */
  readonly runtime?: AgentRuntime;
  /**
   * Where the calls may connect: every connection is checked against it (the server's
   * `webhookTargets`, so that calls are refused as creations are).
   * @default createWebhookTargetPolicy(): DEFAULT_WEBHOOK_DENY
   */
  readonly targets?: WebhookTargetPolicy;
}

/** A start as the API takes it (keyword, position, RFC 3339 time) in the bus's terms. */
function startOf(start: string | number): StartInput {
  if (typeof start === 'number' || start === 'earliest' || start === 'latest') return start;
  return /^\d+$/.test(start) ? Number(start) : { time: start };
}

function agentOf(spec: WebhookSubscriptionSpec, targets: WebhookTargetPolicy) {
  return defineAgent({
    name: spec.name,
    description: `webhook ${redactUrl(spec.url)}`,
    subscriptions: [
      {
        topic: spec.topic,
        ...(spec.filter !== undefined ? { filter: spec.filter as string | EventPattern } : {}),
        ...(spec.start !== undefined ? { start: startOf(spec.start) } : {}),
        ...(spec.retry !== undefined ? { retry: spec.retry as RetryPolicyInput } : {}),
        runner: webhookRunner(
          {
            type: 'webhook',
            url: spec.url,
            ...(spec.secret !== undefined ? { secret: spec.secret } : {}),
            ...(spec.headers !== undefined ? { headers: { ...spec.headers } } : {}),
            ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
          },
          { network: targets },
        ),
      },
    ],
  });
}

/**
 * Creates the webhook subscriptions of `bus` and restarts the ones created before.
 * @example
 * const webhooks = await createWebhookSubscriptions(bus)
 * await webhooks.create({ name: '/deployer', topic: 'deploy.>', url: 'http://127.0.0.1:9000/hook' })
 */
export async function createWebhookSubscriptions(
  bus: Bus,
  options: WebhookSubscriptionsOptions = {},
): Promise<WebhookSubscriptions> {
  const ownsRuntime = options.runtime === undefined;
  const runtime = options.runtime ?? createAgentRuntime(bus);
  const targets = options.targets ?? createWebhookTargetPolicy();
  const state = bus.store.state;
  const list = async (): Promise<WebhookSubscriptionSpec[]> => {
    const out: WebhookSubscriptionSpec[] = [];
    for await (const record of state.list<WebhookSubscriptionSpec>(WEBHOOKS_NAMESPACE)) out.push(record.value);
    return out;
  };
  for (const spec of await list()) {
    try {
      await runtime.start(agentOf(spec, targets));
    } catch (error) {
      options.log?.(`webhooks: cannot restart ${spec.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return {
    list,
    async create(spec) {
      // Validates the agent and its runner before anything is stored.
      const agent = agentOf(spec, targets);
      await state.put(WEBHOOKS_NAMESPACE, spec.name, spec, 'absent');
      try {
        await runtime.start(agent);
      } catch (error) {
        await state.delete(WEBHOOKS_NAMESPACE, spec.name);
        throw error;
      }
      return spec;
    },
    async remove(name) {
      await runtime.get(name)?.stop();
      return state.delete(WEBHOOKS_NAMESPACE, name);
    },
    async close() {
      if (ownsRuntime) await runtime.close();
    },
  };
}
