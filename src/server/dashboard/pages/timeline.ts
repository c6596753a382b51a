/**
 * A correlation's timeline (src/observe): a waterfall, where each event's bar runs from the
 * event that caused it to its own time (failures marked), beside the causation tree.
 */
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { type CausationNode, type TimelineEntry, causationTree, isDeliveryEntry, timeline } from '../../../observe/index.js';
import { formatDelay } from '../../../observe/text.js';
import type { ServerDeps, ServerEnv } from '../../env.js';
import { type Html, page } from '../layout.js';

const ROW = 22;
const LABEL = 360;
const WIDTH = 1000;

interface Bar {
  readonly entry: TimelineEntry;
  readonly offsetMs: number;
  readonly sinceCauseMs: number;
}

function bars(entries: readonly TimelineEntry[]): { bars: Bar[]; spanMs: number } {
  const times = entries.map((e) => Date.parse(e.time));
  const valid = times.filter((t) => !Number.isNaN(t));
  const start = valid.length ? Math.min(...valid) : 0;
  const timeOf = new Map<string, number>();
  const out = entries.map((entry, i) => {
    const time = Number.isNaN(times[i] as number) ? start : (times[i] as number);
    const failure = isDeliveryEntry(entry);
    if (!failure) timeOf.set(entry.eventId, time);
    // A failure hangs off the event that failed; an event off its cause.
    const from = failure ? entry.eventId : entry.causationId;
    const cause = from ? timeOf.get(from) : undefined;
    return { entry, offsetMs: time - start, sinceCauseMs: cause === undefined ? 0 : Math.max(0, time - cause) };
  });
  return { bars: out, spanMs: Math.max(0, ...out.map((b) => b.offsetMs)) };
}

function waterfall(entries: readonly TimelineEntry[]): Html {
  const { bars: rows, spanMs } = bars(entries);
  const scale = (WIDTH - LABEL - 80) / Math.max(spanMs, 1);
  const height = rows.length * ROW + 8;
  return html`<svg class="waterfall" viewBox="0 0 ${String(WIDTH)} ${String(height)}" role="img" aria-label="waterfall">${rows.map(
    (b, i) => {
      const end = LABEL + b.offsetMs * scale;
      const width = Math.max(3, b.sinceCauseMs * scale);
      const y = 4 + i * ROW;
      const e = b.entry;
      return html`<g class="${e.kind}"><title>${e.event} (${e.kind}) by ${e.agent} at ${e.time}, +${String(b.sinceCauseMs)} ms after its cause${e.message ? `: ${e.message}` : ''}</title>
<text x="4" y="${String(y + 14)}">${e.kind === 'event' ? '' : `${e.kind} `}${e.event.slice(0, 28)} ${e.agent.slice(0, 22)}</text>
<rect x="${String(Math.max(LABEL, end - width))}" y="${String(y + 3)}" width="${String(width)}" height="${String(ROW - 8)}"></rect>
<text x="${String(end + 4)}" y="${String(y + 14)}">+${String(b.offsetMs)}ms</text></g>`;
    },
  )}</svg>`;
}

function tree(nodes: readonly CausationNode[]): Html {
  return html`<ul class="tree">${nodes.map(
    (n) =>
      html`<li><a href="/events/${encodeURIComponent(n.entry.eventId)}">${n.entry.event}</a> <span class="muted">${n.entry.agent}</span>${n.failures.map(
        (f) =>
          f.kind === 'handled'
            ? html` <span class="ok">✓ ${kindOf(f)} in ${f.subscription ?? f.agent}</span>`
            : html` <span class="error">✗ ${kindOf(f)} in ${f.subscription ?? f.agent}: ${f.reason ?? ''}</span>`,
      )}${n.children.length ? tree(n.children) : ''}</li>`,
  )}</ul>`;
}

/** The Kind column: a failed or handled attempt with its number, and the delay chosen after a failure. */
function kindOf(e: TimelineEntry): string {
  if (e.attempt === undefined) return e.kind;
  const after = e.delayMs === undefined ? '' : `, retried after ${formatDelay(e.delayMs)}`;
  return `${e.kind} (attempt ${e.attempt}${after})`;
}

function form(value: string): Html {
  return html`<form class="toolbar" method="get" action="/timeline"><label>Correlation ID <input type="text" name="correlation" value="${value}" required></label><button class="primary" type="submit">Show</button></form>`;
}

/** Adds `/timeline` and `/timeline/:correlation`. */
export function registerTimelinePage(app: Hono<ServerEnv>, deps: ServerDeps): void {
  app.get('/timeline', (c) => {
    const correlation = c.req.query('correlation');
    if (correlation) return c.redirect(`/timeline/${encodeURIComponent(correlation)}`, 303);
    return c.html(page('Correlation timeline', '/timeline', form('')));
  });
  app.get('/timeline/:correlation', async (c) => {
    const correlation = c.req.param('correlation');
    const p = c.get('principal');
    const entries = (await timeline(deps.bus.store, correlation)).filter((e) => p.canSubscribe(e.topic));
    const body =
      entries.length === 0
        ? html`${form(correlation)}<p class="muted">no events with correlation id ${correlation}</p>`
        : html`${form(correlation)}
<div class="split"><section><h2>Waterfall</h2>${waterfall(entries)}</section><section><h2>Causation tree</h2>${tree(causationTree(entries))}</section></div>
<h2>Events</h2>
<table><thead><tr><th>Time</th><th>Event</th><th>Agent</th><th>Kind</th><th>Correlation ID</th></tr></thead><tbody>${entries.map(
            (e) =>
              html`<tr><td>${e.time}</td><td><a href="/events/${encodeURIComponent(e.eventId)}">${e.event}</a></td><td>${e.agent}</td><td>${kindOf(e)}${e.message ? html` <span class="error">${e.message}</span>` : ''}</td><td>${e.correlationId}</td></tr>`,
          )}</tbody></table>`;
    return c.html(page(`Timeline ${correlation}`, '/timeline', body));
  });
}
