/**
 * The page shell: navigation, the server's own scripts and styles, htmx configured for a
 * strict CSP (no indicator styles injected, no eval). Every interpolated string is escaped
 * by `hono/html`.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/** HTML produced by the dashboard's templates. */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const NAV: ReadonlyArray<readonly [string, string]> = [
  ['/', 'Overview'],
  ['/topics', 'Topics'],
  ['/subscriptions', 'Subscriptions'],
  ['/agents', 'Agents'],
  ['/tail', 'Live tail'],
  ['/timeline', 'Timeline'],
  ['/dlq', 'Dead letters'],
  ['/sagas', 'Sagas'],
  ['/aggregators', 'Aggregators'],
];

const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
});

/** A full page. `active` is the nav entry to highlight. */
export function page(title: string, active: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content="${HTMX_CONFIG}">
<title>${title} · agentbus</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uplot.min.css">
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/htmx.min.js" defer></script>
<script src="/assets/uplot.min.js" defer></script>
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<header><strong>agentbus</strong><nav>${NAV.map(
    ([href, label]) => html`<a href="${href}" class="${href === active ? 'active' : ''}">${label}</a>`,
  )}</nav></header>
<main><h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

/** A panel that reloads itself from `url` every `seconds` (htmx polling). */
export function live(url: string, seconds: number, content: Html): Html {
  return html`<div hx-get="${url}" hx-trigger="every ${String(seconds)}s" hx-swap="innerHTML">${content}</div>`;
}

/** Says plainly that a part of the system is not in this build. */
export function unavailable(what: string): Html {
  return html`<p class="gap">${what} is not available in this build.</p>`;
}

/** `2025-11-29 14:30:00` (UTC) of an ISO time or ms. */
export function shortTime(value: string | number): string {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return Number.isNaN(ms) ? String(value) : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}
