/**
 * Subscriptions: position, lag, in flight, retries, dead letters, webhook; pause and resume
 * (admin). A token sees the subscriptions whose whole pattern it may read (ADR 0024).
 */
import type { Hono } from 'hono';
import { redactUrl } from '../../../agents/index.js';
import { html } from 'hono/html';
import { validateSubscriptionName } from '../../../bus/index.js';
import { type Principal, requireAdmin } from '../../auth.js';
import { maySeeSubscription } from '../../read-rules.js';
import type { ServerDeps, ServerEnv } from '../../env.js';
import { type Html, live, page } from '../layout.js';
import { cellText } from '../views.js';

async function subscriptionsFragment(deps: ServerDeps, principal: Principal): Promise<Html> {
  const admin = principal.admin;
  const [head, all, hooks] = await Promise.all([
    deps.bus.store.head(),
    deps.bus.subscriptions.list(),
    deps.integrations.webhooks?.list() ?? Promise.resolve([]),
  ]);
  const list = all.filter((s) => maySeeSubscription(principal, s.topic));
  const webhook = new Map(hooks.map((h) => [h.name, redactUrl(h.url)]));
  if (list.length === 0) return html`<p class="muted">no subscriptions</p>`;
  return html`<table><thead><tr><th>Name</th><th>Topic</th><th>Filter</th><th>State</th><th class="num">Acked up to</th><th class="num">Behind head</th><th class="num">In flight</th><th class="num">Retrying</th><th class="num">Dead</th><th>Webhook</th><th></th></tr></thead>
<tbody>${list.map((s) => {
    const action = s.paused ? 'resume' : 'pause';
    return html`<tr><td>${s.name}</td><td>${s.topic}</td><td>${cellText(s.filter)}</td><td>${s.paused ? html`<span class="warn">paused</span>` : html`<span class="ok">active</span>`}</td>
<td class="num">${String(s.ackFloor)}</td><td class="num">${String(Math.max(0, head - s.ackFloor))}</td><td class="num">${String(s.inFlight)}</td><td class="num">${String(s.scheduled)}</td><td class="num">${String(s.deadLettered)}</td><td>${webhook.get(s.name) ?? ''}</td>
<td>${admin ? html`<form class="inline" method="post" action="/ui/subscriptions/${encodeURIComponent(s.name)}/${action}" hx-post="/ui/subscriptions/${encodeURIComponent(s.name)}/${action}" hx-target="#subscriptions" hx-swap="innerHTML"><button type="submit">${action}</button></form>` : ''}</td></tr>`;
  })}</tbody></table>`;
}

/** Adds `/subscriptions`, its fragment and the pause/resume actions. */
export function registerSubscriptionsPage(app: Hono<ServerEnv>, deps: ServerDeps): void {
  app.get('/subscriptions', async (c) => {
    const body = await subscriptionsFragment(deps, c.get('principal'));
    return c.html(
      page('Subscriptions', '/subscriptions', html`<div id="subscriptions">${live('/ui/subscriptions', 3, body)}</div>`),
    );
  });
  app.get('/ui/subscriptions', async (c) => c.html(await subscriptionsFragment(deps, c.get('principal'))));
  for (const action of ['pause', 'resume'] as const) {
    app.post(`/ui/subscriptions/:name/${action}`, async (c) => {
      requireAdmin(c.get('principal'), `${action} subscriptions`);
      const name = validateSubscriptionName(c.req.param('name'));
      await deps.bus.subscriptions[action](name);
      if (c.req.header('hx-request') !== 'true') return c.redirect('/subscriptions', 303);
      return c.html(live('/ui/subscriptions', 3, await subscriptionsFragment(deps, c.get('principal'))));
    });
  }
}
