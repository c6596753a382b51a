/**
 * How a refusal of a zod schema reads in agentbus's errors: the field as users write it
 * (`steps[1].success`; for an unknown key, the key itself: `retry.maxRetries`) and a reason
 * in plain words (`required`, `unknown key`) instead of zod's own phrasing.
 */
import type { z } from 'zod';

/** A schema refusal in agentbus's words. */
export interface SchemaIssue {
  /** Path of the offending field; for an unknown key, the key is the last segment. */
  readonly path: ReadonlyArray<string | number>;
  readonly reason: string;
}

const ZOD_PREFIX = /^(Invalid input|Invalid option|Too small|Too big): /;

/** Describes one zod issue: where, and why in plain words. */
export function describeIssue(issue: z.core.$ZodIssue): SchemaIssue {
  const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
  if (issue.code === 'unrecognized_keys') {
    const [key = '', ...more] = issue.keys;
    return { path: [...path, key], reason: more.length > 0 ? `unknown key (and ${more.join(', ')})` : 'unknown key' };
  }
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) return { path, reason: 'required' };
  return { path, reason: issue.message.replace(ZOD_PREFIX, '') };
}

/**
 * A path as users write it, after an optional prefix: `steps[1].success`,
 * `retry.retry_on[0]`. An empty path with no prefix is `(root)`.
 */
export function formatFieldPath(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let out = prefix;
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : `${out === '' ? '' : '.'}${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}
