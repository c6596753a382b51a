/**
 * Bounded label values: metrics are labelled by topic, subscription, agent and failure reason,
 * which users name, so each label keeps at most a fixed number of distinct values and maps
 * the rest to `_other`. Event and correlation ids are never labels.
 */

/** The value that stands for every value past the limit. */
export const OTHER_LABEL = '_other';

/** Maps label values to themselves until `max` distinct ones were seen, then to `_other`. */
export class LabelGuard {
  readonly #seen = new Set<string>();

  constructor(readonly max: number) {}

  value(v: string): string {
    if (this.#seen.has(v)) return v;
    if (this.#seen.size >= this.max) return OTHER_LABEL;
    this.#seen.add(v);
    return v;
  }
}
