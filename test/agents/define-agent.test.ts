import { describe, expect, it } from 'vitest';
import { defineAgent, inboxTopic } from '../../src/agents/index.js';
import { DOMAIN_EVENTS, INTEGRATION_EVENTS, SYSTEM_EVENTS } from '../../src/envelope/index.js';
import { isAgentbusError } from '../../src/errors.js';

function refusal(fn: () => unknown): { code: string; field: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    if (isAgentbusError(error)) return { code: error.code, field: error.details.field, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

const noop = () => {};

describe('defineAgent', () => {
  it('names one subscription after the agent and several after the agent plus their key or index', () => {
    const single = defineAgent({ name: '/python-pro', subscriptions: [{ topic: 'project.tasks', handler: noop }] });
    expect(single.subscriptions.map((s) => s.name)).toEqual(['/python-pro']);
    const frontend = defineAgent({
      name: '/frontend-specialist',
      subscriptions: [
        { key: 'tasks', topic: 'project.tasks', filter: 'type=APIDesignCompleted', handler: noop },
        { topic: 'project.reviews', filter: 'target=frontend', runner: { type: 'webhook', url: 'http://127.0.0.1:1/x' } },
        { key: 'alerts', topic: 'project.alerts', filter: 'severity=high', action: 'pause' },
      ],
    });
    expect(frontend.subscriptions.map((s) => s.name)).toEqual([
      '/frontend-specialist:tasks',
      '/frontend-specialist:1',
      '/frontend-specialist:alerts',
    ]);
    expect(frontend.subscriptions[0]?.filter).toEqual({ event: { type: ['APIDesignCompleted'] } });
  });

  it('adds an inbox named after the agent when it has a default handler', () => {
    const agent = defineAgent({ name: '/test-engineer', handler: noop, subscriptions: [{ topic: 'project.tasks' }] });
    expect(agent.subscriptions.map((s) => [s.name, s.topic, s.inbox])).toEqual([
      ['/test-engineer:0', 'project.tasks', false],
      ['/test-engineer', 'agents.test-engineer', true],
    ]);
    expect(inboxTopic('/team/reviewer')).toBe('agents.team.reviewer');
  });

  it('refuses unknown keys and webhook settings that would fail every call, naming the field', () => {
    const webhook = (extra: Record<string, unknown>) => ({ type: 'webhook' as const, url: 'http://127.0.0.1:1/hook', ...extra });
    const cases: Array<[unknown, string]> = [
      // A typo in a filter key would widen what the agent receives.
      [{ name: '/a', subscriptions: [{ topic: 'a', filtr: 'type=OnlyThis', handler: noop }] }, 'subscriptions[0].filtr'],
      [{ name: '/a', descripton: 'x', subscriptions: [{ topic: 'a', handler: noop }] }, 'descripton'],
      [{ name: '/a', subscriptions: [{ topic: 'a', action: 'forward', to: { topik: 'b' } }] }, 'subscriptions[0].to.topik'],
      [{ name: '/a', subscriptions: [{ topic: 'a', runner: webhook({ header: {} }) }] }, 'subscriptions[0].runner.header'],
      [
        { name: '/a', subscriptions: [{ topic: 'a', runner: webhook({ headers: { 'bad header': 'x' } }) }] },
        'subscriptions[0].runner.headers.bad header',
      ],
      [
        { name: '/a', subscriptions: [{ topic: 'a', runner: webhook({ headers: { 'X-A': 'v\r\nX-B: y' } }) }] },
        'subscriptions[0].runner.headers.X-A',
      ],
      [{ name: '/a', subscriptions: [{ topic: 'a', runner: webhook({ secret: 'x' }) }] }, 'subscriptions[0].runner.secret'],
      [
        { name: '/a', subscriptions: [{ topic: 'a', runner: { type: 'command', command: 'x', argv: [] } }] },
        'subscriptions[0].runner.argv',
      ],
    ];
    for (const [input, field] of cases) {
      expect(
        refusal(() => defineAgent(input as never)),
        JSON.stringify(input),
      ).toMatchObject({ code: 'OPTIONS_INVALID', field });
    }
  });

  it('refuses bad definitions naming the field', () => {
    expect(refusal(() => defineAgent({ name: 'frontend', subscriptions: [{ topic: 'a', handler: noop }] }))).toMatchObject({
      code: 'OPTIONS_INVALID',
      field: 'name',
    });
    expect(refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a..b', handler: noop }] }))).toMatchObject({
      code: 'OPTIONS_INVALID',
      field: 'subscriptions[0].topic',
    });
    expect(
      refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a', filter: 'type=', handler: noop }] })),
    ).toMatchObject({
      code: 'FILTER_SYNTAX',
    });
    expect(refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a' }] }))).toMatchObject({
      field: 'subscriptions[0]',
    });
    expect(
      refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a', handler: noop, action: 'pause' }] })),
    ).toMatchObject({ field: 'subscriptions[0]' });
    expect(refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a', action: 'forward' }] }))).toMatchObject({
      field: 'subscriptions[0].to',
    });
    expect(
      refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a', action: 'explode' as 'pause' }] })),
    ).toMatchObject({ field: 'subscriptions[0].action' });
    expect(
      refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a', runner: { type: 'webhook', url: 'ftp://x' } }] })),
    ).toMatchObject({ field: 'subscriptions[0].runner.url' });
    // fetch refuses credentials in a URL on every call (and would quote them in each dead letter).
    const withPassword = refusal(() =>
      defineAgent({
        name: '/a',
        subscriptions: [{ topic: 'a', runner: { type: 'webhook', url: 'https://bot:pw@hooks.example/in' } }],
      }),
    );
    expect(withPassword).toMatchObject({ field: 'subscriptions[0].runner.url' });
    expect(withPassword.message).not.toContain('pw@');
    expect(
      refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a', runner: { type: 'command', command: '' } }] })),
    ).toMatchObject({ field: 'subscriptions[0].runner.command' });
    expect(
      refusal(() => defineAgent({ name: '/a', subscriptions: [{ topic: 'a', handler: noop, timeout: 'soon' }] })),
    ).toMatchObject({ field: 'subscriptions[0].timeout' });
    expect(
      refusal(() =>
        defineAgent({
          name: '/a',
          subscriptions: [
            { key: 'x', topic: 'a', handler: noop },
            { key: 'x', topic: 'b', handler: noop },
          ],
        }),
      ),
    ).toMatchObject({ field: 'subscriptions[1].key' });
    expect(
      refusal(() => defineAgent({ name: '/a', guards: { maxDepth: 0 }, subscriptions: [{ topic: 'a', handler: noop }] })),
    ).toMatchObject({
      field: 'guards.maxDepth',
    });
  });
});

describe("the seed's event taxonomy", () => {
  it('ships the domain, integration and system events as constants', () => {
    expect(Object.values(DOMAIN_EVENTS)).toEqual([
      'TaskStartedEvent',
      'TaskCompletedEvent',
      'TaskFailedEvent',
      'DecisionMadeEvent',
      'ReviewRequestedEvent',
      'ReviewCompletedEvent',
    ]);
    expect(Object.values(INTEGRATION_EVENTS)).toEqual(['AgentHandoffEvent', 'ContextSyncEvent', 'DependencyResolvedEvent']);
    expect(Object.values(SYSTEM_EVENTS)).toEqual(['AgentHealthEvent', 'CheckpointCreatedEvent', 'ErrorOccurredEvent']);
  });
});
