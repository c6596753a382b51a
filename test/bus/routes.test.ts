import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bus, type Envelope, type RouteRule, createBus, isAgentbusError, startRoutes } from '../../src/index.js';
import { collect, sleep, within } from '../conformance/fixtures.js';

let dir: string;
let path: string;
const open: Bus[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-routes-'));
  path = join(dir, 'agentbus.db');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});
async function bus(): Promise<Bus> {
  const b = await createBus({ path });
  open.push(b);
  return b;
}
async function onTopic(b: Bus, topic: string): Promise<Envelope[]> {
  return (await collect(b.events({ topic }))).map((e) => e.envelope);
}
async function waitFor<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  return within(
    (async () => {
      for (;;) {
        const v = await check();
        if (v !== undefined) return v;
        await sleep(25);
      }
    })(),
    20_000,
    what,
  );
}

describe('routing rules', () => {
  it('republishes matching events to a topic with the selected payload, correlation kept, causation set', async () => {
    const b = await bus();
    const routes = await startRoutes(b, [
      {
        name: 'endpoints',
        topic: 'project.tasks',
        match: 'type=APIDesignCompleted and payload.result.endpoints>10',
        to: { topic: 'project.api' },
        select: 'result',
      },
    ]);
    expect(routes.subscriptions).toEqual(['route:endpoints']);
    const small = await b.publish({ topic: 'project.tasks', type: 'APIDesignCompleted', payload: { result: { endpoints: 3 } } });
    const big = await b.publish({
      topic: 'project.tasks',
      type: 'APIDesignCompleted',
      source: '/backend-architect',
      correlationId: 'project-xyz-123',
      partitionKey: 'project-xyz',
      payload: { result: { endpoints: 12, schemas: 5 } },
    });
    const [copy] = await waitFor(async () => {
      const found = await onTopic(b, 'project.api');
      return found.length ? found : undefined;
    }, 'the routed copy');
    await routes.idle();
    expect(await onTopic(b, 'project.api')).toHaveLength(1);
    expect(copy?.event).toMatchObject({
      type: 'APIDesignCompleted',
      source: '/backend-architect',
      correlation_id: 'project-xyz-123',
      causation_id: big.event.id,
      chain_depth: 1,
      routed_by: 'endpoints',
    });
    expect(copy?.payload).toEqual({ endpoints: 12, schemas: 5 });
    expect(copy?.routing).toEqual({ topic: 'project.api', partition_key: 'project-xyz', priority: 'normal' });
    expect(small.event.id).not.toBe(copy?.event.causation_id);
    await routes.close();
  });

  it('addresses a copy to an agent (one subscription by name), with a new type', async () => {
    const b = await bus();
    const got: Envelope[] = [];
    await b.subscribe({ name: '/incident-manager', topic: 'nothing.here', handler: (e) => void got.push(e) });
    const other: Envelope[] = [];
    await b.subscribe({ name: 'watcher', topic: 'project.alerts', handler: (e) => void other.push(e) });
    await startRoutes(b, [
      {
        name: 'incidents',
        topic: 'project.alerts',
        match: { payload: { severity: ['high', 'critical'] } },
        to: { agent: '/incident-manager' },
        type: 'IncidentOpened',
      },
    ]);
    await b.publish({ topic: 'project.alerts', type: 'Alert', payload: { severity: 'low' } });
    const alert = await b.publish({ topic: 'project.alerts', type: 'Alert', payload: { severity: 'critical' } });
    await waitFor(async () => (got.length ? got : undefined), 'the addressed copy');
    expect(got[0]?.event).toMatchObject({ type: 'IncidentOpened', causation_id: alert.event.id });
    expect(got[0]?.routing).toMatchObject({ topic: 'project.alerts', deliver_to: '/incident-manager' });
    await waitFor(async () => (other.length >= 2 ? other : undefined), 'the watcher');
    await sleep(100);
    // The addressed copy went to its subscription only, not to others on its topic.
    expect(other.map((e) => e.event.type)).toEqual(['Alert', 'Alert']);
  });

  it('never routes its own copies, and dead-letters a loop between rules at maxDepth', async () => {
    const b = await bus();
    await startRoutes(
      b,
      [
        { name: 'self', topic: 'loop.>', to: { topic: 'loop.a' } },
        { name: 'a-to-b', topic: 'ring.a', to: { topic: 'ring.b' } },
        { name: 'b-to-a', topic: 'ring.b', to: { topic: 'ring.a' } },
      ],
      { maxDepth: 6 },
    );
    await b.publish({ topic: 'loop.x', type: 'Once' });
    await b.publish({ topic: 'ring.a', type: 'Round' });
    const [dead] = await waitFor(async () => {
      const list = await b.deadLetters.list();
      return list.length ? list : undefined;
    }, 'the loop to stop');
    expect(dead?.reason).toBe('chain_depth_exceeded');
    expect(dead?.error).toMatch(/causation depth 6 .* reaches the limit of 6 \(maxDepth\)/);
    expect(await onTopic(b, 'loop.a')).toHaveLength(1);
    expect((await onTopic(b, 'ring.>')).length).toBe(7);
  });

  it('resumes after a restart where it left off, routing each event once', async () => {
    let b = await bus();
    let routes = await startRoutes(b, [{ name: 'copy', topic: 'in', to: { topic: 'out' } }]);
    await b.publish({ topic: 'in', type: 'E', id: 'evt-fixed-1' });
    await waitFor(async () => ((await onTopic(b, 'out')).length ? true : undefined), 'the copy');
    await routes.close();
    await b.close();
    open.length = 0;
    b = await bus();
    routes = await startRoutes(b, [{ name: 'copy', topic: 'in', to: { topic: 'out' } }]);
    await b.publish({ topic: 'in', type: 'E', id: 'evt-fixed-1' });
    await b.publish({ topic: 'in', type: 'E2' });
    await waitFor(async () => ((await onTopic(b, 'out')).length === 2 ? true : undefined), 'the second copy');
    await routes.idle();
    expect((await onTopic(b, 'out')).map((e) => e.event.type)).toEqual(['E', 'E2']);
  });

  it('refuses bad rules naming the field, and starts none of them', async () => {
    const b = await bus();
    const cases: Array<[unknown, string]> = [
      [[{ name: 'bad name', to: { topic: 'x' } }], 'routes[0].name'],
      [
        [
          { name: 'a', to: { topic: 'x' } },
          { name: 'a', to: { topic: 'y' } },
        ],
        'routes[1].name',
      ],
      [[{ name: 'a', topic: 'a..b', to: { topic: 'x' } }], 'routes[0].topic'],
      [[{ name: 'a', to: { topic: 'x.*' } }], 'routes[0].to.topic'],
      [[{ name: 'a', to: {} }], 'routes[0].to'],
      [[{ name: 'a', to: { topic: 'x' }, select: 'a..b' }], 'routes[0].select'],
      [
        [
          { name: 'ok', to: { topic: 'x' } },
          { name: 'a', match: 'severity in (', to: { topic: 'x' } },
        ],
        'routes[1].match',
      ],
    ];
    for (const [rules, field] of cases) {
      const error = await startRoutes(b, rules as RouteRule[]).catch((e: unknown) => e);
      expect(isAgentbusError(error), field).toBe(true);
      expect(String((error as { details: { field: string } }).details.field).startsWith(field), field).toBe(true);
    }
    expect(await b.subscriptions.list()).toEqual([]);
  });
});
