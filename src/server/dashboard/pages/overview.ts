/**
 * The overview: the seed's "Event System Dashboard", live. Throughput bars over the last hour
 * (or `?window=15m`), by topic, agent activity and health (src/observe's status snapshot),
 * and an events-per-second chart (uPlot).
 */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { DEFAULT_STATUS_WINDOW_MS, type HealthLevel, statusSnapshot, windowLabel } from '../../../observe/index.js';
import type { ServerDeps, ServerEnv } from '../../env.js';
import { windowParam } from '../../query.js';
import { type Html, live, page } from '../layout.js';
import { formatCount, textBar } from '../../../observe/text.js';

/** Windows offered next to the bars' heading. */
const WINDOW_LINKS = ['15m', '1h', '24h'];

const HEALTH: Record<HealthLevel, Html> = {
  healthy: html`<span class="ok">🟢 Healthy</span>`,
  degraded: html`<span class="warn">🟡 Degraded</span>`,
  unhealthy: html`<span class="bad">🔴 Unhealthy</span>`,
};

async function overviewFragment(deps: ServerDeps, canRead: (topic: string) => boolean, windowMs: number): Promise<Html> {
  const s = await statusSnapshot(deps.bus, { window: windowMs });
  const t = s.throughput;
  const max = Math.max(t.published, t.consumed, t.failed, t.inDlq, 1);
  const lag = s.health.consumerLag;
  const topics = s.topics.filter((topic) => canRead(topic.topic));
  return html`<div class="grid">
<section id="throughput"><h2>Throughput (${windowLabel(t.windowMs)})</h2>
<p class="muted">since ${t.since.slice(11, 16)} UTC (in DLQ: open now) · window:${WINDOW_LINKS.map((w) => html` <a href="/?window=${w}">${w}</a>`)}</p>
<div class="bars">Events Published: ${textBar(t.published, max)} ${formatCount(t.published)}
Events Consumed:  ${textBar(t.consumed, max)} ${formatCount(t.consumed)}
Events Failed:    ${textBar(t.failed, max)} ${formatCount(t.failed)}
Events in DLQ:    ${textBar(t.inDlq, max)} ${formatCount(t.inDlq)}</div>
</section>
<section><h2>Health</h2>
<ul>
<li>Event Bus: ${HEALTH[s.health.bus]}</li>
<li>Store: ${HEALTH[s.health.store]} (head at position <span id="head">${String(s.head)}</span>)</li>
<li>Average Latency: ${s.health.averageLatencyMs === null ? 'n/a' : `${Math.round(s.health.averageLatencyMs)}ms`}</li>
<li>Consumer Lag: ${lag.level === 'low' ? 'Low' : lag.level === 'medium' ? 'Medium' : 'High'} (most pending: ${formatCount(lag.maxPending)})</li>
<li>Open dead letters: <a href="/dlq">${formatCount(t.inDlq)}</a></li>
</ul></section>
</div>
<h2>By Topic <span class="muted">(all time)</span></h2>
${
  topics.length === 0
    ? html`<p class="muted">no events yet</p>`
    : html`<table><thead><tr><th>Topic</th><th class="num">Published</th><th class="num">Consumed</th><th class="num">Lag</th></tr></thead><tbody>${topics.map(
        (topic) =>
          html`<tr><td>${topic.topic}</td><td class="num">${formatCount(topic.published)}</td><td class="num">${topic.consumed === null ? '–' : formatCount(topic.consumed)}</td><td class="num">${topic.lag === null ? '–' : formatCount(topic.lag)}</td></tr>`,
      )}</tbody></table>`
}
<h2>Agent Activity <span class="muted">(all time)</span></h2>
${
  s.agents.length === 0
    ? html`<p class="muted">no agents yet</p>`
    : html`<table><thead><tr><th>Agent</th><th class="num">Published</th><th class="num">Consumed</th><th class="num">Processing</th></tr></thead><tbody>${s.agents.map(
        (a) =>
          html`<tr><td>${a.agent}</td><td class="num">${formatCount(a.published)}</td><td class="num">${formatCount(a.consumed)}</td><td class="num">${formatCount(a.processing)}</td></tr>`,
      )}</tbody></table>`
}`;
}

/** Adds `/` and its live fragment; both take `?window=` (validated: a bad one is a 400 naming it). */
export function registerOverview(app: Hono<ServerEnv>, deps: ServerDeps): void {
  app.get('/', async (c) => {
    const p = c.get('principal');
    const asked = windowParam(c.req.query());
    const body = await overviewFragment(deps, (t) => p.canSubscribe(t), asked ?? DEFAULT_STATUS_WINDOW_MS);
    // The live refresh keeps the window asked for.
    const fragment = asked === undefined ? '/ui/overview' : `/ui/overview?window=${asked / 60_000}m`;
    return c.html(
      page(
        'Event System Dashboard',
        '/',
        html`<section><h2>Events per second</h2><div id="rate-chart" class="chart"></div></section>${live(fragment, 2, body)}`,
      ),
    );
  });
  app.get('/ui/overview', async (c) => {
    const p = c.get('principal');
    const windowMs = windowParam(c.req.query()) ?? DEFAULT_STATUS_WINDOW_MS;
    return c.html(await overviewFragment(deps, (t) => p.canSubscribe(t), windowMs));
  });
}
