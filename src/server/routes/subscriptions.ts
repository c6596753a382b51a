/**
 * `/v1/subscriptions`: durable subscriptions with their positions and counters; webhook
 * subscriptions created through the API; pause, resume, reset, delete. A token sees the
 * subscriptions whose whole pattern it may read (ADR 0024), others are answered as missing;
 * changing needs the admin scope, which sees them all. Names with `/` travel percent-encoded
 * (`/v1/subscriptions/%2Fdeployer`).
 */
import type { Hono } from 'hono';
import { type WebhookRunnerSpec, redactUrl, validateAgentName, validateRunnerSpec } from '../../agents/index.js';
import { type StartInput, parseRetryPolicy, parseStart, validateSubscriptionName } from '../../bus/index.js';
import type { JsonValue } from '../../envelope/index.js';
import { AgentbusError, invalidField, refuseUnknownKeys } from '../../errors.js';
import { parseFilter, validateTopicPattern } from '../../routing/index.js';
import { requireAdmin } from '../auth.js';
import { maySeeSubscription } from '../read-rules.js';
import { jsonObject, knownKeys } from '../body.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import type { WebhookSubscriptionSpec } from '../integrations.js';
import { subscriptionJson } from '../../bus/wire.js';
import { notImplemented } from './status.js';

const WEBHOOK_KEYS: ReadonlySet<string> = new Set(['url', 'headers', 'timeout', 'secret']);

/** Adds the subscription routes. */
export function registerSubscriptionRoutes(app: Hono<ServerEnv>, deps: ServerDeps): void {
  const { subscriptions } = deps.bus;
  const webhooks = deps.integrations.webhooks;

  const webhookOf = async (): Promise<Map<string, WebhookSubscriptionSpec>> =>
    new Map((webhooks ? await webhooks.list() : []).map((w) => [w.name, w]));

  app.get('/v1/subscriptions', async (c) => {
    const principal = c.get('principal');
    const hooks = await webhookOf();
    const list = (await subscriptions.list()).filter((s) => maySeeSubscription(principal, s.topic));
    return c.json({
      subscriptions: list.map((s) => ({ ...subscriptionJson(s), webhook: publicWebhook(hooks.get(s.name)) })),
    });
  });

  app.post('/v1/subscriptions', async (c) => {
    requireAdmin(c.get('principal'), 'create subscriptions');
    if (!webhooks) throw notImplemented('webhook subscriptions (src/agents webhook runner)');
    const spec = parseWebhookSpec(await jsonObject(c));
    await deps.webhookTargets.check(spec.url, 'body.webhook.url');
    if (await subscriptions.get(spec.name)) {
      throw new AgentbusError('CONCURRENCY_CONFLICT', `subscription ${spec.name} already exists`, { field: 'body.name' });
    }
    await webhooks.create(spec);
    const info = await subscriptions.get(spec.name);
    c.header('location', `/v1/subscriptions/${encodeURIComponent(spec.name)}`);
    return c.json({ ...(info ? subscriptionJson(info) : { name: spec.name }), webhook: publicWebhook(spec) }, 201);
  });

  app.get('/v1/subscriptions/:name', async (c) => {
    const name = validateSubscriptionName(c.req.param('name'));
    const info = await subscriptions.get(name);
    // One the token may not read is answered as one that does not exist.
    if (!info || !maySeeSubscription(c.get('principal'), info.topic)) throw missing(name);
    return c.json({ ...subscriptionJson(info), webhook: publicWebhook((await webhookOf()).get(name)) });
  });

  app.post('/v1/subscriptions/:name/pause', async (c) => {
    requireAdmin(c.get('principal'), 'pause subscriptions');
    const name = await existing(deps, c.req.param('name'));
    await subscriptions.pause(name);
    return c.json(subscriptionJson(await must(deps, name)));
  });

  app.post('/v1/subscriptions/:name/resume', async (c) => {
    requireAdmin(c.get('principal'), 'resume subscriptions');
    const name = await existing(deps, c.req.param('name'));
    await subscriptions.resume(name);
    return c.json(subscriptionJson(await must(deps, name)));
  });

  app.post('/v1/subscriptions/:name/reset', async (c) => {
    requireAdmin(c.get('principal'), 'reset subscriptions');
    const name = await existing(deps, c.req.param('name'));
    const { to } = knownKeys(await jsonObject(c), ['to']);
    // No default: an empty body must not move a subscription to the end of the log.
    if (to === undefined) throw invalidField('OPTIONS_INVALID', 'body.to', 'required: earliest, latest, a position or a time');
    parseStart(to, 'body.to');
    return c.json(subscriptionJson(await subscriptions.reset(name, to as StartInput)));
  });

  app.delete('/v1/subscriptions/:name', async (c) => {
    requireAdmin(c.get('principal'), 'delete subscriptions');
    const name = await existing(deps, c.req.param('name'));
    await webhooks?.remove(name);
    await subscriptions.delete(name);
    return c.body(null, 204);
  });
}

/**
 * The webhook as shown: its URL without credentials or query values, its settings, never
 * its headers' values (they may hold secrets).
 */
function publicWebhook(spec: WebhookSubscriptionSpec | undefined) {
  if (!spec) return null;
  return {
    url: redactUrl(spec.url),
    ...(spec.headers ? { headers: Object.keys(spec.headers) } : {}),
    ...(spec.timeout ? { timeout: spec.timeout } : {}),
    signed: spec.secret !== undefined,
  };
}

/** Validates a create-subscription body, naming `body.<field>` on refusal. */
export function parseWebhookSpec(body: Record<string, unknown>): WebhookSubscriptionSpec {
  knownKeys(body, ['name', 'topic', 'filter', 'start', 'webhook', 'retry']);
  // A webhook subscription is an agent of its own: its name is an agent name (`/deployer`).
  const name = validateAgentName(body.name, 'body.name');
  const topic = validateTopicPattern(body.topic, 'body.topic');
  if (body.filter !== undefined) {
    try {
      parseFilter(body.filter as never);
    } catch (error) {
      if (error instanceof AgentbusError)
        throw new AgentbusError(error.code, `body.${error.message}`, { ...error.details, field: 'body.filter' });
      throw error;
    }
  }
  if (body.start !== undefined) parseStart(body.start, 'body.start');
  // Checked here so that a refusal names the body's field (the agent would name its own).
  if (body.retry !== undefined) parseRetryPolicy(body.retry, undefined, 'body.retry');
  const webhook = body.webhook;
  if (typeof webhook !== 'object' || webhook === null || Array.isArray(webhook)) {
    throw invalidField('OPTIONS_INVALID', 'body.webhook', 'must be an object with a url');
  }
  refuseUnknownKeys(webhook, WEBHOOK_KEYS, 'body.webhook.');
  const { timeout } = webhook as { timeout?: unknown };
  if (timeout !== undefined && typeof timeout !== 'string') {
    throw invalidField('OPTIONS_INVALID', 'body.webhook.timeout', 'must be a duration like "10s"');
  }
  // The runner's own checks: a URL without credentials, the secret's length, header names and values, the timeout.
  const { url, headers, secret } = validateRunnerSpec({ ...webhook, type: 'webhook' }, 'body.webhook') as WebhookRunnerSpec;
  return {
    name,
    topic,
    url,
    ...(body.filter !== undefined ? { filter: body.filter as JsonValue } : {}),
    ...(body.start !== undefined ? { start: body.start as string | number } : {}),
    ...(headers !== undefined ? { headers } : {}),
    ...(secret !== undefined ? { secret } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
    ...(body.retry !== undefined ? { retry: body.retry as JsonValue } : {}),
  };
}

function missing(name: string): AgentbusError {
  return new AgentbusError('NOT_FOUND', `subscription ${name} does not exist`, { subscription: name });
}

async function existing(deps: ServerDeps, raw: string): Promise<string> {
  const name = validateSubscriptionName(raw);
  if (!(await deps.bus.subscriptions.get(name))) throw missing(name);
  return name;
}

async function must(deps: ServerDeps, name: string) {
  const info = await deps.bus.subscriptions.get(name);
  if (!info) throw missing(name);
  return info;
}
