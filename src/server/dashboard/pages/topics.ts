/**
 * Topics with their rates and lag, from the most recent events of the log (the last 1,000)
 * and the subscriptions' positions.
 */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { compileTopicPattern } from '../../../routing/index.js';
import type { ServerDeps, ServerEnv } from '../../env.js';
import { type Html, live, page, shortTime } from '../layout.js';
import { formatCount } from '../../../observe/text.js';

/** How many recent events the topic figures are drawn from. */
const WINDOW = 1000;

interface TopicRow {
  topic: string;
  events: number;
  lastMinute: number;
  last: string;
  behind: number;
  subscriptions: string[];
}

async function topicRows(deps: ServerDeps, canRead: (topic: string) => boolean): Promise<TopicRow[]> {
  const now = Date.now();
  const rows = new Map<string, TopicRow>();
  for await (const e of deps.bus.events({ direction: 'backward', limit: WINDOW })) {
    const topic = e.envelope.routing.topic;
    if (!canRead(topic)) continue;
    let row = rows.get(topic);
    if (!row) {
      row = { topic, events: 0, lastMinute: 0, last: e.envelope.event.timestamp, behind: 0, subscriptions: [] };
      rows.set(topic, row);
    }
    row.events += 1;
    if (now - e.storedAt <= 60_000) row.lastMinute += 1;
  }
  const head = await deps.bus.store.head();
  for (const s of await deps.bus.subscriptions.list()) {
    const matches = compileTopicPattern(s.topic);
    for (const row of rows.values()) {
      if (!matches(row.topic)) continue;
      row.subscriptions.push(s.name);
      row.behind = Math.max(row.behind, head - s.ackFloor);
    }
  }
  return [...rows.values()].sort((a, b) => b.events - a.events);
}

async function topicsFragment(deps: ServerDeps, canRead: (topic: string) => boolean): Promise<Html> {
  const rows = await topicRows(deps, canRead);
  if (rows.length === 0) return html`<p class="muted">no events yet</p>`;
  return html`<table><thead><tr><th>Topic</th><th class="num">Events (last ${formatCount(WINDOW)})</th><th class="num">Per minute</th><th>Last event</th><th class="num">Lag (most behind)</th><th>Subscriptions</th></tr></thead>
<tbody>${rows.map(
    (r) =>
      html`<tr><td>${r.topic}</td><td class="num">${formatCount(r.events)}</td><td class="num">${formatCount(r.lastMinute)}</td><td>${shortTime(r.last)}</td><td class="num">${formatCount(r.behind)}</td><td>${r.subscriptions.join(', ')}</td></tr>`,
  )}</tbody></table>`;
}

/** Adds `/topics` and its live fragment. */
export function registerTopics(app: Hono<ServerEnv>, deps: ServerDeps): void {
  app.get('/topics', async (c) => {
    const p = c.get('principal');
    const body = await topicsFragment(deps, (t) => p.canSubscribe(t));
    return c.html(page('Topics', '/topics', live('/ui/topics', 3, body)));
  });
  app.get('/ui/topics', async (c) => {
    const p = c.get('principal');
    return c.html(await topicsFragment(deps, (t) => p.canSubscribe(t)));
  });
}
