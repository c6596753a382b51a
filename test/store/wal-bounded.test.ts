import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createBus } from '../../src/index.js';

const MB = 1024 * 1024;

it('keeps the WAL bounded under steady one-event commits (the background checkpoint alone never catches up)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-wal-'));
  const path = join(dir, 'agentbus.db');
  const bus = await createBus({ path });
  try {
    await bus.subscribe({ name: 'steady', topic: 'steady', handler: () => {} });
    const payload = { text: 'x'.repeat(900) };
    const start = Date.now();
    let sent = 0;
    let largest = 0;
    // About 1,000 single-event commits a second for 4 s: without the writer's own catch-up
    // checkpoint the WAL grew by tens of MB a second here.
    while (Date.now() - start < 4_000) {
      const due = Date.now() - start;
      const batch: Promise<unknown>[] = [];
      while (sent < due) {
        batch.push(bus.publish({ topic: 'steady', type: 'Tick', payload }));
        sent++;
      }
      await Promise.all(batch);
      await new Promise((r) => setTimeout(r, 1));
      try {
        largest = Math.max(largest, statSync(`${path}-wal`).size);
      } catch {}
    }
    console.log(`WAL: largest ${(largest / MB).toFixed(1)} MB over ${sent} events`);
    expect(sent).toBeGreaterThan(1_000);
    expect(largest).toBeLessThan(80 * MB);
  } finally {
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
