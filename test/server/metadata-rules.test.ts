/**
 * What a token is not told about topics it may not read (ADR 0024, amendment): an event of
 * such a topic is 404 as a missing one, in the API and the inspector; a subscription is shown
 * only to a token that may read every topic its pattern matches (or admin), in the list, one
 * by name, the overview, an agent's subscriptions and the dashboard; `/metrics`, whose series
 * name every topic, needs the metrics or admin scope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, json, startTestServer, token } from './helpers.js';

const DEPLOYER = 'tok-deployer-0123456789abcdef';
const WIDE = 'tok-wide-0123456789abcdef';
const ADMIN = 'tok-admin-0123456789abcdef';
const SCRAPER = 'tok-scraper-0123456789abcdef';
const HR_SECRET = 'hr-filter-secret-5c1e';
const HR_FILTER = `payload.level=${HR_SECRET}`;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    integrations: 'default',
    tokens: [
      token('deployer', DEPLOYER, { subscribe: ['deploy.>'] }),
      // Reads everything but deploy.secrets: `>` and `deploy.>` also receive those.
      token('wide', WIDE, { subscribe: ['>'], subscribeDeny: ['deploy.secrets'] }),
      token('scraper', SCRAPER, { metrics: true }),
      token('admin', ADMIN, { admin: true }),
    ],
  });
  const specs = [
    { name: '/deploy-watch', topic: 'deploy.>', filter: 'type=DeployRequested' },
    { name: '/deploy-eu', topic: 'deploy.eu.*' },
    { name: '/hr-watch', topic: 'hr.>', filter: HR_FILTER },
    { name: '/everything', topic: '>' },
  ];
  for (const spec of specs) await (await t.bus.subscribe({ ...spec, handler: () => {} })).close();
});
afterAll(async () => {
  await t?.close();
});

function get(path: string, secret: string) {
  return fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${secret}` } });
}

/** The answer's status and body, with `id` written as `<id>`, to compare two answers. */
async function answerOf(response: Promise<Response>, id: string) {
  const r = await response;
  return { status: r.status, type: r.headers.get('content-type'), body: (await r.text()).replaceAll(id, '<id>') };
}

const names = (list: { name: string }[]) =>
  list
    .map((s) => s.name)
    .filter((n) => n.startsWith('/'))
    .sort();

describe('an event of a topic the token may not read', () => {
  it('is 404 exactly as an id that does not exist, in the API and the inspector', async () => {
    const hidden = await t.bus.publish({ topic: 'hr.reviews', type: 'ReviewDone', payload: {} });
    const missing = 'evt-never-published-1';
    for (const path of ['/v1/events/', '/events/']) {
      const unreadable = await answerOf(get(`${path}${hidden.event.id}`, DEPLOYER), hidden.event.id);
      expect(unreadable.status, path).toBe(404);
      expect(unreadable, path).toEqual(await answerOf(get(`${path}${missing}`, DEPLOYER), missing));
      expect(unreadable.body).not.toContain('hr.reviews');
    }
    expect((await get(`/v1/events/${hidden.event.id}`, WIDE)).status).toBe(200);
  });
});

describe('subscriptions', () => {
  it('lists only those whose whole pattern the token may read; admin sees all', async () => {
    const deployer = await get('/v1/subscriptions', DEPLOYER);
    const text = await deployer.text();
    expect(names(JSON.parse(text).subscriptions)).toEqual(['/deploy-eu', '/deploy-watch']);
    expect(text).not.toContain(HR_SECRET);
    expect(await (await get('/v1/subscriptions', ADMIN)).text()).toContain(HR_SECRET);
    // `>` and `deploy.>` reach deploy.secrets, which `wide` may not read.
    expect(names((await json(get('/v1/subscriptions', WIDE))).subscriptions)).toEqual(['/deploy-eu', '/hr-watch']);
    expect(names((await json(get('/v1/subscriptions', ADMIN))).subscriptions)).toEqual([
      '/deploy-eu',
      '/deploy-watch',
      '/everything',
      '/hr-watch',
    ]);
  });

  it('answers one the token may not see as one that does not exist', async () => {
    const hidden = await answerOf(get('/v1/subscriptions/%2Fhr-watch', DEPLOYER), 'hr-watch');
    expect(hidden.status).toBe(404);
    expect(hidden).toEqual(await answerOf(get('/v1/subscriptions/%2Fno-such-watch', DEPLOYER), 'no-such-watch'));
    expect(hidden.body).not.toContain(HR_SECRET);
    expect(await json(get('/v1/subscriptions/%2Fdeploy-watch', DEPLOYER))).toMatchObject({
      name: '/deploy-watch',
      filter: { event: { type: ['DeployRequested'] } },
    });
    expect((await get('/v1/subscriptions/%2Fhr-watch', ADMIN)).status).toBe(200);
  });

  it('leaves them out of the overview and the dashboard page too', async () => {
    const status = await json(get('/v1/status', DEPLOYER));
    expect(names(status.subscriptions)).toEqual(['/deploy-eu', '/deploy-watch']);
    expect(names((await json(get('/v1/status', ADMIN))).subscriptions)).toContain('/hr-watch');
    const page = await (await get('/subscriptions', DEPLOYER)).text();
    expect(page).toContain('/deploy-watch');
    expect(page).not.toContain('/hr-watch');
    expect(page).not.toContain('/everything');
    expect(await (await get('/subscriptions', ADMIN)).text()).toContain('/hr-watch');
  });

  it('lists an agent’s subscriptions only where the token may see them', async () => {
    const agents = {
      agents: [
        {
          name: '/mixed',
          state: 'running',
          subscriptions: [
            { name: '/mixed', topic: 'deploy.>', filter: null, runs: 'handler', inbox: false },
            { name: '/mixed-hr', topic: 'hr.>', filter: HR_FILTER, runs: 'handler', inbox: false },
          ],
        },
      ],
    };
    const s = await startTestServer({
      bus: t.bus,
      tokens: [token('deployer', DEPLOYER, { subscribe: ['deploy.>'] }), token('admin', ADMIN, { admin: true })],
      integrations: { agents: async () => agents },
    });
    try {
      const text = await (await fetch(`${s.url}/v1/agents`, { headers: { authorization: `Bearer ${DEPLOYER}` } })).text();
      expect(text).not.toContain(HR_SECRET);
      expect(JSON.parse(text).agents).toEqual([{ ...agents.agents[0], subscriptions: [agents.agents[0]?.subscriptions[0]] }]);
      const admin = await json(fetch(`${s.url}/v1/agents`, { headers: { authorization: `Bearer ${ADMIN}` } }));
      expect(admin).toEqual(agents);
    } finally {
      await s.server.close();
    }
  });
});

describe('/metrics', () => {
  it('needs the metrics or admin scope: every topic is a label', async () => {
    await t.bus.publish({ topic: 'hr.reviews', type: 'ReviewDone', payload: {} });
    const refused = await get('/metrics', WIDE);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    const text = await refused.text();
    expect(text).not.toContain('agentbus_');
    expect(JSON.parse(text)).toMatchObject({
      status: 403,
      code: 'UNAUTHORIZED',
      detail: 'token "wide" may not read /metrics (needs the metrics or admin scope)',
    });
    for (const secret of [SCRAPER, ADMIN]) {
      const metrics = await get('/metrics', secret);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('topic="hr.reviews"');
    }
  });
});
