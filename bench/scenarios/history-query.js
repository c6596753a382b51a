/**
 * History at scale: 1,000,000 events in the log, then correlation queries (the seed's
 * "show all events for correlation_id = ...") for random correlations of 10 events each.
 * Reports the query latency; aim: milliseconds.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteStore } from '../../dist/index.js';
import { createEnvelopeWithText, createIdGenerator } from '../../dist/envelope/index.js';
import { withTempDir } from '../lib/env.js';
import { latencySummary } from '../lib/stats.js';

const PER_CORRELATION = 10;
const QUERIES = 500;

async function correlationCase({ quick }) {
  const total = quick ? 100_000 : 1_000_000;
  return withTempDir(async (dir) => {
    const store = await openSqliteStore({ path: join(dir, 'history.db') });
    try {
      const clock = { now: () => Date.now() };
      const newId = createIdGenerator({ clock });
      const payload = { status: 'completed', result: { endpoints: 12, schemas: 5 } };
      for (let from = 0; from < total; from += 5_000) {
        const items = [];
        for (let i = from; i < from + 5_000; i++) {
          items.push(
            createEnvelopeWithText(
              {
                topic: 'project.tasks',
                type: 'TaskCompletedEvent',
                payload,
                correlationId: `corr-${Math.floor(i / PER_CORRELATION)}`,
              },
              { clock, newId },
            ),
          );
        }
        await store.append(items);
      }
      const latencies = new Float64Array(QUERIES);
      for (let q = 0; q < QUERIES; q++) {
        const correlation = `corr-${Math.floor(Math.random() * (total / PER_CORRELATION))}`;
        const start = performance.now();
        let found = 0;
        for await (const _ of store.read({ correlationId: correlation })) found++;
        latencies[q] = performance.now() - start;
        if (found !== PER_CORRELATION) throw new Error(`${correlation}: ${found} events, expected ${PER_CORRELATION}`);
      }
      const summary = latencySummary(latencies);
      return {
        events: QUERIES,
        seconds: latencies.reduce((a, b) => a + b, 0) / 1000,
        ...summary,
        note: `correlation query (${PER_CORRELATION} events) among ${total.toLocaleString('en-US')} events: p50 ${summary.p50.toFixed(3)} ms, p99 ${summary.p99.toFixed(3)} ms`,
      };
    } finally {
      await store.close();
    }
  });
}

export const cases = [
  { name: 'correlation-query', group: 'history', label: 'correlation query among 1M events', run: correlationCase },
];
