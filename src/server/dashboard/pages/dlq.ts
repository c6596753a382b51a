/**
 * Dead-letter triage, the seed's way: groups by cause (investigate), each dead letter with
 * its error and event (inspect), replay by clicking, fix and replay with a corrected
 * payload, archive with a note. Admin only.
 */
import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import type { JsonValue } from '../../../envelope/index.js';
import { AgentbusError, invalidField } from '../../../errors.js';
import { deadLetterAction } from '../../../bus/index.js';
import type { DeadLetter } from '../../../store/event-store.js';
import { validateCorrelationId } from '../../../store/history-query.js';
import { formatDelay } from '../../../observe/text.js';
import { requireAdmin } from '../../auth.js';
import type { ServerDeps, ServerEnv } from '../../env.js';
import { type Html, live, page, shortTime } from '../layout.js';
import { jsonBlock } from '../views.js';

const STATUSES = ['open', 'replayed', 'archived', 'all'] as const;
type StatusFilter = (typeof STATUSES)[number];

/** One dead letter's row; replaced in place after a replay. */
function row(d: DeadLetter): Html {
  const { event } = d.event.envelope;
  return html`<tr data-dead-letter="${String(d.id)}">
<td class="num">${String(d.id)}</td><td><a href="/events/${encodeURIComponent(event.id)}">${event.id}</a></td><td>${event.type}</td><td>${d.consumer}</td>
<td><span class="error">${d.reason}</span>: ${d.error.split('\n')[0]?.slice(0, 200) ?? ''}</td><td class="num">${String(d.retries)}</td>
<td><span class="badge ${d.status}">${d.status}</span></td>
<td>${
    d.status === 'open'
      ? html`<form class="inline" method="post" action="/ui/dlq/${String(d.id)}/replay" hx-post="/ui/dlq/${String(d.id)}/replay" hx-target="closest tr" hx-swap="outerHTML"><button type="submit" class="primary" name="replay">Replay</button></form>
<a href="/dlq/${String(d.id)}">${deadLetterAction(d) === 'Fix and replay' ? 'Fix and replay' : 'Inspect'}</a>`
      : html`<a href="/dlq/${String(d.id)}">Inspect</a>`
  }</td></tr>`;
}

/** What the list shows: dead letters of a status, of one flow's events when a correlation id is given. */
interface DlqView {
  readonly status: StatusFilter;
  readonly correlationId?: string;
}

async function dlqFragment(deps: ServerDeps, view: DlqView): Promise<Html> {
  const { status, correlationId } = view;
  const [groups, letters] = await Promise.all([
    deps.bus.deadLetters.groups(),
    deps.bus.deadLetters.list({
      ...(status === 'all' ? {} : { status }),
      ...(correlationId === undefined ? {} : { correlationId }),
      limit: 500,
    }),
  ]);
  return html`<h2>Groups (open, by cause)</h2>
${
  groups.length === 0
    ? html`<p class="muted">no open dead letters</p>`
    : html`<table><thead><tr><th>Fingerprint</th><th>Subscription</th><th>Failure</th><th class="num">Count</th><th>Last failure</th><th></th></tr></thead><tbody>${groups.map(
        (g) =>
          html`<tr><td>${g.fingerprint}</td><td>${g.subscription}</td><td><span class="error">${g.reason}</span>: ${g.message.split('\n')[0]?.slice(0, 160) ?? ''}</td><td class="num">${String(g.count)}</td><td>${shortTime(g.lastFailedAt)}</td>
<td><form class="inline" method="post" action="/ui/dlq/replay" hx-post="/ui/dlq/replay" hx-target="#dlq" hx-swap="innerHTML"><input type="hidden" name="ids" value="${g.ids.join(',')}"><button type="submit">Replay ${String(g.count)}</button></form></td></tr>`,
      )}</tbody></table>`
}
<h2>Dead letters (${status})${correlationId === undefined ? '' : html` of ${correlationId}`}</h2>
${
  letters.length === 0
    ? html`<p class="muted">none</p>`
    : html`<table id="dead-letters"><thead><tr><th class="num">#</th><th>Event ID</th><th>Type</th><th>Subscription</th><th>Failure Reason</th><th class="num">Retries</th><th>Status</th><th>Action</th></tr></thead><tbody>${letters.map(row)}</tbody></table>`
}`;
}

/** The list's filters from the query: `status`, and `correlation_id` (an empty one, as a form sends it, is none). */
function viewOf(c: Context<ServerEnv>): DlqView {
  const value = c.req.query('status') ?? 'open';
  if (!(STATUSES as readonly string[]).includes(value))
    throw invalidField('OPTIONS_INVALID', 'query.status', `must be one of ${STATUSES.join(', ')}`);
  const correlation = c.req.query('correlation_id') ?? '';
  return {
    status: value as StatusFilter,
    ...(correlation === '' ? {} : { correlationId: validateCorrelationId(correlation, 'query.correlation_id') }),
  };
}

/** The fragment's own URL, which the page polls. */
function fragmentUrl(view: DlqView): string {
  const query = new URLSearchParams({ status: view.status });
  if (view.correlationId !== undefined) query.set('correlation_id', view.correlationId);
  return `/ui/dlq?${query}`;
}

async function getDead(deps: ServerDeps, raw: string): Promise<DeadLetter> {
  const id = /^\d+$/.test(raw) ? Number(raw) : 0;
  const dead = id > 0 ? await deps.bus.deadLetters.get(id) : undefined;
  if (!dead) throw new AgentbusError('NOT_FOUND', `dead letter ${raw} does not exist`);
  return dead;
}

/** Each failed attempt, as the seed's Retry Timeline reads: #, when, reason, error, what followed. */
function attemptsTable(d: DeadLetter): Html {
  if (d.attempts.length === 0) return html`<p class="muted">not recorded (the dead letter is older than attempt history)</p>`;
  const earlier = (d.attempts[0]?.at ?? 0) > d.firstFailedAt;
  return html`<table id="attempts"><thead><tr><th class="num">#</th><th>At</th><th>Reason</th><th>Error</th><th>Then</th></tr></thead><tbody>${d.attempts.map(
    (a, i) =>
      html`<tr><td class="num">${String(a.attempt)}</td><td>${new Date(a.at).toISOString()}</td><td><span class="error">${a.reason}</span></td><td>${a.error}</td><td>${
        a.delayMs !== undefined ? `retried after ${formatDelay(a.delayMs)}` : i === d.attempts.length - 1 ? '→ DLQ' : 'retried'
      }</td></tr>`,
  )}</tbody></table>${earlier ? html`<p class="muted">earlier attempts not kept (the last ${String(d.attempts.length)} are)</p>` : ''}`;
}

function inspectPage(d: DeadLetter, problem?: string): Html {
  const { event } = d.event.envelope;
  return page(
    `Dead letter ${String(d.id)}`,
    '/dlq',
    html`<table><tbody>
<tr><th>Status</th><td><span class="badge ${d.status}">${d.status}</span>${d.note ? html` (${d.note})` : ''}${d.replayedAs ? html` as <a href="/events/${encodeURIComponent(d.replayedAs)}">${d.replayedAs}</a>` : ''}</td></tr>
<tr><th>Subscription</th><td>${d.consumer}</td></tr>
<tr><th>Event</th><td><a href="/events/${encodeURIComponent(event.id)}">${event.id}</a> ${event.type} on ${d.event.envelope.routing.topic}</td></tr>
<tr><th>Failure</th><td><span class="error">${d.reason}</span> after ${String(d.retries)} retries; first ${shortTime(d.firstFailedAt)}, last ${shortTime(d.lastFailedAt)}</td></tr>
</tbody></table>
<h2>Attempts</h2>${attemptsTable(d)}
<h2>Error</h2><pre class="error-text">${d.error}${d.stack ? `\n\n${d.stack}` : ''}</pre>
${
  d.status === 'open'
    ? html`<div class="split"><section><h2>Fix and replay</h2>
<form id="fix-form" method="post" action="/ui/dlq/${String(d.id)}/replay">
<textarea name="payload">${JSON.stringify(d.event.envelope.payload, null, 2)}</textarea>
<p id="fix-error" class="error">${problem ?? ''}</p>
<button class="primary" type="submit">Replay with this payload</button></form>
<form method="post" action="/ui/dlq/${String(d.id)}/replay"><button type="submit">Replay unchanged</button></form></section>
<section><h2>Archive</h2><form method="post" action="/ui/dlq/${String(d.id)}/archive" class="toolbar"><input type="text" name="note" placeholder="why it cannot be recovered" required><button type="submit">Archive</button></form></section></div>`
    : ''
}
<h2>Event</h2>${jsonBlock(d.event.envelope)}`,
  );
}

function parsePayload(text: unknown): JsonValue | undefined {
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw invalidField('OPTIONS_INVALID', 'payload', `not valid JSON: ${(error as Error).message}`);
  }
}

/** Adds `/dlq`, `/dlq/:id` and the triage actions. */
export function registerDlqPages(app: Hono<ServerEnv>, deps: ServerDeps): void {
  const admin = async (c: Context<ServerEnv>, next: () => Promise<void>) => {
    requireAdmin(c.get('principal'), 'work the dead-letter queue');
    await next();
  };
  app.use('/dlq', admin);
  app.use('/dlq/*', admin);
  app.use('/ui/dlq', admin);
  app.use('/ui/dlq/*', admin);

  app.get('/dlq', async (c) => {
    const view = viewOf(c);
    const filters = html`<form class="toolbar" method="get" action="/dlq"><label>Status <select name="status">${STATUSES.map(
      (s) => html`<option value="${s}" ${s === view.status ? 'selected' : ''}>${s}</option>`,
    )}</select></label><label>Correlation ID <input name="correlation_id" maxlength="255" value="${view.correlationId ?? ''}"></label><button type="submit">Show</button></form>`;
    const body = await dlqFragment(deps, view);
    return c.html(page('Dead letters', '/dlq', html`${filters}<div id="dlq">${live(fragmentUrl(view), 5, body)}</div>`));
  });
  app.get('/ui/dlq', async (c) => c.html(await dlqFragment(deps, viewOf(c))));
  app.get('/dlq/:id', async (c) => c.html(inspectPage(await getDead(deps, c.req.param('id')))));

  app.post('/ui/dlq/:id/replay', async (c) => {
    const dead = await getDead(deps, c.req.param('id'));
    const form = await c.req.parseBody();
    let payload: JsonValue | undefined;
    try {
      payload = parsePayload(form.payload);
    } catch (error) {
      return c.html(inspectPage(dead, (error as Error).message), 422);
    }
    if (dead.status === 'open') await deps.bus.deadLetters.replay([dead.id], payload === undefined ? {} : { payload });
    const after = await getDead(deps, String(dead.id));
    if (c.req.header('hx-request') === 'true') return c.html(row(after));
    return c.redirect(`/dlq/${dead.id}`, 303);
  });

  app.post('/ui/dlq/replay', async (c) => {
    const form = await c.req.parseBody();
    const ids = String(form.ids ?? '')
      .split(',')
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
    if (ids.length === 0) throw invalidField('OPTIONS_INVALID', 'ids', 'no dead letters selected');
    const open = [];
    for (const id of new Set(ids)) if ((await deps.bus.deadLetters.get(id))?.status === 'open') open.push(id);
    if (open.length > 0) await deps.bus.deadLetters.replay(open);
    if (c.req.header('hx-request') === 'true')
      return c.html(live('/ui/dlq?status=open', 5, await dlqFragment(deps, { status: 'open' })));
    return c.redirect('/dlq', 303);
  });

  app.post('/ui/dlq/:id/archive', async (c) => {
    const dead = await getDead(deps, c.req.param('id'));
    const form = await c.req.parseBody();
    const note = typeof form.note === 'string' ? form.note.trim() : '';
    if (note === '') throw invalidField('OPTIONS_INVALID', 'note', 'an archived dead letter needs a note saying why');
    await deps.bus.deadLetters.archive(dead.id, note);
    return c.redirect(`/dlq/${dead.id}`, 303);
  });
}
