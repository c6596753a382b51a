/**
 * Agents (src/agents: state, heartbeats, counts), sagas (the seed's saga JSON: current step,
 * status, completed steps, compensation stack) and aggregators (the seed's status table and
 * "2/3 events received" line), live. An agent's subscriptions are listed only where the token
 * may see them (ADR 0024).
 */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { listAgents } from '../../../agents/index.js';
import {
  aggregatorStatusLine,
  aggregatorStatusRows,
  listAggregatorInstances,
  listSagas,
  statusCell,
} from '../../../workflows/index.js';
import type { Principal } from '../../auth.js';
import type { ServerDeps, ServerEnv } from '../../env.js';
import { maySeeSubscription } from '../../read-rules.js';
import { type Html, live, page, shortTime } from '../layout.js';
import { formatCount } from '../../../observe/text.js';

const STATE_CLASS: Record<string, string> = { running: 'ok', paused: 'warn', unhealthy: 'bad', stopped: 'muted' };

async function agentsFragment(deps: ServerDeps, principal: Principal): Promise<Html> {
  const agents = await listAgents(deps.bus.store);
  if (agents.length === 0) return html`<p class="muted">no agents have reported yet</p>`;
  return html`<table><thead><tr><th>Agent</th><th>State</th><th class="num">Published</th><th class="num">Consumed</th><th class="num">Failed</th><th class="num">Processing</th><th>Last heartbeat</th><th>Subscriptions</th></tr></thead>
<tbody>${agents.map(
    (a) =>
      html`<tr><td>${a.name}</td><td class="${STATE_CLASS[a.state] ?? ''}">${a.state}</td><td class="num">${formatCount(a.published)}</td><td class="num">${formatCount(a.consumed)}</td><td class="num">${formatCount(a.failed)}</td><td class="num">${formatCount(a.processing)}</td>
<td>${a.lastHeartbeat === undefined ? '–' : shortTime(a.lastHeartbeat)}</td><td>${a.subscriptions
        .filter((s) => maySeeSubscription(principal, s.topic))
        .map(
          (s) => html`<div>${s.topic}${s.filter ? html` <span class="muted">where ${s.filter}</span>` : ''} → ${s.runs}</div>`,
        )}</td></tr>`,
  )}</tbody></table>`;
}

async function sagasFragment(deps: ServerDeps): Promise<Html> {
  const sagas = await listSagas(deps.bus.store);
  if (sagas.length === 0) return html`<p class="muted">no sagas</p>`;
  return html`<table><thead><tr><th>Saga ID</th><th>Saga</th><th>Status</th><th class="num">Current step</th><th>Completed steps</th><th>Compensation stack</th><th>Failure</th><th>Updated</th></tr></thead>
<tbody>${sagas.map(
    (s) =>
      html`<tr><td>${s.saga_id}</td><td>${s.saga}</td><td>${s.status}</td><td class="num">${String(s.current_step)}</td>
<td>${s.completed_steps.map((c) => html`<div>✅ ${String(c.step)}: ${c.event}</div>`)}</td>
<td>${s.compensation_stack.map((c) => html`<div>↩ ${String(c.step)}: ${c.compensate}</div>`)}</td>
<td>${s.failure ? html`<span class="error">step ${String(s.failure.step)}: ${s.failure.reason}</span>` : ''}</td><td>${shortTime(s.updated_at)}</td></tr>`,
  )}</tbody></table>`;
}

async function aggregatorsFragment(deps: ServerDeps): Promise<Html> {
  const instances = await listAggregatorInstances(deps.bus.store);
  if (instances.length === 0) return html`<p class="muted">no aggregator instances</p>`;
  return html`${instances.map(
    (i) => html`<section><h2>${i.aggregator_id} <span class="muted">${i.correlation_id}</span></h2>
<table><thead><tr><th>Event</th><th>From</th><th>Status</th><th>Received At</th></tr></thead><tbody>${aggregatorStatusRows(i).map(
      (r) =>
        html`<tr><td>${r.event}</td><td>${r.from ?? ''}</td><td>${statusCell(r)}</td><td>${r.received_at ? shortTime(r.received_at) : '-'}</td></tr>`,
    )}</tbody></table>
<p><strong>Aggregation Status:</strong> ${aggregatorStatusLine(i)}${i.deadline ? html` <span class="muted">(deadline ${shortTime(i.deadline)})</span>` : ''}</p></section>`,
  )}`;
}

/** A live page: its fragment is rendered for the signed-in token. */
interface StatusPage {
  readonly path: string;
  readonly title: string;
  readonly fragment: (deps: ServerDeps, principal: Principal) => Promise<Html>;
}

const PAGES: readonly StatusPage[] = [
  { path: '/agents', title: 'Agents', fragment: agentsFragment },
  { path: '/sagas', title: 'Sagas', fragment: sagasFragment },
  { path: '/aggregators', title: 'Aggregators', fragment: aggregatorsFragment },
];

/** Adds `/agents`, `/sagas`, `/aggregators` and their live fragments. */
export function registerStatusPages(app: Hono<ServerEnv>, deps: ServerDeps): void {
  for (const p of PAGES) {
    app.get(p.path, async (c) =>
      c.html(page(p.title, p.path, live(`/ui${p.path}`, 3, await p.fragment(deps, c.get('principal'))))),
    );
    app.get(`/ui${p.path}`, async (c) => c.html(await p.fragment(deps, c.get('principal'))));
  }
}
