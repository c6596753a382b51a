/**
 * EventBridge `wildcard` values: `*` matches any run of characters (including none),
 * `\*` is a literal star, `\\` a literal backslash. Consecutive wildcards (`**`) and a
 * backslash before anything else are refused, as EventBridge does.
 *
 * Matching never backtracks: the pattern is cut at its stars into literal segments; the
 * first must be a prefix, the last a suffix, and each middle segment is found by
 * `indexOf` at its leftmost place after the previous one. For a star-only glob the
 * leftmost place is always a safe choice, so one left-to-right pass decides. Cost is
 * O(n·m) in the worst case (n text length, m the longest segment), usually linear.
 *
 * Pure: no I/O, no clock.
 */

/** A parsed wildcard: the literal text between stars (one segment when there is no star). */
export type WildcardSegments = readonly string[];

/** Why a wildcard value was refused, and the 0-based index of the offending character. */
export interface WildcardProblem {
  readonly reason: string;
  readonly index: number;
}

/** Splits a wildcard value at its unescaped stars, or says why it is invalid. */
export function parseWildcard(pattern: string): WildcardSegments | WildcardProblem {
  const segments: string[] = [];
  let current = '';
  let previousWasStar = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern.charAt(i);
    if (ch === '\\') {
      const next = pattern.charAt(i + 1);
      if (next !== '*' && next !== '\\') {
        return { reason: "a backslash may only escape '*' or '\\'", index: i };
      }
      current += next;
      i++;
      previousWasStar = false;
    } else if (ch === '*') {
      if (previousWasStar) return { reason: "consecutive wildcards '**' are not allowed", index: i };
      segments.push(current);
      current = '';
      previousWasStar = true;
    } else {
      current += ch;
      previousWasStar = false;
    }
  }
  segments.push(current);
  return segments;
}

/** True when `parsed` is a problem rather than segments. */
export function isWildcardProblem(parsed: WildcardSegments | WildcardProblem): parsed is WildcardProblem {
  return !Array.isArray(parsed);
}

/** Builds a matcher for already-parsed segments. */
export function compileWildcard(segments: WildcardSegments): (text: string) => boolean {
  const first = segments[0] ?? '';
  if (segments.length === 1) return (text) => text === first;
  const last = segments[segments.length - 1] ?? '';
  const middle = segments.slice(1, -1);
  let minLength = 0;
  for (const segment of segments) minLength += segment.length;
  return (text) => {
    if (text.length < minLength || !text.startsWith(first) || !text.endsWith(last)) return false;
    const limit = text.length - last.length;
    let pos = first.length;
    for (const segment of middle) {
      const at = text.indexOf(segment, pos);
      if (at === -1 || at + segment.length > limit) return false;
      pos = at + segment.length;
    }
    return true;
  };
}
