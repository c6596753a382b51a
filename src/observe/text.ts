/**
 * The seed's text figures, shared by the CLI's tables and the dashboard: counts with
 * thousands separators and bars of full and light blocks.
 */

/** `1,247`. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** `████████░░░░`: `value` out of `max` in `width` cells (rounded; an empty or zero `max` draws none filled). */
export function textBar(value: number, max: number, width = 20): string {
  const filled = max <= 0 ? 0 : Math.min(width, Math.max(0, Math.round((value / max) * width)));
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}
