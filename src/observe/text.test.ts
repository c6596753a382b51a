import { describe, expect, it } from 'vitest';
import { formatCount, textBar } from './text.js';

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
