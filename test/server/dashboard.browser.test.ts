/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): it loads
 * under its CSP without errors, a published event appears live in the tail, a dead letter
 * is replayed by clicking, the throughput bars count the window their heading names, and
 * markup in a topic, a payload and an error is shown as inert text; a signed-in token sees
 * only the subscriptions and events it may read. Screenshots go to test-results/.
 *
 * Skipped (with the reason) when /usr/bin/chromium is missing outside CI; with CI=true it
 * never skips.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/bus/index.js';
import { WINDOW_FIGURES, shiftedClock, windowScenario } from '../observe/scenarios.js';
import { createManualClock } from '../../src/testing.js';
import { type TestServer, startTestServer, token } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const ci = process.env.CI === 'true';
const SHOTS = 'test-results/dashboard';

/** Markup that would run script if it were ever parsed as HTML. */
const XSS_PAYLOAD = '<img src=x onerror="window.__xss=1;alert(1)">';
const XSS_ERROR = '<script>window.__xss=2</script><img src=x onerror="alert(2)">';
const XSS_TOPIC = '<img src=x onerror="alert(3)">';
const XSS_CORRELATION = '<svg onload="alert(4)">';

describe.skipIf(!available && !ci)(
  `dashboard in chromium${available || ci ? '' : ' (skipped: /usr/bin/chromium is not installed)'}`,
  () => {
    let t: TestServer;
    let browser: Browser;
    let failing: Subscription;
    const failedOnce = new Set<string>();
    const handled: string[] = [];

    beforeAll(async () => {
      mkdirSync(SHOTS, { recursive: true });
      t = await startTestServer({ integrations: 'default', retry: { max_retries: 0 } });
      // Fails each event's first delivery (with the XSS text as its error) unless its payload
      // says `fixed`; succeeds on replay.
      failing = await t.bus.subscribe({
        name: '/browser-deployer',
        topic: 'browser.deploy',
        handler: (event) => {
          const fixed = (event.payload as { fixed?: boolean }).fixed === true;
          if (!fixed && !failedOnce.has(event.event.id)) {
            failedOnce.add(event.event.id);
            throw new Error(`deploy failed: ${XSS_ERROR}`);
          }
          handled.push(event.event.id);
        },
      });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
    });

    afterAll(async () => {
      await browser?.close();
      await failing?.close();
      await t?.close();
    });

    /** A page that records console errors, page errors and dialogs. */
    async function open(path: string) {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      const problems: string[] = [];
      const dialogs: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('dialog', async (d) => {
        dialogs.push(d.message());
        await d.dismiss();
      });
      await page.goto(`${t.url}${path}`);
      return { page, problems, dialogs };
    }

    async function publish(body: unknown): Promise<{ event: { id: string } }> {
      const response = await fetch(`${t.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(201);
      return (await response.json()) as { event: { id: string } };
    }

    async function deadLetterOf(eventId: string): Promise<number> {
      for (let i = 0; i < 400; i++) {
        const found = (await t.bus.deadLetters.list()).find((d) => d.event.envelope.event.id === eventId);
        if (found) return found.id;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no dead letter for ${eventId}`);
    }

    async function expectInert(page: Page, dialogs: string[]) {
      expect(dialogs).toEqual([]);
      expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
      expect(await page.locator('img[src="x"], main script, svg[onload]').count()).toBe(0);
    }

    it('loads every page under its CSP with htmx and uPlot running, and no errors', async () => {
      await publish({ event: { type: 'DashboardWarmup' }, payload: {}, routing: { topic: 'browser.warmup' } });
      const { page, problems } = await open('/');
      await expect.poll(() => page.locator('h1').textContent()).toBe('Event System Dashboard');
      expect(await page.evaluate(() => typeof (globalThis as unknown as { htmx?: unknown }).htmx)).toBe('object');
      await page.locator('#rate-chart .uplot').waitFor({ timeout: 20_000 });
      await expect.poll(() => page.locator('main').textContent()).toContain('browser.warmup');
      // htmx refreshes the overview under the CSP: a new topic shows up without a reload.
      await publish({ event: { type: 'DashboardRefresh' }, payload: {}, routing: { topic: 'browser.refreshed' } });
      await expect.poll(() => page.locator('main').textContent(), { timeout: 20_000 }).toContain('browser.refreshed');
      await page.screenshot({ path: `${SHOTS}/overview.png`, fullPage: true });
      for (const path of ['/topics', '/subscriptions', '/agents', '/sagas', '/aggregators', '/tail', '/timeline', '/dlq']) {
        const response = await page.goto(`${t.url}${path}`);
        expect(response?.status(), path).toBe(200);
      }
      expect(problems).toEqual([]);
      await page.close();
    });

    it('heads the throughput bars with their window and shows the counts of that window, live', async () => {
      const clock = shiftedClock();
      const windowed = await startTestServer({ integrations: 'default', clock });
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      try {
        await windowScenario(windowed.bus, clock);
        const heading = page.locator('#throughput h2');
        const bars = page.locator('#throughput .bars');
        await page.goto(`${windowed.url}/`);
        await expect.poll(() => heading.textContent()).toBe('Throughput (Last Hour)');
        const hour = WINDOW_FIGURES.lastHour;
        expect(await bars.textContent()).toMatch(new RegExp(`Events Published: █+░* ${hour.published}\n`));
        expect(await bars.textContent()).toMatch(new RegExp(`Events Consumed: +█+░* ${hour.consumed}\n`));
        expect(await bars.textContent()).toMatch(new RegExp(`Events Failed: +█+░* ${hour.failed}\n`));
        expect(await bars.textContent()).toMatch(new RegExp(`Events in DLQ: +█+░* ${hour.inDlq}$`));
        await page.screenshot({ path: `${SHOTS}/throughput-last-hour.png`, fullPage: true });

        await page.goto(`${windowed.url}/?window=3h`);
        await expect.poll(() => heading.textContent()).toBe('Throughput (Last 3 Hours)');
        const three = WINDOW_FIGURES.lastThreeHours;
        expect(await bars.textContent()).toMatch(new RegExp(`Events Published: █+ ${three.published}\n`));
        expect(await bars.textContent()).toMatch(new RegExp(`Events Consumed: +█+░* ${three.consumed}\n`));
        // The live refresh keeps the window: a new event shows up under the same heading.
        await windowed.bus.publish({ topic: 'project.tasks', type: 'TaskCompletedEvent', source: '/orchestrator' });
        await expect
          .poll(() => bars.textContent(), { timeout: 20_000 })
          .toMatch(new RegExp(`Events Published: █+ ${three.published + 1}\n`));
        expect(await heading.textContent()).toBe('Throughput (Last 3 Hours)');
        await page.screenshot({ path: `${SHOTS}/throughput-last-3-hours.png`, fullPage: true });

        const bad = await page.goto(`${windowed.url}/?window=soon`);
        expect(bad?.status()).toBe(400);
        expect(await page.locator('body').textContent()).toContain('window');
      } finally {
        await page.close();
        await windowed.close();
      }
    });

    it('shows a published event live in the tail', async () => {
      const { page, problems } = await open('/tail?topic=browser.>');
      await page.locator('#tail-form[data-live="true"]').waitFor({ timeout: 20_000 });
      await publish({
        event: { type: 'LiveDashboardEvent', source: '/browser-test' },
        payload: { n: 42 },
        routing: { topic: 'browser.live' },
      });
      const row = page.locator('#tail-rows tr', { hasText: 'LiveDashboardEvent' });
      await row.waitFor({ timeout: 20_000 });
      expect(await row.textContent()).toContain('/browser-test');
      await page.screenshot({ path: `${SHOTS}/live-tail.png`, fullPage: true });
      expect(problems).toEqual([]);
      await page.close();
    });

    it('replays a dead letter when its Replay button is clicked', async () => {
      const { event } = await publish({
        event: { type: 'DeployCommand' },
        payload: { version: 1 },
        routing: { topic: 'browser.deploy' },
      });
      const id = await deadLetterOf(event.id);
      const { page } = await open('/dlq');
      const row = page.locator(`tr[data-dead-letter="${id}"]`);
      await expect.poll(() => row.locator('.badge').textContent()).toBe('open');
      await page.screenshot({ path: `${SHOTS}/dlq-before-replay.png`, fullPage: true });
      await row.getByRole('button', { name: 'Replay' }).click();
      await expect.poll(() => row.locator('.badge').textContent(), { timeout: 20_000 }).toBe('replayed');
      expect((await t.bus.deadLetters.get(id))?.status).toBe('replayed');
      await expect.poll(() => handled, { timeout: 20_000 }).toContain(event.id);
      await page.screenshot({ path: `${SHOTS}/dlq-after-replay.png`, fullPage: true });
      await page.close();
    });

    it('fixes the payload in the inspector and replays the corrected copy', async () => {
      const { event } = await publish({
        event: { type: 'DeployCommand' },
        payload: { version: 0 },
        routing: { topic: 'browser.deploy' },
      });
      const id = await deadLetterOf(event.id);
      const { page, problems } = await open(`/dlq/${id}`);
      // Its one failed attempt, as the seed's Retry Timeline reads (no retries allowed here).
      const attempts = page.locator('#attempts tbody tr');
      await expect.poll(() => attempts.count()).toBe(1);
      expect(await attempts.first().locator('td').allTextContents()).toEqual([
        '1',
        expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        'temporary_failure',
        `deploy failed: ${XSS_ERROR}`,
        '→ DLQ',
      ]);
      await page.fill('#fix-form textarea[name=payload]', '{ "version": 3, ');
      await page.click('#fix-form button[type=submit]');
      await expect.poll(() => page.locator('#fix-error').textContent()).toContain('not valid JSON');
      await page.fill('#fix-form textarea[name=payload]', JSON.stringify({ version: 3, fixed: true }));
      await page.click('#fix-form button[type=submit]');
      await expect.poll(() => page.locator('.badge').first().textContent(), { timeout: 20_000 }).toBe('replayed');
      const dead = await t.bus.deadLetters.get(id);
      expect(dead?.replayedAs).toBeDefined();
      await expect.poll(() => handled, { timeout: 20_000 }).toContain(dead?.replayedAs);
      const copy = await t.bus.getEvent(dead?.replayedAs ?? '');
      expect(copy?.envelope.payload).toEqual({ version: 3, fixed: true });
      expect(copy?.envelope.event.causation_id).toBe(event.id);
      await page.screenshot({ path: `${SHOTS}/dlq-fixed-and-replayed.png`, fullPage: true });
      expect(problems).toEqual([]);
      await page.close();
    });

    it('shows markup in a topic, a payload, an error and a correlation id as inert text', async () => {
      const { event } = await publish({
        event: { type: 'DeployCommand', correlation_id: XSS_CORRELATION },
        payload: { note: XSS_PAYLOAD },
        routing: { topic: 'browser.deploy' },
      });
      const dead = await deadLetterOf(event.id);

      const tail = await open(`/tail?topic=${encodeURIComponent(XSS_TOPIC)}`);
      await expect.poll(() => tail.page.locator('#tail-status').textContent(), { timeout: 20_000 }).toContain('column');
      expect(await tail.page.inputValue('input[name=topic]')).toBe(XSS_TOPIC);
      await expectInert(tail.page, tail.dialogs);
      await tail.page.screenshot({ path: `${SHOTS}/xss-topic.png`, fullPage: true });
      await tail.page.close();

      for (const [path, text, shot] of [
        // The payload is shown as JSON, so its quotes appear escaped.
        [`/events/${encodeURIComponent(event.id)}`, JSON.stringify(XSS_PAYLOAD).slice(1, -1), 'xss-payload'],
        ['/dlq', XSS_ERROR, 'xss-error-list'],
        [`/dlq/${dead}`, XSS_ERROR, 'xss-error-detail'],
        [`/timeline/${encodeURIComponent(XSS_CORRELATION)}`, XSS_CORRELATION, 'xss-correlation'],
      ] as const) {
        const { page, dialogs } = await open(path);
        await expect.poll(() => page.locator('main').textContent(), { timeout: 20_000 }).toContain(text);
        await expectInert(page, dialogs);
        await page.screenshot({ path: `${SHOTS}/${shot}.png`, fullPage: true });
        await page.close();
      }
    });
    it('signs in with a token, keeps it in an HttpOnly cookie, and replays a dead letter under it', async () => {
      const secret = 'browser-admin-0123456789abcdef';
      const secured = await startTestServer({
        tokens: [token('browser-admin', secret, { publish: ['>'], subscribe: ['>'], admin: true })],
        retry: { max_retries: 0 },
      });
      const sub = await secured.bus.subscribe({
        name: '/secured-worker',
        topic: 'secured.work',
        handler: (event) => {
          if ((event.payload as { fixed?: boolean }).fixed !== true) throw new Error('needs fixing');
        },
      });
      const context = await browser.newContext();
      try {
        const stored = await secured.bus.publish({ topic: 'secured.work', type: 'WorkCommand', payload: { fixed: false } });
        let dead = 0;
        for (let i = 0; i < 400 && dead === 0; i++) {
          dead = (await secured.bus.deadLetters.list()).find((d) => d.event.envelope.event.id === stored.event.id)?.id ?? 0;
          if (dead === 0) await new Promise((r) => setTimeout(r, 50));
        }
        const page = await context.newPage();
        await page.goto(`${secured.url}/dlq`);
        expect(new URL(page.url()).pathname).toBe('/login');
        await page.fill('input[name=token]', secret);
        await page.click('button[type=submit]');
        await page.waitForURL(`${secured.url}/dlq`);
        const cookies = await context.cookies();
        expect(cookies.find((c) => c.name === 'agentbus_token')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
        expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe('');

        const row = page.locator(`tr[data-dead-letter="${dead}"]`);
        await row.getByRole('button', { name: 'Replay' }).click();
        await expect.poll(() => row.locator('.badge').textContent(), { timeout: 20_000 }).toBe('replayed');
        await page.screenshot({ path: `${SHOTS}/signed-in-dlq.png`, fullPage: true });
        expect(secured.logs.join('\n')).not.toContain(secret);
      } finally {
        await context.close();
        await sub.close();
        await secured.close();
      }
    });
    it('says so on the sign-in page when an address is locked out after too many wrong tokens, and signs in after the lockout', async () => {
      const secret = 'browser-reader-0123456789abcdef';
      const clock = createManualClock();
      const secured = await startTestServer({
        clock,
        signInLimit: { maxFailures: 2, lockoutMs: 60_000 },
        tokens: [token('browser-reader', secret, { subscribe: ['>'] })],
      });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error' && !m.text().includes('status of 4')) errors.push(m.text());
        });
        const signIn = async (value: string) => {
          await page.goto(`${secured.url}/login?next=/agents`);
          await page.fill('input[name=token]', value);
          await page.click('button[type=submit]');
          await page.waitForLoadState();
        };
        await signIn('browser-wrong-0123456789abcdef');
        expect(await page.locator('p.error').textContent()).toBe('That token is not valid.');
        await signIn('browser-wrong-0123456789abcdef');
        await signIn(secret);
        expect(new URL(page.url()).pathname).toBe('/login');
        expect(await page.locator('p.error').textContent()).toBe(
          'Too many failed sign-ins from this address. Try again in 60 s.',
        );
        expect((await context.cookies()).find((c) => c.name === 'agentbus_token')).toBeUndefined();
        await page.screenshot({ path: `${SHOTS}/sign-in-locked.png`, fullPage: true });
        clock.advance(60_000);
        await signIn(secret);
        await page.waitForURL(`${secured.url}/agents`);
        expect(errors).toEqual([]);
      } finally {
        await context.close();
        await secured.close();
      }
    });

    it('shows a signed-in narrow token only the subscriptions and events it may read', async () => {
      const secret = 'browser-deploy-0123456789abcdef';
      const secured = await startTestServer({ tokens: [token('browser-deploy', secret, { subscribe: ['deploy.>'] })] });
      for (const spec of [
        { name: '/browser-deploy-watch', topic: 'deploy.>' },
        { name: '/browser-hr-watch', topic: 'hr.>' },
      ]) {
        await (await secured.bus.subscribe({ ...spec, handler: () => {} })).close();
      }
      const readable = await secured.bus.publish({ topic: 'deploy.started', type: 'DeployStarted', payload: {} });
      const hidden = await secured.bus.publish({ topic: 'hr.reviews', type: 'ReviewDone', payload: {} });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${secured.url}/login?next=/subscriptions`);
        await page.fill('input[name=token]', secret);
        await page.click('button[type=submit]');
        await page.waitForURL(`${secured.url}/subscriptions`);
        const table = page.locator('#subscriptions');
        await expect.poll(() => table.textContent()).toContain('/browser-deploy-watch');
        expect(await table.textContent()).not.toContain('/browser-hr-watch');
        await page.screenshot({ path: `${SHOTS}/signed-in-subscriptions.png`, fullPage: true });
        const shown = await page.goto(`${secured.url}/events/${encodeURIComponent(readable.event.id)}`);
        expect(shown?.status()).toBe(200);
        expect(await page.locator('main').textContent()).toContain('DeployStarted');
        // An event of another topic is answered as a missing one.
        const refused = await page.goto(`${secured.url}/events/${encodeURIComponent(hidden.event.id)}`);
        expect(refused?.status()).toBe(404);
        expect(await page.content()).not.toContain('ReviewDone');
      } finally {
        await context.close();
        await secured.close();
      }
    });
  },
);
