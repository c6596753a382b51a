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

/** A delay as the seed's Retry Timeline writes it: `250ms`, `1s`, `1.5s`, `2m`, `1.5h`. */
export function formatDelay(ms: number): string {
  const unit = (value: number, suffix: string) => `${Number(value.toFixed(1))}${suffix}`;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return unit(ms / 1_000, 's');
  if (ms < 3_600_000) return unit(ms / 60_000, 'm');
  return unit(ms / 3_600_000, 'h');
}
