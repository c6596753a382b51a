/**
 * Scenario 1: publish -> deliver -> ack throughput on the embedded default (SQLite file,
 * store-backed transport), one subscription started at 'latest' before publishing.
 *
 * - publish: one bus.publish per event, not awaited; the caller yields to the event loop
 *   every 1,000 calls, so the group commit sees 1,000 appends per tick.
 * - batch: awaited bus.publishBatch of 1,000 events.
 *
 * Throughput = events / (first publish -> last ack committed, i.e. subscription.idle()).
 */
import { join } from 'node:path';
import { createBus } from '../../dist/index.js';
import { measureEndToEnd, publishBatches, publishEach } from '../lib/end-to-end.js';
import { withTempDir } from '../lib/env.js';

function busCase(publish, synchronous) {
  return ({ events }) =>
    withTempDir(async (dir) => {
      const bus = await createBus({ path: join(dir, 'bus.db'), sqlite: { synchronous } });
      try {
        return await measureEndToEnd(bus, events, publish);
      } finally {
        await bus.close();
      }
    });
}

export const cases = [
  {
    name: 'bus-publish',
    group: 'throughput',
    label: 'agentbus publish each, NORMAL',
    ceiling: 'normal',
    run: busCase(publishEach, 'normal'),
  },
  {
    name: 'bus-batch',
    group: 'throughput',
    label: 'agentbus publishBatch 1000, NORMAL',
    ceiling: 'normal',
    run: busCase(publishBatches, 'normal'),
  },
  {
    name: 'bus-publish-full',
    group: 'throughput',
    label: 'agentbus publish each, FULL',
    ceiling: 'full',
    run: busCase(publishEach, 'full'),
  },
  {
    name: 'bus-batch-full',
    group: 'throughput',
    label: 'agentbus publishBatch 1000, FULL',
    ceiling: 'full',
    run: busCase(publishBatches, 'full'),
  },
];
