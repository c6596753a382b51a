import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';

it('publishes, delivers and chains', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-'));
  const bus = await createBus({ path: join(dir, 'a.db') });
  bus.onStatus((s) => console.log('status', s));
  console.log('created');
  await bus.subscribe({
    name: '/backend-architect', topic: 'project.>', start: 'earliest', filter: 'type=UserStoryApproved',
    handler: async (e, ctx) => { console.log('A', e.event.type); await ctx.publish('APIDesignStarted', { x: 1 }); },
  });
  console.log('subscribed');
  const root = await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved', payload: { a: 1 } });
  console.log('published');
  await new Promise((r) => setTimeout(r, 300));
  const all = [];
  for await (const e of bus.events({ correlationId: root.event.correlation_id })) all.push(e.envelope.event.type);
  expect(all).toEqual(['UserStoryApproved', 'APIDesignStarted']);
  await bus.close();
});
