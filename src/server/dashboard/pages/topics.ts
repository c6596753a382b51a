/**
 * Topics: the seed's Pub/Sub Configuration, live. Per topic the caller may read: its events
 * over the last hour (or `?window=15m`), who published them, the subscriptions whose pattern
 * matches it and the lag of the furthest behind; the same figures as `agentbus topics`
 * (src/observe's topicsOverview).
 */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { DEFAULT_STATUS_WINDOW_MS, topicsOverview, windowLabel } from '../../../observe/index.js';
import { formatCount } from '../../../observe/text.js';
import type { ServerDeps, ServerEnv } from '../../env.js';
import { windowParam } from '../../query.js';
import { type Html, live, page } from '../layout.js';

/** Windows offered above the table. */
const WINDOW_LINKS = ['15m', '1h', '24h'];

async function topicsFragment(deps: ServerDeps, canRead: (topic: string) => boolean, windowMs: number): Promise<Html> {
  const overview = await topicsOverview(deps.bus, { window: windowMs });
  const rows = overview.topics.filter((t) => canRead(t.topic));
  const names = (list: readonly string[]) => (list.length === 0 ? '–' : list.join(', '));
  const heading = html`<p class="muted">events and publishers since ${overview.since.slice(11, 16)} UTC · window:${WINDOW_LINKS.map((w) => html` <a href="/topics?window=${w}">${w}</a>`)}</p>`;
  if (rows.length === 0) return html`${heading}<p class="muted">no topics yet: nothing published and no subscriptions</p>`;
  return html`${heading}<table><thead><tr><th>Topic</th><th class="num">Events (${windowLabel(overview.windowMs)})</th><th>Publishers</th><th>Subscribers</th><th class="num">Lag</th></tr></thead>
<tbody>${rows.map(
    (r) =>
      html`<tr><td>${r.topic}</td><td class="num">${formatCount(r.events)}</td><td>${names(r.publishers)}</td><td>${names(r.subscribers)}</td><td class="num">${r.lag === null ? '–' : formatCount(r.lag)}</td></tr>`,
  )}</tbody></table>`;
}

/** Adds `/topics` and its live fragment; both take `?window=` (a bad one is a 400 naming it). */
export function registerTopics(app: Hono<ServerEnv>, deps: ServerDeps): void {
  app.get('/topics', async (c) => {
    const p = c.get('principal');
    const asked = windowParam(c.req.query());
    const body = await topicsFragment(deps, (t) => p.canSubscribe(t), asked ?? DEFAULT_STATUS_WINDOW_MS);
    // The live refresh keeps the window asked for.
    const fragment = asked === undefined ? '/ui/topics' : `/ui/topics?window=${asked / 60_000}m`;
    return c.html(page('Topics', '/topics', live(fragment, 3, body)));
  });
  app.get('/ui/topics', async (c) => {
    const p = c.get('principal');
    const windowMs = windowParam(c.req.query()) ?? DEFAULT_STATUS_WINDOW_MS;
    return c.html(await topicsFragment(deps, (t) => p.canSubscribe(t), windowMs));
  });
}
