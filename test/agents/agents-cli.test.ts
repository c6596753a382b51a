import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createAgentRuntime } from '../../src/agents/index.js';
import { createBus } from '../../src/bus/index.js';
import { SYSTEM_EVENTS } from '../../src/envelope/index.js';
import { collect } from '../conformance/fixtures.js';
import { freshDb, removeFreshDbs, runCli, tableRows } from '../e2e/run-cli.js';
import { eventually } from './helpers.js';

const AGENT_PROCESS = fileURLToPath(new URL('./fixtures/agent-process.mjs', import.meta.url));

afterAll(removeFreshDbs);

function startAgentProcess(db: string, heartbeatMs: number) {
  const child = spawn(process.execPath, [AGENT_PROCESS, db, String(heartbeatMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code, signal) => {
      if (code === null) err += `\n(ended by ${signal})`;
      resolve(code);
    }),
  );
  return {
    child,
    exited,
    stderr: () => err,
    ready: () =>
      eventually(() => out.includes('ready') || (child.exitCode !== null && Promise.reject(new Error(err))), 'the agent process'),
  };
}

interface AgentJson {
  name: string;
  state: string;
  published: number;
  consumed: number;
  processing: number;
  subscriptions: Array<{ name: string }>;
}

async function agentsJson(db: string): Promise<AgentJson[]> {
  const result = await runCli(['agents', '--json', '--db', db]);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as AgentJson[];
}

describe('agentbus agents', () => {
  it("prints the seed's Agent Activity table of agents running in another process, then shows a killed one as unhealthy", async () => {
    const db = freshDb();
    const agentProcess = startAgentProcess(db, 200);
    await agentProcess.ready();
    const bus = await createBus({ path: db });
    try {
      for (let i = 0; i < 3; i++) await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved', payload: { i } });
      await eventually(async () => {
        const [agent] = await agentsJson(db);
        return agent?.consumed === 3 ? agent : undefined;
      }, 'a heartbeat counting three events');

      const table = await runCli(['agents', '--db', db]);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(
        /^\| Agent +\| Published \| Consumed \| Processing \| State +\| Subscriptions +\|$/,
      );
      expect(tableRows(table.stdout)).toEqual([
        [
          '/backend-architect',
          '3',
          '3',
          '0',
          'running',
          'project.tasks [type=UserStoryApproved] -> handler; project.alerts [severity=high] -> pause',
        ],
      ]);
      const [json] = await agentsJson(db);
      expect(json?.subscriptions.map((s) => s.name)).toEqual(['/backend-architect:stories', '/backend-architect:alerts']);

      // Killed without a word: a monitoring runtime announces it, and the listing says unhealthy.
      agentProcess.child.kill('SIGKILL');
      await agentProcess.exited;
      const monitor = createAgentRuntime(bus, { heartbeatInterval: '200ms', missedHeartbeats: 3, log: () => {} });
      const notice = await eventually(async () => {
        await monitor.heartbeat();
        const beats = await collect(bus.events({ type: SYSTEM_EVENTS.AgentHealth }));
        return beats.map((b) => b.envelope).find((b) => (b.payload as { state: string }).state === 'unhealthy');
      }, 'the unhealthy notice');
      expect(notice.payload).toMatchObject({ agent: '/backend-architect', state: 'unhealthy', reason: 'missed 3 heartbeats' });
      await monitor.close();
      const [after] = await agentsJson(db);
      expect(after).toMatchObject({ name: '/backend-architect', state: 'unhealthy', processing: 0, consumed: 3 });
    } finally {
      agentProcess.child.kill('SIGKILL');
      await bus.close();
    }
  });

  it('reports an agent stopped cleanly as stopped', async () => {
    const db = freshDb();
    const agentProcess = startAgentProcess(db, 60_000);
    await agentProcess.ready();
    agentProcess.child.kill('SIGTERM');
    expect(await agentProcess.exited, agentProcess.stderr()).toBe(0);
    const [agent] = await agentsJson(db);
    expect(agent).toMatchObject({ name: '/backend-architect', state: 'stopped' });
  });

  it('says so when there are no agents, and refuses a missing database', async () => {
    const db = freshDb();
    const bus = await createBus({ path: db });
    await bus.close();
    const empty = await runCli(['agents', '--db', db]);
    expect(empty).toMatchObject({ code: 0, stdout: '' });
    expect(empty.stderr).toMatch(/^no agents/);
    expect(await agentsJson(db)).toEqual([]);
    const missing = await runCli(['agents', '--db', `${db}.missing`]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no agentbus database/);
    const bad = await runCli(['agents', '--missed', '0', '--db', db]);
    expect(bad.code).toBe(2);
  });
});
