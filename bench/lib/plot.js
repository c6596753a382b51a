/**
 * A horizontal bar chart of throughput per scenario, as a standalone SVG (no dependencies,
 * readable in a browser or on GitHub). Scenarios are coloured by group.
 */

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];
const ROW = 22;
const LABEL_WIDTH = 190;
const BAR_WIDTH = 520;
const VALUE_WIDTH = 90;

const escapeXml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/**
 * @param {Array<{ name: string, group?: string, eventsPerSec?: number }>} rows
 * @param {{ title: string }} options
 * @returns {string} SVG text
 */
export function throughputSvg(rows, { title }) {
  const bars = rows.filter((r) => Number.isFinite(r.eventsPerSec) && r.eventsPerSec > 0);
  const max = Math.max(1, ...bars.map((r) => r.eventsPerSec));
  const groups = [...new Set(bars.map((r) => r.group ?? ''))];
  const colour = (group) => PALETTE[groups.indexOf(group ?? '') % PALETTE.length];
  const top = 40;
  const height = top + bars.length * ROW + 40;
  const width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH + 20;
  const body = bars.map((row, i) => {
    const y = top + i * ROW;
    const w = Math.max(1, Math.round((BAR_WIDTH * row.eventsPerSec) / max));
    const value = Math.round(row.eventsPerSec).toLocaleString('en-US');
    return [
      `<text x="${LABEL_WIDTH - 8}" y="${y + 15}" text-anchor="end">${escapeXml(row.name)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y + 3}" width="${w}" height="${ROW - 6}" fill="${colour(row.group)}"/>`,
      `<text x="${LABEL_WIDTH + w + 6}" y="${y + 15}">${value}/s</text>`,
    ].join('');
  });
  const legend = groups.map(
    (g, i) =>
      `<rect x="${LABEL_WIDTH + i * 120}" y="${height - 24}" width="12" height="12" fill="${colour(g)}"/>` +
      `<text x="${LABEL_WIDTH + i * 120 + 16}" y="${height - 14}">${escapeXml(g || 'other')}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
