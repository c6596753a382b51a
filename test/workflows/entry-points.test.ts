/**
 * The workflow and observability entry points refuse input that is not even the right shape
 * with an AgentbusError naming it (they threw TypeErrors), and write nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentBus,
  createBus,
  createMetrics,
  isAgentbusError,
  requestApproval,
  resolveApproval,
  startAggregator,
  startCompensationCoordinator,
  startSaga,
} from '../../src/index.js';
import { collect } from '../conformance/fixtures.js';

let dir: string;
let bus: AgentBus;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-entry-'));
  bus = await createBus({ path: join(dir, 'bus.db') });
});
afterAll(async () => {
  await bus.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('workflow and metrics entry points', () => {
  it('refuse the wrong shape by name, writing nothing', async () => {
    const cases: Array<[() => unknown, string]> = [
      [() => startAggregator(bus, null as never), '(root)'],
      [() => startSaga(bus, null as never), '(root)'],
      [() => resolveApproval(bus, 'req-1', null as never), 'answer'],
      [() => startCompensationCoordinator(bus, null as never), 'options'],
      [() => requestApproval(bus, { title: 'Deploy?', timeout: '1h', cause: { x: 1 } as never }), 'cause'],
      [() => createMetrics(null as never), 'bus'],
      [() => createMetrics(bus, { prefix: 'has space' }), 'prefix'],
    ];
    for (const [attempt, field] of cases) {
      let error: unknown;
      try {
        await attempt();
      } catch (e) {
        error = e;
      }
      expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field, String(error)).toBe(field);
    }
    expect(await bus.subscriptions.list()).toEqual([]);
    expect(await collect(bus.events())).toEqual([]);
  });
});
