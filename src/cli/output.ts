/** Writes one line on stdout. */
export function writeLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Writes a note for the person at the terminal on stderr (never part of the output). */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** Prints a value as JSON: indented for people, or compact on one line with `--json`. */
export function printJson(value: unknown, compact: boolean): void {
  writeLine(compact ? JSON.stringify(value) : JSON.stringify(value, null, 2));
}

/**
 * JSON laid out as the seed writes it: indented by two, but an object of plain values inside
 * an array on one line (`{ "step": 1, "event": "ArtifactBuilt" }`), so a list of small records
 * reads as a list.
 */
export function formatSeedJson(value: unknown, indent = ''): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => `${inner}${isFlatRecord(v) ? flatRecord(v) : formatSeedJson(v, inner)}`).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatSeedJson(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function isFlatRecord(value: unknown): value is Record<string, unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => v === null || typeof v !== 'object')
  );
}

function flatRecord(value: Record<string, unknown>): string {
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')} }`;
}

export { type StoredEventJson, storedEventJson } from '../bus/wire.js';

/** `YYYY-MM-DD`, `HH:MM:SS` and `.mmm` of an instant, in UTC. */
function utcParts(ms: number): { day: string; clock: string; millis: string } {
  const iso = new Date(ms).toISOString();
  return { day: iso.slice(0, 10), clock: iso.slice(11, 19), millis: iso.slice(19, 23) };
}

/**
 * Formats a column of times (UTC): `HH:MM:SS` when they all fall on the same day, else
 * `YYYY-MM-DD HH:MM:SS`. Unparseable times are shown as given.
 */
export function formatTimeColumn(times: readonly string[]): string[] {
  const parts = times.map((t) => {
    const ms = Date.parse(t);
    return Number.isNaN(ms) ? undefined : utcParts(ms);
  });
  const days = new Set(parts.map((p) => p?.day));
  return parts.map((p, i) => {
    if (!p) return times[i] as string;
    return days.size === 1 ? p.clock : `${p.day} ${p.clock}`;
  });
}

/** `HH:MM:SS.mmm` (UTC), for timelines that run in milliseconds. */
export function formatClockMillis(time: string): string {
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) return time;
  const p = utcParts(ms);
  return `${p.clock}${p.millis}`;
}
