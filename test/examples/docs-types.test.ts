/**
 * The docs' TypeScript examples compile under strict settings as a reader pastes them,
 * against the built package: payloads are read through the type parameters
 * (`bus.subscribe<TaskCompleted>`), not casts. Blocks that show a piece of an options object
 * (`runner: { ... }`) are not programs and are left out.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, isFragment, tsBlocks, typecheckBlocks } from './doc-blocks.js';

const PAGES = ['README.md', 'docs/concepts.md', 'docs/agents.md', 'docs/cqrs.md'];

describe('docs examples', () => {
  it('every ts block of the README, concepts, agents and CQRS pages compiles under strict TypeScript', () => {
    expect(existsSync(join(ROOT, 'dist/index.d.ts')), 'run `npm run build` first').toBe(true);
    const blocks = PAGES.flatMap(tsBlocks).filter((block) => !isFragment(block));
    expect(blocks.length).toBeGreaterThan(8);
    expect(typecheckBlocks(blocks)).toEqual([]);
  });

  it('no example casts a payload: the type parameters say what it holds', () => {
    const casts = PAGES.flatMap(tsBlocks).filter((block) => /payload\s+as\s/.test(block.code));
    expect(casts.map((b) => b.name)).toEqual([]);
  });
});
