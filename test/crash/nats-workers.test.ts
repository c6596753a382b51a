/**
 * Many processes on NATS: three worker processes share one durable subscription through the
 * JetStream transport and split its events. One is killed with SIGKILL while it holds events
 * in flight; after ack_wait those are redelivered to the other two, and every published event
 * is handled at least once: nothing is lost.
 * Needs nats-server at 127.0.0.1:4222 (or NATS_URL); with CI=true its absence fails the test.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { createNatsTransport } from '../../src/transport/nats/index.js';
import { assertBuilt, killAllChildren, readLines, sleep, startChild, tempDir } from './crash-helpers.js';
import { NATS_URL, natsForSuite } from '../support/nats.js';

const EVENTS = 900;
const WORKERS = 3;

const up = await natsForSuite('this test');

/** `start` and `done` indexes of one worker's side-effect log. */
function progress(path: string): { started: Set<number>; done: Set<number> } {
  const started = new Set<number>();
  const done = new Set<number>();
  for (const line of readLines(path)) {
    const [what, index] = line.split(' ');
    (what === 'start' ? started : done).add(Number(index));
  }
  return { started, done };
}

async function waitFor(condition: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.skipIf(!up)('worker processes sharing a subscription on NATS JetStream', () => {
  beforeAll(assertBuilt);
  afterEach(killAllChildren);

  it('split the load; a worker killed with SIGKILL has its in-flight events redelivered to the others; nothing is lost', async () => {
    const run = randomBytes(5).toString('hex');
    const stream = `AB_CRASH_${run}`;
    const prefix = `abcrash-${run}`;
    const { dir, cleanup } = tempDir('nats');
    const store = await openSqliteStore({ path: join(dir, 'publisher.db') });
    const transport = await createNatsTransport({ servers: NATS_URL, store, stream, subjectPrefix: prefix, recorder: false });
    try {
      const workers = Array.from({ length: WORKERS }, (_, i) => {
        const side = join(dir, `side-${i}.txt`);
        const args = [NATS_URL, stream, prefix, join(dir, `worker-${i}.db`), side, '4', '2s', '25'];
        return { side, child: startChild('nats-worker.mjs', args) };
      });
      await Promise.all(workers.map((w) => w.child.waitForLine('ready')));

      const bus = await createBus({ store, transport });
      for (let i = 0; i < EVENTS; i += 100) {
        await bus.publishBatch(
          Array.from({ length: 100 }, (_, j) => ({ topic: 'crash.test', type: 'CrashTask', payload: { index: i + j } })),
        );
      }
      await bus.close();

      // Kill worker 0 once everyone has worked and it holds events it started but did not finish.
      const [victim, ...survivors] = workers as [(typeof workers)[number], ...typeof workers];
      await waitFor(() => workers.every((w) => progress(w.side).done.size >= 20), 'every worker to handle some events');
      let inFlight: number[] = [];
      await waitFor(() => {
        const { started, done } = progress(victim.side);
        inFlight = [...started].filter((index) => !done.has(index));
        return inFlight.length > 0;
      }, 'the victim to hold events in flight');
      await victim.child.kill();
      const after = progress(victim.side);
      inFlight = [...after.started].filter((index) => !after.done.has(index));

      const handled = () => {
        const all = new Set<number>(after.done);
        for (const w of survivors) for (const index of progress(w.side).done) all.add(index);
        return all;
      };
      await waitFor(() => handled().size === EVENTS, `all ${EVENTS} events to be handled`, 90_000);
      for (const w of survivors) w.child.proc.kill('SIGTERM');
      for (const w of survivors) expect((await w.child.exited).code, w.child.stderr()).toBe(0);

      const bySurvivors = new Set(survivors.flatMap((w) => [...progress(w.side).done]));
      expect(inFlight.length, 'events the killed worker held in flight').toBeGreaterThan(0);
      expect(
        inFlight.filter((index) => !bySurvivors.has(index)),
        'in-flight events of the killed worker not redelivered to the others',
      ).toEqual([]);
      expect(handled().size).toBe(EVENTS);
      for (const w of workers) expect(progress(w.side).done.size, 'each worker took a share').toBeGreaterThan(0);
      const failures = survivors.flatMap((w) =>
        w.child
          .stderr()
          .split('\n')
          .filter((line) => line.startsWith('STATUS ') && line.includes('handler_failed')),
      );
      expect(failures).toEqual([]);
      const shares = workers.map((w) => progress(w.side).done.size);
      console.log(`[crash/nats] events=${EVENTS} shares=${shares.join('/')} in flight at SIGKILL=${inFlight.length}`);
    } finally {
      await killAllChildren();
      await transport.destroy().catch(() => {});
      await transport.close();
      await store.close();
      cleanup();
    }
  });
});
