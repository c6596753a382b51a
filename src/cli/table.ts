/**
 * Markdown tables in the seed's style (`| Time | Event | Agent | Correlation ID |`), with
 * every column padded to its widest cell so they read well in a terminal too.
 */

/** Escapes what would break a markdown table row: pipes and line breaks. */
function cell(value: string): string {
  return value.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

// Emoji shown as pictures (✅ ⏳ ❌ 🟢) and East Asian wide characters take two columns of a
// terminal; variation selectors, joiners and combining marks take none.
const WIDE =
  /\p{Emoji_Presentation}|[\u1100-\u115F\u2E80-\u303E\u3041-\u33FF\u3400-\u4DBF\u4E00-\u9FFF\uA000-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/u;
const ZERO = /\p{Mn}|\p{Me}|\p{Cf}/u;

/** Columns `text` takes in a terminal: emoji and wide characters count two, marks none. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += ZERO.test(char) ? 0 : WIDE.test(char) ? 2 : 1;
  return width;
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

/**
 * Formats a table: a header row, a `|-----|` separator row and one row per entry, columns
 * padded to the widest cell (in terminal columns, so `✅ Received` lines up). Rows shorter
 * than the header are padded with empty cells.
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
  const widths = head.map((h, i) => Math.max(displayWidth(h), ...body.map((row) => displayWidth(row[i] as string))));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => pad(c, widths[i] as number)).join(' | ')} |`;
  const separator = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(head), separator, ...body.map(line)].join('\n');
}
