import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../errors.js';
import { isValidTopic, MAX_TOPIC_LENGTH, validateTopic } from './index.js';

/** The error `validateTopic` throws for `topic`, or undefined. */
function errorOf(topic: unknown, field?: string): unknown {
  try {
    validateTopic(topic, field);
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('validateTopic', () => {
  it.each(['project', 'project.tasks', 'a.b-c.D_9', 'x'.repeat(MAX_TOPIC_LENGTH)])('accepts %s', (topic) => {
    expect(validateTopic(topic)).toBe(topic);
    expect(isValidTopic(topic)).toBe(true);
  });

  it.each([
    ['', 'routing.topic: must not be empty'],
    ['.tasks', 'routing.topic: empty token at position 1'],
    ['project..tasks', 'routing.topic: empty token at position 2'],
    ['project.tasks.', 'routing.topic: empty token at position 3'],
    ['project.ta sks', 'routing.topic: bad character U+0020 at column 11; tokens use only A-Z a-z 0-9 _ -'],
    ['project.*', "routing.topic: bad character '*' at column 9; tokens use only A-Z a-z 0-9 _ -"],
    ['projé', 'routing.topic: bad character U+00E9 at column 5; tokens use only A-Z a-z 0-9 _ -'],
    ['x'.repeat(256), 'routing.topic: is 256 characters long; the limit is 255'],
  ])('refuses %j with a precise reason', (topic, message) => {
    const error = errorOf(topic);
    expect(isAgentbusError(error, 'TOPIC_INVALID')).toBe(true);
    expect(isAgentbusError(error) && error.message).toBe(message);
    expect(isValidTopic(topic)).toBe(false);
  });

  it('names the column of a bad character in the details', () => {
    const error = errorOf('a.b/c');
    expect(isAgentbusError(error) && error.details).toMatchObject({ field: 'routing.topic', column: 4 });
  });

  it('refuses non-strings and names the given field', () => {
    const error = errorOf(42, 'topic');
    expect(isAgentbusError(error, 'TOPIC_INVALID') && error.message).toBe('topic: must be a string, got number');
    expect(isValidTopic(null)).toBe(false);
  });
});
