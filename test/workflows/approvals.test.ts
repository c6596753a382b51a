/**
 * Human in the loop: approval requests are durable, answered exactly once (grant, reject or
 * timeout), a late answer is refused with nothing written; the CLI's approve, reject and
 * approvals; a YAML approval gate that a saga step waits on.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/index.js';
import { isAgentbusError } from '../../src/errors.js';
import type { StoredEvent } from '../../src/store/event-store.js';
import { createManualClock, createTestBus } from '../../src/testing.js';
import {
  APPROVAL_GRANTED,
  APPROVAL_REJECTED,
  APPROVAL_REQUESTED,
  APPROVAL_TIMED_OUT,
  getApproval,
  listApprovals,
  requestApproval,
  resolveApproval,
} from '../../src/workflows/approvals.js';
import { getSaga, parseWorkflow, runWorkflow } from '../../src/workflows/index.js';
import { removeFreshDbs, runCli } from '../e2e/run-cli.js';
import { eventsOfType, until } from './helpers.js';

type TestBus = Bus & { dispose(): Promise<void>; dbPath: string };
const buses: TestBus[] = [];
async function testBus(options: Parameters<typeof createTestBus>[0] = {}): Promise<TestBus> {
  const bus = await createTestBus(options);
  buses.push(bus);
  return bus;
}
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.dispose();
});
afterAll(() => removeFreshDbs());

async function refusal(promise: Promise<unknown>, code: string): Promise<{ message: string; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    expect(isAgentbusError(error), String(error)).toBe(true);
    expect((error as { code: string }).code, String(error)).toBe(code);
    return error as { message: string; details: Record<string, unknown> };
  }
  throw new Error('it was accepted');
}

async function timerCount(bus: Bus): Promise<number> {
  let n = 0;
  for await (const _ of bus.timers.list()) n++;
  return n;
}

describe('requestApproval / resolveApproval', () => {
  it('publishes ApprovalRequested, then ApprovalGranted once, in the same correlation, caused by the request', async () => {
    const bus = await testBus();
    const cause = await bus.publish({ topic: 'deploy.commands', type: 'DeployToProduction', correlationId: 'deploy-xyz' });
    const request = await requestApproval(bus, {
      id: 'prod-xyz',
      title: 'Deploy xyz to production?',
      timeout: '1h',
      data: { version: '1.2.3' },
      cause,
    });
    expect(request).toMatchObject({
      approval_id: 'prod-xyz',
      status: 'pending',
      topic: 'deploy.commands',
      correlation_id: 'deploy-xyz',
    });
    // Asking again (a redelivered handler) changes nothing.
    await requestApproval(bus, { id: 'prod-xyz', title: 'Deploy xyz to production?', timeout: '1h', cause });
    const [requested, ...more] = await eventsOfType(bus, APPROVAL_REQUESTED);
    expect(more).toHaveLength(0);
    expect(requested?.envelope.event).toMatchObject({ correlation_id: 'deploy-xyz', causation_id: cause.event.id });
    expect(requested?.envelope.payload).toMatchObject({ approval_id: 'prod-xyz', data: { version: '1.2.3' } });
    expect(await timerCount(bus)).toBe(1);

    const granted = await resolveApproval(bus, 'prod-xyz', { decision: 'grant', data: { by: 'alice' } });
    expect(granted).toMatchObject({ status: 'granted', response: { by: 'alice' } });
    expect(await timerCount(bus)).toBe(0);
    const [grant] = await eventsOfType(bus, APPROVAL_GRANTED);
    expect(grant?.envelope.event).toMatchObject({
      correlation_id: 'deploy-xyz',
      causation_id: requested?.envelope.event.id,
    });
    expect(grant?.envelope.routing.topic).toBe('deploy.commands');
    expect(grant?.envelope.payload).toMatchObject({ approval_id: 'prod-xyz', data: { by: 'alice' } });

    // A second answer is refused, and writes nothing.
    const head = await bus.store.head();
    const again = await refusal(resolveApproval(bus, 'prod-xyz', { decision: 'reject', reason: 'no' }), 'CONCURRENCY_CONFLICT');
    expect(again.message).toMatch(/already/);
    expect(await bus.store.head()).toBe(head);
    expect((await getApproval(bus.store, 'prod-xyz'))?.status).toBe('granted');
  });

  it('rejects with a reason', async () => {
    const bus = await testBus();
    await requestApproval(bus, { id: 'a1', title: 'Merge?', timeout: 60_000 });
    await resolveApproval(bus, 'a1', { decision: 'reject', reason: 'tests are red' });
    const [rejected] = await eventsOfType(bus, APPROVAL_REJECTED);
    expect(rejected?.envelope.payload).toMatchObject({ approval_id: 'a1', reason: 'tests are red' });
    expect(rejected?.envelope.event.correlation_id).toBe('a1');
    expect(await listApprovals(bus.store, { status: 'pending' })).toEqual([]);
  });

  it('times out on the durable timer; a late answer is refused with nothing written', async () => {
    const clock = createManualClock(Date.now());
    const bus = await testBus({ clock });
    await requestApproval(bus, { id: 'late', title: 'Approve?', timeout: '1h' });
    clock.advance(30 * 60_000);
    await bus.timers.fireDue();
    expect(await eventsOfType(bus, APPROVAL_TIMED_OUT)).toHaveLength(0);
    clock.advance(31 * 60_000);
    await bus.timers.fireDue();
    const timedOut = await eventsOfType(bus, APPROVAL_TIMED_OUT);
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]?.envelope.payload).toMatchObject({ approval_id: 'late' });
    expect((await getApproval(bus.store, 'late', clock.now()))?.status).toBe('timed_out');
    const head = await bus.store.head();
    const late = await refusal(resolveApproval(bus, 'late', { decision: 'grant' }), 'CONCURRENCY_CONFLICT');
    expect(late.message).toMatch(/timed out .*too late/);
    expect(await bus.store.head()).toBe(head);
    expect(await eventsOfType(bus, APPROVAL_GRANTED)).toHaveLength(0);
  });

  it('refuses an answer when the timeout timer already fired elsewhere (the timeout won)', async () => {
    const bus = await testBus();
    const request = await requestApproval(bus, { id: 'raced', title: 'Approve?', timeout: '1h' });
    // Another process fired the timer: it is gone, though the deadline has not passed here.
    expect(await bus.timers.cancel(request.timer_key)).toBe(true);
    await refusal(resolveApproval(bus, 'raced', { decision: 'grant' }), 'CONCURRENCY_CONFLICT');
    expect(await eventsOfType(bus, APPROVAL_GRANTED)).toHaveLength(0);
    expect((await getApproval(bus.store, 'raced'))?.status).toBe('pending');
  });

  it('refuses bad input naming the field, and unknown ids, writing nothing', async () => {
    const bus = await testBus();
    const head = await bus.store.head();
    const bad = async (input: object, field: string) => {
      const e = await refusal(requestApproval(bus, input as never), 'OPTIONS_INVALID');
      expect(e.details.field).toBe(field);
    };
    await bad({ title: '', timeout: '1h' }, 'title');
    await bad({ title: 'x', timeout: 'soon' }, 'timeout');
    await bad({ title: 'x', timeout: -5 }, 'timeout');
    await bad({ id: 'has space', title: 'x', timeout: '1h' }, 'id');
    await bad({ title: 'x', timeout: '1h', topic: 'a..b' }, 'topic');
    await refusal(resolveApproval(bus, 'nope', { decision: 'grant' }), 'NOT_FOUND');
    await refusal(resolveApproval(bus, 'nope', { decision: 'maybe' as never }), 'OPTIONS_INVALID');
    expect(await bus.store.head()).toBe(head);
    expect(await listApprovals(bus.store)).toEqual([]);
  });
});

describe('agentbus approve / reject / approvals', () => {
  it('lists pending requests, approves with data, refuses bad input (2), unknown and answered ids (1)', async () => {
    const bus = await testBus();
    await requestApproval(bus, { id: 'deploy-1', title: 'Deploy 1?', timeout: '1h', correlationId: 'c-1' });
    await requestApproval(bus, { id: 'deploy-2', title: 'Deploy 2?', timeout: '1h', correlationId: 'c-2' });
    const db = ['--db', bus.dbPath];

    const table = await runCli([...db, 'approvals']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/\| Approval ID +\| Title +\| Status/);
    expect(table.stdout).toMatch(/\| deploy-1 +\| Deploy 1\? +\| pending +\| c-1 /);

    const badJson = await runCli([...db, 'approve', 'deploy-1', '--data', '{oops']);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/--data/);
    expect((await runCli([...db, 'approve', 'bad id'])).code).toBe(2);
    const unknown = await runCli([...db, 'approve', 'deploy-9']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no approval request deploy-9/);
    expect(await eventsOfType(bus, APPROVAL_GRANTED)).toHaveLength(0);

    const ok = await runCli([...db, 'approve', 'deploy-1', '--data', '{"by":"alice"}']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('deploy-1: granted');
    const [grant] = await eventsOfType(bus, APPROVAL_GRANTED);
    expect(grant?.envelope.payload).toMatchObject({ approval_id: 'deploy-1', data: { by: 'alice' } });
    expect(grant?.envelope.event.correlation_id).toBe('c-1');

    const rejected = await runCli([...db, 'reject', 'deploy-2', '--reason', 'not today']);
    expect(rejected.code, rejected.stderr).toBe(0);
    const twice = await runCli([...db, 'reject', 'deploy-1']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/already/);
    expect(await eventsOfType(bus, APPROVAL_REJECTED)).toHaveLength(1);

    const pending = await runCli([...db, '--json', 'approvals']);
    expect(JSON.parse(pending.stdout)).toEqual([]);
    const all = await runCli([...db, '--json', 'approvals', '--all']);
    expect((JSON.parse(all.stdout) as Array<{ status: string }>).map((a) => a.status)).toEqual(['granted', 'rejected']);
  }, 60_000);

  it('refuses an approval after its timeout (exit 1, nothing written)', async () => {
    // Requested two hours ago with a one-hour timeout.
    const bus = await testBus({ clock: createManualClock(Date.now() - 2 * 3_600_000) });
    await requestApproval(bus, { id: 'old', title: 'Too late?', timeout: '1h' });
    const head = await bus.store.head();
    const late = await runCli(['--db', bus.dbPath, 'approve', 'old']);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/timed out .*too late/);
    expect(await bus.store.head()).toBe(head);
  }, 30_000);
});

describe('an approval gate in a YAML workflow', () => {
  const YAML = `name: gated-deploy
agents:
  - name: /deployer
    runner: { type: command, command: node, args: ['-e', 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const e=JSON.parse(s);console.log(JSON.stringify({type:{Build:"Built",Ship:"Shipped"}[e.event.type]}))})'] }
    subscriptions:
      - { topic: deploy.commands, filter: "type in (Build,Ship)" }
approvals:
  - name: prod-gate
    topic: deploy.commands
    on: RequestProductionApproval
    title: Ship to production?
    timeout: 1h
    on_granted: ProductionApproved
    on_rejected: ProductionDenied
    on_timeout: ProductionDenied
sagas:
  - saga: gated
    topic: deploy.commands
    steps:
      - { action: Build, success: Built, failure: BuildFailed }
      - { action: RequestProductionApproval, success: ProductionApproved, failure: ProductionDenied }
      - { action: Ship, success: Shipped, failure: ShipFailed }
`;

  it('validates the gate with file, line and path', () => {
    try {
      parseWorkflow('approvals:\n  - name: g\n    topic: a.b\n    on: X\n    title: t\n    timeout: whenever\n', 'flow.yaml');
      throw new Error('accepted');
    } catch (error) {
      expect(isAgentbusError(error, 'OPTIONS_INVALID'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/^flow\.yaml:6:\d+: approvals\[0\]\.timeout: /);
    }
  });

  it('a saga step waits for the approval; granting it lets the saga complete', async () => {
    const bus = await testBus();
    const workflow = parseWorkflow(YAML, 'gated.yaml');
    const running = await runWorkflow(bus, workflow, { runtime: { monitor: false } });
    try {
      await running.sagas[0]?.start('release-7', { version: '7' });
      const pending = await until(
        async () => (await getApproval(bus.store, 'prod-gate:release-7')) ?? false,
        'approval requested',
        30_000,
      );
      expect(pending).toMatchObject({ status: 'pending', correlation_id: 'release-7', gate: 'prod-gate' });
      expect((await getSaga(bus.store, 'gated', 'release-7'))?.current_step).toBe(2);
      await resolveApproval(bus, 'prod-gate:release-7', { decision: 'grant' });
      const saga = await until(
        async () => {
          const s = await getSaga(bus.store, 'gated', 'release-7');
          return s?.status === 'completed' ? s : false;
        },
        'saga completed',
        30_000,
      );
      expect(saga.completed_steps.map((c) => c.event)).toEqual(['Built', 'ProductionApproved', 'Shipped']);
      const types = (await collectTypes(bus, 'release-7')).filter((t) => t.startsWith('Approval') || t.startsWith('Production'));
      expect(types).toEqual([APPROVAL_REQUESTED, APPROVAL_GRANTED, 'ProductionApproved']);
    } finally {
      await running.close();
    }
  }, 60_000);
});

async function collectTypes(bus: Bus, correlationId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of bus.events({ correlationId }) as AsyncIterable<StoredEvent>) {
    if (e.envelope.event.correlation_id === correlationId) out.push(e.envelope.event.type);
  }
  return out;
}
