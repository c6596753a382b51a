import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type CommandRunnerSpec, defineAgent } from '../../src/agents/index.js';
import { FAST_RETRY, type Harness, eventually, harness, history, waitForDeadLetter, waitForEvents } from './helpers.js';

const ECHO = fileURLToPath(new URL('./fixtures/echo-agent.mjs', import.meta.url));

let h: Harness | undefined;
afterEach(async () => {
  await h?.dispose();
  h = undefined;
});

async function startCommandAgent(runner: Omit<CommandRunnerSpec, 'type'>, options: { timeout?: string } = {}) {
  h = await harness();
  await h.runtime.start(
    defineAgent({
      name: '/test-engineer',
      subscriptions: [
        {
          topic: 'project.tasks',
          filter: 'type=UserStoryApproved',
          retry: FAST_RETRY,
          ...options,
          runner: { type: 'command', ...runner },
        },
      ],
    }),
  );
  return h.bus;
}

describe('subprocess runner', () => {
  it('writes the envelope to stdin and publishes each stdout line as an event with the ack', async () => {
    const bus = await startCommandAgent({ command: process.execPath, args: [ECHO] });
    const story = await bus.publish({
      topic: 'project.tasks',
      type: 'UserStoryApproved',
      correlationId: 'story-9',
      payload: { tasks: 4 },
    });
    const [started] = await waitForEvents(bus, 'TestPlanStarted');
    expect(started?.payload).toEqual({ for: story.event.id, env_type: 'UserStoryApproved', attempt: '1' });
    expect(started?.event).toMatchObject({ source: '/test-engineer', correlation_id: 'story-9', causation_id: story.event.id });
    const [draft] = await history(bus, 'TestPlanDraft');
    expect(draft?.routing.topic).toBe('project.plans');
    expect(draft?.payload).toEqual({ tasks: 8 });
  });

  it('runs an agent written in another language (a shell one-liner)', async () => {
    const bus = await startCommandAgent({
      command: 'sh',
      args: ['-c', `read -r line; echo '{"type":"ShellSaw","payload":{"bytes":'"$(printf %s "$line" | wc -c)"'}}'`],
    });
    const story = await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved', payload: { tasks: 1 } });
    const [saw] = await waitForEvents(bus, 'ShellSaw');
    expect((saw?.payload as { bytes?: number } | undefined)?.bytes).toBe(JSON.stringify(story).length);
  });

  it("keeps agentbus's own secrets (AGENTBUS_* tokens and URLs) out of the command's environment", async () => {
    const planted = {
      AGENTBUS_TOKEN_OPS: 'tok-ops-0123456789abcdef',
      AGENTBUS_STORE: 'postgres://agentbus:pw-0123456789@db/agentbus',
      AGENTBUS_DB: '/tmp/agentbus-test.db',
      UNRELATED_SETTING: 'kept',
    };
    Object.assign(process.env, planted);
    try {
      const script = `const e = process.env; process.stdin.resume(); process.stdin.on('end', () => console.log(JSON.stringify({ type: 'EnvSeen', payload: { token: e.AGENTBUS_TOKEN_OPS ?? null, store: e.AGENTBUS_STORE ?? null, db: e.AGENTBUS_DB ?? null, other: e.UNRELATED_SETTING ?? null, given: e.AGENTBUS_NATS ?? null, agent: e.AGENTBUS_AGENT } })))`;
      const bus = await startCommandAgent({
        command: process.execPath,
        args: ['-e', script],
        env: { AGENTBUS_NATS: 'nats://on-purpose:4222' },
      });
      await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved' });
      const [seen] = await waitForEvents(bus, 'EnvSeen');
      expect(seen?.payload).toEqual({
        token: null,
        store: null,
        db: '/tmp/agentbus-test.db',
        other: 'kept',
        given: 'nats://on-purpose:4222',
        agent: '/test-engineer',
      });
    } finally {
      for (const name of Object.keys(planted)) delete process.env[name];
    }
  });

  it('fails a non-zero exit with its stderr, retries, and dead-letters after the last retry', async () => {
    const bus = await startCommandAgent({
      command: 'sh',
      args: ['-c', 'cat >/dev/null; echo partial-ignored; echo "model overloaded" >&2; exit 3'],
    });
    await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('temporary_failure');
    expect(dead.error).toBe(
      'command sh -c cat >/dev/null; echo partial-ignored; echo "model overloaded" >&2; exit 3 exited with code 3: model overloaded',
    );
    expect(dead.retries).toBe(2);
  });

  it('dead-letters output that is not JSON lines, publishing nothing', async () => {
    const bus = await startCommandAgent({ command: 'sh', args: ['-c', `echo '{"type":"Good"}'; echo 'not json'`] });
    await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('invalid_output');
    expect(dead.error).toMatch(/stdout line 2 of sh .* is not JSON: not json/);
    expect(await history(bus, 'Good')).toEqual([]);
  });

  it('kills a process that outlives the timeout (SIGTERM, then SIGKILL) and its children', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-kill-'));
    const marker = join(dir, 'child-survived');
    // Ignores SIGTERM; its background child would write the marker if it were not killed.
    const bus = await startCommandAgent(
      { command: 'sh', args: ['-c', `trap '' TERM; (sleep 2; touch ${marker}) & sleep 30`], killGrace: '200ms' },
      { timeout: '300ms' },
    );
    await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('timeout');
    expect(dead.error).toMatch(/timed out after 300 ms/);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(existsSync(marker)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a command that does not exist without retrying', async () => {
    const bus = await startCommandAgent({ command: 'agentbus-no-such-command-xyz' });
    await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('command_not_found');
    expect(dead.retries).toBe(0);
    await eventually(async () => (await history(bus, 'ErrorOccurredEvent')).length === 1, 'the error notice');
  });
});
