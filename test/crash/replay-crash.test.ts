/**
 * A bulk "fix and replay" killed in the middle neither loses nor duplicates: each dead letter
 * turns `replayed` in the same commit as its corrected copy, and running it again finishes
 * the rest.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NonRetryableError, createBus } from '../../src/index.js';
import { assertBuilt, killAllChildren, randomInt, sleep, tempDir } from './crash-helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const DEAD = 2000;

function cli(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}

describe('bulk dead-letter replay across a crash', () => {
  beforeAll(assertBuilt);
  afterEach(killAllChildren);

  it('replays each dead letter exactly once when killed midway and run again', async () => {
    const { dir, cleanup } = tempDir('replay');
    const db = join(dir, 'bus.db');
    try {
      const bus = await createBus({ path: db, retry: { max_retries: 0 } });
      const sub = await bus.subscribe({
        name: '/importer',
        topic: 'imports',
        concurrency: 16,
        handler: () => {
          throw new NonRetryableError('schema v1 no longer accepted');
        },
      });
      for (let i = 0; i < DEAD / 500; i++) {
        await bus.publishBatch(
          Array.from({ length: 500 }, (_, n) => ({ topic: 'imports', type: 'ImportRow', payload: { row: i * 500 + n } })),
        );
      }
      for (let i = 0; i < 1000 && (await bus.subscriptions.get('/importer'))?.deadLettered !== DEAD; i++) await sleep(20);
      await sub.close();
      await bus.close();

      const args = ['dlq', 'replay', '--all', '--payload', '{"schema":2}', '--db', db];
      const first = cli(args);
      // Kill it once it has replayed some but not all.
      const check = await createBus({ path: db });
      let replayed = 0;
      for (let i = 0; i < 2000 && replayed < randomInt(200, 900); i++) {
        replayed = (await check.deadLetters.list({ status: 'replayed' })).length;
        await sleep(2);
      }
      first.child.kill('SIGKILL');
      const firstExit = await first.exited;
      const atKill = (await check.deadLetters.list({ status: 'replayed' })).length;
      await check.close();

      const second = cli(args);
      expect((await second.exited).code, second.stderr()).toBe(0);

      const after = await createBus({ path: db });
      const letters = await after.deadLetters.list({});
      const copies = new Map<string, number>();
      for await (const { envelope } of after.events({ type: 'ImportRow' })) {
        if (envelope.routing.deliver_to !== '/importer') continue;
        const cause = envelope.event.causation_id as string;
        copies.set(cause, (copies.get(cause) ?? 0) + 1);
      }
      await after.close();
      console.log(
        `[crash/replay] dead letters=${DEAD} replayed when killed=${atKill} (${firstExit.signal}) copies=${copies.size}`,
      );
      expect(firstExit.signal).toBe('SIGKILL');
      expect(atKill).toBeGreaterThan(0);
      expect(atKill).toBeLessThan(DEAD);
      expect(letters.every((d) => d.status === 'replayed')).toBe(true);
      expect(copies.size).toBe(DEAD);
      expect([...copies.values()].every((n) => n === 1)).toBe(true);
      expect(new Set(letters.map((d) => d.replayedAs)).size).toBe(DEAD);
    } finally {
      await killAllChildren();
      cleanup();
    }
  });
});
