/**
 * Choreographed compensation: agents register the undo of their work per correlation id;
 * a failure event runs the registrations in reverse order across agents, each once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/index.js';
import { isAgentbusError } from '../../src/errors.js';
import { createTestBus } from '../../src/testing.js';
import { publishCompensation, registerCompensation, startCompensationCoordinator } from '../../src/workflows/index.js';
import { eventsOfType, until } from './helpers.js';

const buses: Array<Bus & { dispose(): Promise<void> }> = [];
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.dispose();
});

describe('choreographed compensation', () => {
  it('runs the compensations of a failed correlation in reverse order across agents, each once', async () => {
    const bus = await createTestBus();
    buses.push(bus);
    const coordinator = await startCompensationCoordinator(bus, { failureTypes: ['TaskFailedEvent'] });
    // Three agents react in a chain; each registers the undo of its work.
    const chain: Array<[string, string, string, string]> = [
      ['/backend-architect', 'UserStoryApproved', 'APIDesignCompleted', 'RevertAPIDesign'],
      ['/python-pro', 'APIDesignCompleted', 'BackendImplementationCompleted', 'RevertBackend'],
      ['/database-specialist', 'BackendImplementationCompleted', 'SchemaMigrated', 'RollbackSchema'],
    ];
    for (const [agent, on, emits, undo] of chain) {
      await bus.subscribe({
        name: agent,
        topic: 'project.tasks',
        filter: `type=${on}`,
        handler: async (_event, ctx) => {
          await registerCompensation(ctx, { type: undo, topic: 'project.compensations', payload: { agent } });
          await ctx.publish(emits, {});
        },
      });
    }
    const undone: string[] = [];
    await bus.subscribe({ name: 'undo-log', topic: 'project.compensations', handler: (e) => void undone.push(e.event.type) });
    await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved', correlationId: 'feature-1' });
    await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved', correlationId: 'feature-2' });
    await until(async () => (await eventsOfType(bus, 'SchemaMigrated')).length === 2, 'chains done');
    await until(async () => (await coordinator.get('feature-1'))?.registered.length === 3, 'three registered');
    await bus.publish({
      topic: 'project.tasks',
      type: 'TaskFailedEvent',
      correlationId: 'feature-1',
      payload: { reason: 'tests' },
    });
    await bus.publish({
      topic: 'project.tasks',
      type: 'TaskFailedEvent',
      correlationId: 'feature-1',
      payload: { reason: 'again' },
    });
    await until(async () => undone.length === 3, 'three compensations');
    expect(undone).toEqual(['RollbackSchema', 'RevertBackend', 'RevertAPIDesign']);
    const state = await coordinator.get('feature-1');
    expect(state?.status).toBe('compensated');
    expect((await coordinator.get('feature-2'))?.status).toBe('open');
    const published = await eventsOfType(bus, 'RevertBackend');
    expect(published.map((e) => e.envelope.event.correlation_id)).toEqual(['feature-1']);
    // A registration arriving after the failure runs at once.
    await publishCompensation(bus, 'feature-1', { type: 'DeletePreview', topic: 'project.compensations' });
    await until(async () => undone.length === 4, 'late compensation');
    expect(undone[3]).toBe('DeletePreview');
    await until(
      async () => (await bus.subscriptions.get('compensations'))?.ackFloor === (await bus.store.head()),
      'coordinator idle',
    );
    expect(undone).toHaveLength(4);
  });

  it('refuses a registration without a valid type or topic, naming the field', async () => {
    const bus = await createTestBus();
    buses.push(bus);
    const error = await publishCompensation(bus, 'x', { type: 'Undo', topic: 'not a topic' }).catch((e: unknown) => e);
    expect(isAgentbusError(error, 'OPTIONS_INVALID')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toBe('action.topic');
    expect(await bus.store.head()).toBe(0);
  });
});
