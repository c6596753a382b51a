/**
 * Topic patterns with NATS subject semantics: `*` matches exactly one token, `>` matches
 * one or more trailing tokens. `project.*` matches `project.tasks` but not
 * `project.tasks.done`; `project.>` matches both, but not `project` itself.
 * Patterns map 1:1 onto JetStream subjects.
 *
 * Pure: no I/O, no clock.
 */

import { invalidField } from '../errors.js';
import { describeChar, isTokenChar, isValidTopic, MAX_TOPIC_LENGTH } from './topic.js';

/** Decides whether one (valid) topic matches a compiled pattern. */
export type TopicMatcher = (topic: string) => boolean;

/** Why `pattern` is not a valid topic pattern, or `undefined` when it is. */
function patternProblem(pattern: unknown): { reason: string; column?: number } | undefined {
  if (typeof pattern !== 'string') {
    return { reason: `must be a string, got ${pattern === null ? 'null' : typeof pattern}` };
  }
  if (pattern.length === 0) return { reason: 'must not be empty' };
  if (pattern.length > MAX_TOPIC_LENGTH) {
    return { reason: `is ${pattern.length} characters long; the limit is ${MAX_TOPIC_LENGTH}` };
  }
  let token = 1;
  let tokenStart = 0;
  for (let i = 0; i <= pattern.length; i++) {
    const code = i === pattern.length ? 0x2e : pattern.charCodeAt(i);
    if (code === 0x2e) {
      if (i === tokenStart) return { reason: `empty token at position ${token}`, column: i + 1 };
      const single = i - tokenStart === 1 ? pattern.charCodeAt(tokenStart) : -1;
      if (single === 0x3e && i !== pattern.length) {
        return { reason: `'>' must be the last token, found at position ${token}`, column: tokenStart + 1 };
      }
      token++;
      tokenStart = i + 1;
    } else if (code === 0x2a || code === 0x3e) {
      const alone = i === tokenStart && (i + 1 === pattern.length || pattern.charCodeAt(i + 1) === 0x2e);
      if (!alone) {
        return {
          reason: `wildcard ${describeChar(pattern, i)} at column ${i + 1} must be a whole token`,
          column: i + 1,
        };
      }
    } else if (!isTokenChar(code)) {
      return {
        reason: `bad character ${describeChar(pattern, i)} at column ${i + 1}; tokens use only A-Z a-z 0-9 _ - or a lone * or >`,
        column: i + 1,
      };
    }
  }
  return undefined;
}

/**
 * Checks a subscription pattern: topic tokens, `*` for one token, `>` (last only) for one
 * or more trailing tokens; at most 255 characters.
 *
 * @param pattern the value to check
 * @param field dotted path named in the error
 * @default field `"topic"`
 * @returns the pattern, typed as a string
 * @throws AgentbusError `TOPIC_INVALID` naming the position or column of the problem
 * @example
 * validateTopicPattern('project.>') // 'project.>'
 * validateTopicPattern('project.>.x') // throws: topic: '>' must be the last token, found at position 2
 */
export function validateTopicPattern(pattern: unknown, field = 'topic'): string {
  const problem = patternProblem(pattern);
  if (problem === undefined && typeof pattern === 'string') return pattern;
  const reason = problem?.reason ?? 'must be a string';
  const extra = problem?.column === undefined ? {} : { column: problem.column };
  throw invalidField('TOPIC_INVALID', field, reason, extra);
}

/** True when `pattern` is a valid topic pattern (see {@link validateTopicPattern}). */
export function isValidTopicPattern(pattern: unknown): pattern is string {
  return patternProblem(pattern) === undefined;
}

/** True when `pattern` is a valid pattern without wildcards, so it matches only itself. */
export function isLiteralPattern(pattern: string): boolean {
  return isValidTopic(pattern);
}

/**
 * Compiles a pattern once into a matcher. A literal pattern compares strings; `prefix.>`
 * is a `startsWith`; anything else walks the topic once against precompiled tokens, with
 * no allocation and no backtracking (linear in the topic's length).
 *
 * The matcher expects a valid topic (topics are validated at publish); on other strings
 * its answer is unspecified but it never throws.
 *
 * @throws AgentbusError `TOPIC_INVALID` when the pattern is invalid
 * @example
 * const matches = compileTopicPattern('project.*')
 * matches('project.tasks') // true
 * matches('project.tasks.done') // false
 */
export function compileTopicPattern(pattern: string): TopicMatcher {
  validateTopicPattern(pattern);
  const wildcards = countWildcards(pattern);
  if (wildcards === 0) return (topic) => topic === pattern;
  if (pattern === '>') return (topic) => topic.length > 0;
  if (wildcards === 1 && pattern.endsWith('.>')) {
    const prefix = pattern.slice(0, -1);
    return (topic) => topic.length > prefix.length && topic.startsWith(prefix);
  }
  const tokens = pattern.split('.');
  return (topic) => matchTokens(tokens, topic);
}

/** How many `*` and `>` characters a (valid) pattern holds; each is a whole token. */
function countWildcards(pattern: string): number {
  let count = 0;
  for (let i = 0; i < pattern.length; i++) {
    const code = pattern.charCodeAt(i);
    if (code === 0x2a || code === 0x3e) count++;
  }
  return count;
}

/** Walks `topic` token by token against `tokens`; `pos` is the start of the current token. */
function matchTokens(tokens: readonly string[], topic: string): boolean {
  let pos = 0;
  for (const token of tokens) {
    if (pos > topic.length) return false; // the topic ran out of tokens
    if (token === '>') return pos < topic.length;
    let end = topic.indexOf('.', pos);
    if (end === -1) end = topic.length;
    if (token === '*') {
      if (end === pos) return false;
    } else if (end - pos !== token.length || !topic.startsWith(token, pos)) {
      return false;
    }
    pos = end + 1;
  }
  return pos === topic.length + 1;
}

/**
 * True when `topic` matches `pattern`. Compiles the pattern on every call: on a hot path,
 * keep the matcher from {@link compileTopicPattern} instead.
 *
 * @throws AgentbusError `TOPIC_INVALID` when the pattern is invalid
 * @example
 * matchTopic('project.>', 'project.tasks.done') // true
 */
export function matchTopic(pattern: string, topic: string): boolean {
  return compileTopicPattern(pattern)(topic);
}

/**
 * True when every topic `inner` matches is matched by `outer` too: `deploy.>` covers
 * `deploy.*` and `deploy.eu.>`, `deploy.*` does not cover `deploy.>`. A literal `inner` is
 * covered exactly when `outer` matches it. Both must be valid patterns.
 *
 * @example
 * patternCovers('deploy.>', 'deploy.*.done') // true
 * patternCovers('deploy.*', 'deploy.>') // false: deploy.a.b
 */
export function patternCovers(outer: string, inner: string): boolean {
  const o = outer.split('.');
  const n = inner.split('.');
  for (let i = 0; ; i++) {
    const a = o[i];
    const b = n[i];
    if (a === undefined || b === undefined) return a === undefined && b === undefined;
    if (a === '>') return true;
    // `>` and `*` in inner stand for tokens outer must accept whatever they are.
    if (b === '>') return false;
    if (a !== '*' && a !== b) return false;
  }
}

/**
 * True when some topic matches both patterns: `deploy.>` and `*.secrets` overlap
 * (`deploy.secrets`), `deploy.*` and `deploy.a.b` do not. Both must be valid patterns.
 *
 * @example
 * patternsOverlap('deploy.>', '*.secrets') // true
 */
export function patternsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; ; i++) {
    const p = x[i];
    const q = y[i];
    if (p === undefined || q === undefined) return p === undefined && q === undefined;
    if (p === '>' || q === '>') return true;
    if (p !== '*' && q !== '*' && p !== q) return false;
  }
}
