/**
 * Small view helpers shared by the pages: table cells and JSON (bars and counts: observe/text.ts).
 */
import { html } from 'hono/html';
import type { Html } from './layout.js';

/** A cell's text for any JSON value. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Pretty JSON in a `<pre>`, escaped. */
export function jsonBlock(value: unknown): Html {
  return html`<pre>${JSON.stringify(value, null, 2)}</pre>`;
}

/**
 * A table of records whose shape the page does not know in advance (status of agents,
 * sagas, aggregators): one column per key of the first records, nested values as JSON.
 */
export function recordTable(records: readonly unknown[], empty: string): Html {
  const rows = records.filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null && !Array.isArray(r));
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].slice(0, 12);
  return html`<table><thead><tr>${keys.map((k) => html`<th>${k}</th>`)}</tr></thead><tbody>${rows.map(
    (r) => html`<tr>${keys.map((k) => html`<td>${cellText(r[k])}</td>`)}</tr>`,
  )}</tbody></table>`;
}

/** The list inside a status answer: the value itself when it is an array, else its first array field. */
export function listOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'object' && value !== null) {
    for (const field of Object.values(value)) if (Array.isArray(field)) return field;
  }
  return [];
}
