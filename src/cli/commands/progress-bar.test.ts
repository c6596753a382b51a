import { describe, expect, it } from 'vitest';
import { formatProgress } from './progress-bar.js';

describe('formatProgress', () => {
  it('fills the bar in proportion and shows percent and counts', () => {
    expect(formatProgress(0, 200)).toBe(`${'░'.repeat(30)}   0% 0/200`);
    expect(formatProgress(100, 200)).toBe(`${'█'.repeat(15)}${'░'.repeat(15)}  50% 100/200`);
    expect(formatProgress(200, 200)).toBe(`${'█'.repeat(30)} 100% 200/200`);
  });

  it('shows an empty history as done', () => {
    expect(formatProgress(0, 0)).toBe(`${'█'.repeat(30)} 100% 0/0`);
  });
});
