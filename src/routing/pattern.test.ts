import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../errors.js';
import {
  compileTopicPattern,
  isLiteralPattern,
  isValidTopicPattern,
  matchTopic,
  patternCovers,
  patternsOverlap,
  validateTopicPattern,
} from './index.js';

/** NATS subject matching, written the obvious way, token arrays and recursion. */
function reference(pattern: readonly string[], topic: readonly string[]): boolean {
  const [head, ...rest] = pattern;
  if (head === undefined) return topic.length === 0;
  if (head === '>') return topic.length > 0;
  const [first, ...others] = topic;
  if (first === undefined) return false;
  return (head === '*' || head === first) && reference(rest, others);
}

describe('topic patterns (NATS semantics)', () => {
  it.each([
    ['project.tasks', 'project.tasks', true],
    ['project.tasks', 'project.tasks.done', false],
    ['project.tasks', 'project', false],
    ['project.*', 'project.tasks', true],
    ['project.*', 'project.tasks.done', false],
    ['project.*', 'project', false],
    ['project.>', 'project.tasks', true],
    ['project.>', 'project.tasks.done', true],
    ['project.>', 'project', false],
    ['project.>', 'projects.tasks', false],
    ['*.tasks', 'project.tasks', true],
    ['*.tasks', 'project.reviews', false],
    ['*.*.done', 'a.b.done', true],
    ['*.*.done', 'a.done', false],
    ['a.*.>', 'a.b', false],
    ['a.*.>', 'a.b.c.d', true],
    ['>', 'anything.at.all', true],
    ['*', 'one', true],
    ['*', 'one.two', false],
    ['tasks', 'task', false],
    ['task.*', 'tasks.x', false],
  ])('%s vs %s -> %s', (pattern, topic, expected) => {
    expect(matchTopic(pattern, topic)).toBe(expected);
    expect(compileTopicPattern(pattern)(topic)).toBe(expected);
  });

  it.each([
    ['project.>.x', "topic: '>' must be the last token, found at position 2"],
    ['project.ta*', "topic: wildcard '*' at column 11 must be a whole token"],
    ['project.>>', "topic: wildcard '>' at column 9 must be a whole token"],
    ['project..*', 'topic: empty token at position 2'],
    ['', 'topic: must not be empty'],
    ['a b', 'topic: bad character U+0020 at column 2; tokens use only A-Z a-z 0-9 _ - or a lone * or >'],
  ])('refuses %j', (pattern, message) => {
    expect(isValidTopicPattern(pattern)).toBe(false);
    expect(() => validateTopicPattern(pattern)).toThrow(message);
    try {
      compileTopicPattern(pattern);
      expect.unreachable();
    } catch (e) {
      expect(isAgentbusError(e, 'TOPIC_INVALID')).toBe(true);
    }
  });

  it('tells literal patterns from wildcard ones', () => {
    expect(isLiteralPattern('project.tasks')).toBe(true);
    expect(isLiteralPattern('project.*')).toBe(false);
    expect(isLiteralPattern('project.>')).toBe(false);
    expect(isLiteralPattern('project..tasks')).toBe(false);
  });

  it('agrees with a reference implementation on random topics and patterns', () => {
    const token = fc.constantFrom('a', 'b', 'ab');
    const topic = fc.array(token, { minLength: 1, maxLength: 5 });
    const pattern = fc
      .tuple(fc.array(fc.oneof(token, fc.constant('*')), { minLength: 0, maxLength: 5 }), fc.boolean())
      .map(([tokens, tail]) => (tail || tokens.length === 0 ? [...tokens, '>'] : tokens));
    fc.assert(
      fc.property(pattern, topic, (p, t) => {
        const expected = reference(p, t);
        expect(compileTopicPattern(p.join('.'))(t.join('.'))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

/** Every sequence of `length` items of `alphabet`. */
function sequences(alphabet: readonly string[], length: number): string[][] {
  if (length === 0) return [[]];
  return sequences(alphabet, length - 1).flatMap((head) => alphabet.map((token) => [...head, token]));
}

describe('relations between patterns', () => {
  // Every pattern of up to four tokens over a, b, * (and a final >), judged on every topic of
  // up to five tokens over a, b, c: long enough to tell any two of them apart, and `c` stands
  // for a token neither pattern names.
  const patterns = [0, 1, 2, 3, 4].flatMap((n) =>
    sequences(['a', 'b', '*'], n).flatMap((p) => (n === 4 ? [p] : n === 0 ? [['>']] : [p, [...p, '>']])),
  );
  const topics = [1, 2, 3, 4, 5].flatMap((n) => sequences(['a', 'b', 'c'], n));
  const matches = new Map(patterns.map((p) => [p.join('.'), topics.map((t) => reference(p, t))]));

  it.each([
    ['deploy.>', 'deploy.*', true],
    ['deploy.>', 'deploy.eu.>', true],
    ['deploy.*', 'deploy.>', false],
    ['deploy.*', 'deploy.eu', true],
    ['*.secrets', 'deploy.>', false],
    ['>', '>', true],
    ['a.*.>', 'a.>', false],
  ])('%s covers %s -> %s', (outer, inner, expected) => {
    expect(patternCovers(outer, inner)).toBe(expected);
  });

  it('covers exactly when every topic the inner pattern matches, the outer one matches', () => {
    const wrong: string[] = [];
    for (const [outer, byOuter] of matches) {
      for (const [inner, byInner] of matches) {
        const expected = byInner.every((m, i) => !m || byOuter[i]);
        if (patternCovers(outer, inner) !== expected) wrong.push(`${outer} covers ${inner}: expected ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('overlaps exactly when some topic matches both patterns', () => {
    const wrong: string[] = [];
    for (const [a, byA] of matches) {
      for (const [b, byB] of matches) {
        const expected = byA.some((m, i) => m && byB[i]);
        if (patternsOverlap(a, b) !== expected) wrong.push(`${a} overlaps ${b}: expected ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
