import { describe, expect, it } from 'vitest';
import { decodeAttempts, encodeAttempts, failedAttempt, withAttempt } from './attempts.js';
import { ATTEMPTS_KEPT, ATTEMPT_ERROR_MAX } from './event-store.js';

describe('failed attempts as stored', () => {
  it('round-trip through their column text, snake_case', () => {
    const list = [
      failedAttempt(1, 1_000, { reason: 'timeout', message: 'slow' }, 1_000.4),
      failedAttempt(2, 2_500, { reason: 'invalid_payload', message: 'bad' }),
    ];
    const text = encodeAttempts(list);
    expect(JSON.parse(text)).toEqual([
      { attempt: 1, at: 1_000, reason: 'timeout', error: 'slow', delay_ms: 1_000 },
      { attempt: 2, at: 2_500, reason: 'invalid_payload', error: 'bad' },
    ]);
    expect(decodeAttempts(text)).toEqual(list);
  });

  it('read a row older than the column, or text that is not a list of attempts, as no history', () => {
    for (const text of [null, undefined, '', 'not json', '{"attempt":1}', '[1, null, {"attempt":"x"}]']) {
      expect(decodeAttempts(text), String(text)).toEqual([]);
    }
  });

  it('cut messages to the limit without splitting a surrogate pair, and keep the most recent attempts', () => {
    const emoji = `${'a'.repeat(ATTEMPT_ERROR_MAX - 2)}😀😀`;
    const cut = failedAttempt(1, 0, { reason: 'x', message: emoji }).error;
    expect(cut.length).toBeLessThanOrEqual(ATTEMPT_ERROR_MAX);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut.slice(0, -1)).toBe('a'.repeat(ATTEMPT_ERROR_MAX - 2));
    let list = [failedAttempt(1, 0, { reason: 'x', message: 'm' })];
    for (let i = 2; i <= ATTEMPTS_KEPT + 5; i++) list = withAttempt(list, failedAttempt(i, i, { reason: 'x', message: 'm' }));
    expect(list).toHaveLength(ATTEMPTS_KEPT);
    expect(list[0]?.attempt).toBe(6);
  });
});
