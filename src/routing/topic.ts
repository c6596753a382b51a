/**
 * Topics: dot-separated tokens such as `project.tasks`.
 *
 * Pure: no I/O, no clock.
 */

import { invalidField } from '../errors.js';

/** The longest topic (or topic pattern) accepted, in characters. */
export const MAX_TOPIC_LENGTH = 255;

/** True when `code` (a UTF-16 code unit) may appear inside a token: `[A-Za-z0-9_-]`. */
export function isTokenChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x5f || // _
    code === 0x2d // -
  );
}

/** How a character is shown in an error: printable ASCII as is, anything else as `U+XXXX`. */
export function describeChar(text: string, index: number): string {
  const code = text.codePointAt(index) ?? 0;
  if (code > 0x20 && code < 0x7f) return `'${String.fromCharCode(code)}'`;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `topic` is not a valid topic, or `undefined` when it is. Reasons name the token
 * position (1-based) or the column (1-based) of the first problem.
 */
function topicProblem(topic: unknown): { reason: string; column?: number } | undefined {
  if (typeof topic !== 'string') {
    return { reason: `must be a string, got ${topic === null ? 'null' : typeof topic}` };
  }
  if (topic.length === 0) return { reason: 'must not be empty' };
  if (topic.length > MAX_TOPIC_LENGTH) {
    return { reason: `is ${topic.length} characters long; the limit is ${MAX_TOPIC_LENGTH}` };
  }
  let token = 1;
  let tokenStart = 0;
  for (let i = 0; i <= topic.length; i++) {
    if (i === topic.length || topic.charCodeAt(i) === 0x2e) {
      if (i === tokenStart) return { reason: `empty token at position ${token}`, column: i + 1 };
      token++;
      tokenStart = i + 1;
    } else if (!isTokenChar(topic.charCodeAt(i))) {
      return {
        reason: `bad character ${describeChar(topic, i)} at column ${i + 1}; tokens use only A-Z a-z 0-9 _ -`,
        column: i + 1,
      };
    }
  }
  return undefined;
}

/**
 * Checks a topic: dot-separated tokens of `[A-Za-z0-9_-]+`, at most 255 characters.
 *
 * @param topic the value to check
 * @param field dotted path named in the error
 * @default field `"routing.topic"`
 * @returns the topic, typed as a string
 * @throws AgentbusError `TOPIC_INVALID` naming the empty token, the bad character's
 *   column, or the length
 * @example
 * validateTopic('project.tasks') // 'project.tasks'
 * validateTopic('project..tasks') // throws: routing.topic: empty token at position 2
 */
export function validateTopic(topic: unknown, field = 'routing.topic'): string {
  const problem = topicProblem(topic);
  if (problem === undefined && typeof topic === 'string') return topic;
  const reason = problem?.reason ?? 'must be a string';
  const extra = problem?.column === undefined ? {} : { column: problem.column };
  throw invalidField('TOPIC_INVALID', field, reason, extra);
}

/** True when `topic` is a valid topic (see {@link validateTopic}). */
export function isValidTopic(topic: unknown): topic is string {
  return topicProblem(topic) === undefined;
}
