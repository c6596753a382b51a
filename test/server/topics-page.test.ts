/**
 * The dashboard's Topics page: the same figures as `agentbus topics` (events and publishers
 * in a window, subscribers, lag), only for topics the token may read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pubSubScenario, shiftedClock } from '../observe/scenarios.js';
import { type TestServer, json, startTestServer, token } from './helpers.js';

const READER = 'tok-topics-reader-0123456789';
const ADMIN = 'tok-topics-admin-0123456789a';

let t: TestServer;
beforeAll(async () => {
  const clock = shiftedClock();
  t = await startTestServer({
    clock,
    tokens: [
      token('reader', READER, { subscribe: ['project.>'], subscribeDeny: ['project.secret.>'] }),
      token('admin', ADMIN, { subscribe: ['>'], admin: true }),
    ],
  });
  await pubSubScenario(t.bus, clock);
  await t.bus.publish({ topic: 'project.secret.keys', type: 'KeyRotated', source: '/vault' });
});
afterAll(async () => {
  await t?.close();
});

/** The rows of the page's table, as cell texts. */
async function rows(path: string, secret: string): Promise<string[][]> {
  const response = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${secret}` } });
  expect(response.status).toBe(200);
  const body = await response.text();
  return [...body.matchAll(/<tr><td>(.*?)<\/td><\/tr>/g)].map((m) => (m[1] as string).split(/<\/td><td[^>]*>/));
}

describe('dashboard topics page', () => {
  it('shows per topic the events and publishers of the last hour, the subscribers and the lag', async () => {
    const page = await fetch(`${t.url}/topics`, { headers: { authorization: `Bearer ${READER}` } });
    expect(await page.text()).toContain('<th class="num">Events (Last Hour)</th>');
    expect(await rows('/ui/topics', READER)).toEqual([
      ['project.reviews', '1', '/code-author', '/code-reviewer', '1'],
      ['project.tasks', '3', '/backend-architect, /python-pro', '/code-reviewer, /dependency-manager', '6'],
    ]);
  });

  it('leaves out the topics the token may not read; an admin sees them and the window it asks for', async () => {
    const all = await rows('/ui/topics?window=3h', ADMIN);
    expect(all.map((r) => r[0])).toEqual(['deploy.&gt;', 'project.reviews', 'project.secret.keys', 'project.tasks']);
    expect(all[3]?.slice(1, 3)).toEqual(['6', '/backend-architect, /old-architect, /python-pro']);
    const page = await fetch(`${t.url}/topics?window=3h`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const text = await page.text();
    expect(text).toContain('Events (Last 3 Hours)');
    expect(text).toContain('hx-get="/ui/topics?window=180m"');
    const bad = await fetch(`${t.url}/ui/topics?window=2x`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(bad.status).toBe(400);
    expect((await json(bad)).field).toBe('query.window');
  });
});

describe('GET /v1/topics', () => {
  const get = (path: string, secret: string) => fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${secret}` } });

  it('answers the same figures as JSON, only for topics the token may read', async () => {
    const response = await get('/v1/topics', READER);
    expect(response.status).toBe(200);
    const body = (await json(response)) as { window_ms: number; topics: Array<Record<string, unknown>> };
    expect(body.window_ms).toBe(3_600_000);
    expect(body.topics).toEqual([
      {
        topic: 'project.reviews',
        pattern: false,
        events: 1,
        publishers: ['/code-author'],
        subscribers: ['/code-reviewer'],
        lag: 1,
      },
      {
        topic: 'project.tasks',
        pattern: false,
        events: 3,
        publishers: ['/backend-architect', '/python-pro'],
        subscribers: ['/code-reviewer', '/dependency-manager'],
        lag: 6,
      },
    ]);
    const admin = (await json(await get('/v1/topics?window=3h', ADMIN))) as { topics: Array<{ topic: string }> };
    expect(admin.topics.map((r) => r.topic)).toEqual(['deploy.>', 'project.reviews', 'project.secret.keys', 'project.tasks']);
  });

  it('refuses a bad window or include_system, and an unknown parameter, naming it', async () => {
    for (const [query, field] of [
      ['window=2x', 'query.window'],
      ['include_system=yes', 'query.include_system'],
      ['windw=1h', 'query.windw'],
    ]) {
      const response = await get(`/v1/topics?${query}`, ADMIN);
      expect(response.status).toBe(400);
      expect((await json(response)).field).toBe(field);
    }
  });
});
