/**
 * Markdown tables in the seed's style (`| Time | Event | Agent | Correlation ID |`), with
 * every column padded to its widest cell so they read well in a terminal too.
 */

/** Escapes what would break a markdown table row: pipes and line breaks. */
function cell(value: string): string {
  return value.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/**
 * Formats a table: a header row, a `|-----|` separator row and one row per entry, columns
 * padded to the widest cell. Rows shorter than the header are padded with empty cells.
 *
 * @example
 * formatTable(['Time', 'Event'], [['10:00', 'FeatureStarted']])
 * // | Time  | Event          |
 * // |-------|----------------|
 * // | 10:00 | FeatureStarted |
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const body = rows.map((row) => headers.map((_, i) => cell(row[i] ?? '')));
  const head = headers.map(cell);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  const separator = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(head), separator, ...body.map(line)].join('\n');
}
