/**
 * The web dashboard: server-rendered pages, live through htmx polling and server-sent
 * events, under a CSP without `unsafe-inline`.
 */
import type { Hono } from 'hono';
import type { Authenticator } from '../auth.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import type { SignInLimiter } from '../sign-in-limit.js';
import { type PageRoute, WINDOW } from '../openapi.js';
import { registerAssets } from './assets.js';
import { registerLogin } from './login.js';
import { registerDlqPages } from './pages/dlq.js';
import { registerEventPages } from './pages/events.js';
import { registerOverview } from './pages/overview.js';
import { registerStatusPages } from './pages/status.js';
import { registerSubscriptionsPage } from './pages/subscriptions.js';
import { registerTimelinePage } from './pages/timeline.js';
import { registerTopics } from './pages/topics.js';

/** Every dashboard route, for the OpenAPI document. */
export const DASHBOARD_PAGES: readonly PageRoute[] = [
  { method: 'get', path: '/', summary: 'Dashboard: overview (the seed dashboard, live)', query: [WINDOW] },
  { method: 'get', path: '/ui/overview', summary: 'Dashboard fragment: overview', query: [WINDOW] },
  {
    method: 'get',
    path: '/topics',
    summary: 'Dashboard: topics with their events, publishers, subscribers and lag',
    query: [WINDOW],
  },
  { method: 'get', path: '/ui/topics', summary: 'Dashboard fragment: topics', query: [WINDOW] },
  { method: 'get', path: '/subscriptions', summary: 'Dashboard: subscriptions' },
  { method: 'get', path: '/ui/subscriptions', summary: 'Dashboard fragment: subscriptions' },
  { method: 'post', path: '/ui/subscriptions/:name/pause', summary: 'Dashboard action: pause a subscription (admin)' },
  { method: 'post', path: '/ui/subscriptions/:name/resume', summary: 'Dashboard action: resume a subscription (admin)' },
  { method: 'get', path: '/agents', summary: 'Dashboard: agents' },
  { method: 'get', path: '/ui/agents', summary: 'Dashboard fragment: agents' },
  { method: 'get', path: '/sagas', summary: 'Dashboard: sagas' },
  { method: 'get', path: '/ui/sagas', summary: 'Dashboard fragment: sagas' },
  { method: 'get', path: '/aggregators', summary: 'Dashboard: aggregators' },
  { method: 'get', path: '/ui/aggregators', summary: 'Dashboard fragment: aggregators' },
  { method: 'get', path: '/tail', summary: 'Dashboard: live tail with a filter box' },
  { method: 'get', path: '/events/:id', summary: 'Dashboard: event inspector' },
  { method: 'get', path: '/timeline', summary: 'Dashboard: correlation timeline (form)' },
  { method: 'get', path: '/timeline/:correlation', summary: 'Dashboard: waterfall beside the causation tree' },
  { method: 'get', path: '/dlq', summary: 'Dashboard: dead-letter triage (admin)' },
  { method: 'get', path: '/ui/dlq', summary: 'Dashboard fragment: dead letters (admin)' },
  { method: 'get', path: '/dlq/:id', summary: 'Dashboard: inspect, fix and replay, archive one dead letter (admin)' },
  {
    method: 'post',
    path: '/ui/dlq/:id/replay',
    summary: 'Dashboard action: replay, optionally with a corrected payload (admin)',
  },
  { method: 'post', path: '/ui/dlq/replay', summary: 'Dashboard action: replay a group (admin)' },
  { method: 'post', path: '/ui/dlq/:id/archive', summary: 'Dashboard action: archive with a note (admin)' },
  { method: 'get', path: '/login', summary: 'Dashboard: sign in with a token' },
  { method: 'post', path: '/login', summary: 'Dashboard: sign in (sets an HttpOnly cookie)' },
  { method: 'post', path: '/logout', summary: 'Dashboard: sign out' },
  { method: 'get', path: '/assets/:name', summary: 'Dashboard scripts and styles (htmx, uPlot, dashboard.js, dashboard.css)' },
];

/** Adds every dashboard page, fragment, action and asset. */
export function registerDashboard(app: Hono<ServerEnv>, deps: ServerDeps, auth: Authenticator, limiter: SignInLimiter): void {
  registerAssets(app);
  registerLogin(app, auth, limiter);
  registerOverview(app, deps);
  registerTopics(app, deps);
  registerSubscriptionsPage(app, deps);
  registerStatusPages(app, deps);
  registerEventPages(app, deps);
  registerTimelinePage(app, deps);
  registerDlqPages(app, deps);
}
