/**
 * Runs the README's example as a reader would: the first `ts` block, with `agentbus`
 * resolved to the built package, in a fresh directory. It must finish on its own and print
 * the chain it promises.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'agentbus-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README example', () => {
  it('runs to the end and prints the correlation chain', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'a ts block in README.md').toBeDefined();
    const entry = pathToFileURL(join(root, 'dist/index.js')).href;
    const script = join(dir, 'example.mjs');
    writeFileSync(script, (block as string).replace("from 'agentbus'", `from '${entry}'`));
    const { stdout } = await run(process.execPath, [script], { cwd: dir, timeout: 60_000 });
    expect(stdout.trim().split('\n')).toEqual([
      'implementing { endpoints: 12, schemas: 5 }',
      'UserStoryApproved /agentbus',
      'APIDesignCompleted /backend-architect',
    ]);
  });
});
