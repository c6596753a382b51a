import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { createBus } from '../../src/index.js';

const run = promisify(execFile);
const MB = 1024 * 1024;

it('a slow consumer behind 200,000 events costs disk, not memory: its memory stays flat', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-slow-'));
  const dbPath = join(dir, 'agentbus.db');
  try {
    const bus = await createBus({ path: dbPath });
    const payload = { text: 'x'.repeat(200) };
    for (let chunk = 0; chunk < 40; chunk++) {
      await bus.publishBatch(
        Array.from({ length: 5_000 }, (_, n) => ({
          topic: 'backlog',
          type: 'Work',
          payload: { ...payload, n: chunk * 5_000 + n },
        })),
      );
    }
    await bus.close();
    const fixture = join(import.meta.dirname, 'fixtures', 'slow-consumer.mjs');
    const { stdout } = await run(process.execPath, ['--expose-gc', fixture, dbPath, '5'], { timeout: 60_000 });
    const samples = JSON.parse(stdout) as Array<{ rss: number; heapUsed: number; handled: number }>;
    const heap = samples.map((s) => s.heapUsed);
    const rss = samples.map((s) => s.rss);
    const handled = (samples.at(-1)?.handled ?? 0) - (samples[0]?.handled ?? 0);
    console.log(
      `slow consumer: ${handled} handled while sampled; heap ${(Math.min(...heap) / MB).toFixed(1)}-${(Math.max(...heap) / MB).toFixed(1)} MB, ` +
        `rss ${(Math.min(...rss) / MB).toFixed(1)}-${(Math.max(...rss) / MB).toFixed(1)} MB`,
    );
    expect(handled).toBeGreaterThan(100);
    expect(Math.max(...heap) - Math.min(...heap)).toBeLessThan(4 * MB);
    expect(Math.max(...rss) - Math.min(...rss)).toBeLessThan(8 * MB);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
