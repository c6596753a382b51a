/**
 * The live tail (a filter box over `/v1/events/stream`) and the event inspector.
 */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { eventNotFound, readableEvent } from '../../read-rules.js';
import type { ServerDeps, ServerEnv } from '../../env.js';
import { page, shortTime } from '../layout.js';
import { jsonBlock } from '../views.js';

/** Adds `/tail` and `/events/:id`. */
export function registerEventPages(app: Hono<ServerEnv>, deps: ServerDeps): void {
  app.get('/tail', (c) => {
    const topic = c.req.query('topic') ?? '>';
    const filter = c.req.query('filter') ?? '';
    return c.html(
      page(
        'Live tail',
        '/tail',
        html`<form id="tail-form" class="toolbar" method="get" action="/tail">
  <label>Topic <input type="text" name="topic" value="${topic}" placeholder="project.>"></label>
  <label>Filter <input type="text" name="filter" value="${filter}" placeholder="type=TaskCompletedEvent and payload.status=completed"></label>
  <label>From <select name="from"><option value="latest">latest</option><option value="earliest">earliest</option></select></label>
  <button class="primary" type="submit">Tail</button>
  <button type="button" id="tail-clear">Clear</button>
</form>
<p id="tail-status" class="status">starting…</p>
<table><thead><tr><th>Seq</th><th>Time</th><th>Topic</th><th>Event</th><th>Agent</th><th>Correlation ID</th><th>Payload</th></tr></thead>
<tbody id="tail-rows"></tbody></table>`,
      ),
    );
  });

  app.get('/events/:id', async (c) => {
    const id = c.req.param('id');
    const principal = c.get('principal');
    // One of a topic the token may not read is answered as one that does not exist.
    const stored = await readableEvent(deps.bus, principal, id);
    if (!stored) throw eventNotFound(id);
    const { event, routing } = stored.envelope;
    const caused = [];
    for await (const e of deps.bus.events({ causationId: event.id, limit: 100 })) {
      if (principal.canSubscribe(e.envelope.routing.topic)) caused.push(e);
    }
    return c.html(
      page(
        `Event ${event.type}`,
        '/tail',
        html`<table><tbody>
<tr><th>Id</th><td>${event.id}</td></tr>
<tr><th>Position</th><td>${String(stored.seq)} (stored ${shortTime(stored.storedAt)})</td></tr>
<tr><th>Type</th><td>${event.type} (${event.kind})</td></tr>
<tr><th>Source</th><td>${event.source}</td></tr>
<tr><th>Topic</th><td>${routing.topic}</td></tr>
<tr><th>Time</th><td>${event.timestamp}</td></tr>
<tr><th>Correlation</th><td><a href="/timeline/${encodeURIComponent(event.correlation_id)}">${event.correlation_id}</a></td></tr>
<tr><th>Caused by</th><td>${event.causation_id ? html`<a href="/events/${encodeURIComponent(event.causation_id)}">${event.causation_id}</a>` : html`<span class="muted">(root)</span>`}</td></tr>
<tr><th>Caused</th><td>${caused.map((e) => html`<a href="/events/${encodeURIComponent(e.envelope.event.id)}">${e.envelope.event.type}</a> `)}</td></tr>
</tbody></table>
<h2>Payload</h2>${jsonBlock(stored.envelope.payload)}
<h2>Envelope</h2>${jsonBlock(stored.envelope)}`,
      ),
    );
  });
}
