import { describe, expect, it } from 'vitest';
import { formatCount, formatDelay, textBar } from './text.js';

describe('textBar', () => {
  it('fills value / max of the cells, rounded', () => {
    expect(textBar(1247, 1247)).toBe('█'.repeat(20));
    expect(textBar(600, 1247)).toBe(`${'█'.repeat(10)}${'░'.repeat(10)}`);
    expect(textBar(1, 4, 8)).toBe('██░░░░░░');
  });

  it('clamps to the width and draws nothing filled for a zero or negative max', () => {
    expect(textBar(10, 5, 4)).toBe('████');
    expect(textBar(-3, 5, 4)).toBe('░░░░');
    expect(textBar(3, 0, 4)).toBe('░░░░');
  });
});

describe('formatCount', () => {
  it('groups thousands with commas', () => {
    expect(formatCount(1247)).toBe('1,247');
    expect(formatCount(0)).toBe('0');
  });
});

describe('formatDelay', () => {
  it("writes delays the way the seed's Retry Timeline does", () => {
    expect([0, 250, 1_000, 1_500, 2_000, 30_000, 90_000, 5_400_000].map(formatDelay)).toEqual([
      '0ms',
      '250ms',
      '1s',
      '1.5s',
      '2s',
      '30s',
      '1.5m',
      '1.5h',
    ]);
  });
});
