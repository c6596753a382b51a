/**
 * Runs the README's example as a reader would: the first `ts` block, compiled (types
 * stripped, as tsc would), with `agentbus` resolved to the built package, in a fresh
 * directory. It must finish on its own and print the chain it promises. That it type-checks
 * under strict settings is docs-types.test.ts's part.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, transpile, tsBlocks } from './doc-blocks.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'agentbus-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README example', () => {
  it('runs to the end and prints the correlation chain', async () => {
    const [block] = tsBlocks('README.md');
    expect(block, 'a ts block in README.md').toBeDefined();
    const entry = pathToFileURL(join(ROOT, 'dist/index.js')).href;
    const script = join(dir, 'example.mjs');
    writeFileSync(script, transpile((block as { code: string }).code).replace("from 'agentbus'", `from '${entry}'`));
    const { stdout } = await run(process.execPath, [script], { cwd: dir, timeout: 60_000 });
    expect(stdout.trim().split('\n')).toEqual([
      'implementing { endpoints: 12, schemas: 5 }',
      'UserStoryApproved /agentbus',
      'APIDesignCompleted /backend-architect',
    ]);
  });
});
