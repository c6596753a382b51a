/**
 * The agentbus HTTP application: middleware (logging, security headers, auth, body limit),
 * the API routes, the dashboard, and errors as problem details. Runs on any fetch-style
 * server; {@link startServer} binds it with @hono/node-server.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import type { Bus } from '../bus/index.js';
import { DEFAULT_BODY_LIMIT, type TokenConfig } from '../config/index.js';
import { type Authenticator, bearerToken, createAuthenticator, forbidden, unauthenticated } from './auth.js';
import { DASHBOARD_PAGES, registerDashboard } from './dashboard/index.js';
import { TOKEN_COOKIE, isPublicPath } from './dashboard/login.js';
import type { ServerDeps, ServerEnv } from './env.js';
import type { Integrations } from './integrations.js';
import { buildOpenApi } from './openapi.js';
import { problem, problemOf, problemResponse } from './problem.js';
import { registerDlqRoutes } from './routes/dlq.js';
import { registerEventRoutes } from './routes/events.js';
import { registerStatusRoutes } from './routes/status.js';
import { registerStreamRoute } from './routes/stream.js';
import { registerSubscriptionRoutes } from './routes/subscriptions.js';

/** Options of {@link createApp}. */
export interface AppOptions {
  readonly bus: Bus;
  /** Bearer tokens; once any is given, every route requires one. @default [] */
  readonly tokens?: readonly TokenConfig[];
  /** Largest request body in bytes; larger ones get 413 before more is read. @default 1048576 */
  readonly bodyLimit?: number;
  /** Interval of SSE heartbeat comments, ms. @default 15000 */
  readonly heartbeatMs?: number;
  /** An SSE client slower than this to accept one event is disconnected, ms. @default 30000 */
  readonly slowClientMs?: number;
  /** Receives one line per request and per server-side failure. @default no logging */
  readonly log?: (line: string) => void;
  /** Status sources of observe/, agents/ and workflows/. @default none */
  readonly integrations?: Integrations;
}

/** Methods that carry a body the limit applies to. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Builds the app.
 * @example
 * const app = createApp({ bus, tokens: config.server.tokens })
 * const response = await app.request('/healthz')
 */
export function createApp(options: AppOptions): Hono<ServerEnv> {
  const deps: ServerDeps = {
    bus: options.bus,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    slowClientMs: options.slowClientMs ?? 30_000,
    log: options.log ?? (() => {}),
    integrations: options.integrations ?? {},
  };
  const auth = createAuthenticator(options.tokens ?? []);
  const limit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = new Hono<ServerEnv>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const who = c.get('principal')?.name ?? '-';
    // The path only: query strings are the caller's and are kept out of logs.
    deps.log(`${c.req.method} ${c.req.path} ${c.res.status} ${Math.round(performance.now() - started)}ms ${who}`);
  });
  app.use(
    '*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
      referrerPolicy: 'no-referrer',
    }),
  );
  app.use('*', authenticate(auth));
  app.use('*', async (c, next) => {
    if (!WITH_BODY.has(c.req.method)) return next();
    return bodyLimit({
      maxSize: limit,
      onError: () =>
        problemResponse(
          problem(413, 'ENVELOPE_INVALID', `body: larger than the body limit of ${limit} bytes`, { field: 'body', limit }),
        ),
    })(c, next);
  });

  registerStreamRoute(app, deps);
  registerEventRoutes(app, deps);
  registerSubscriptionRoutes(app, deps);
  registerDlqRoutes(app, deps);
  registerStatusRoutes(app, deps);
  registerDashboard(app, deps, auth);
  app.get('/openapi.json', (c) => c.json(buildOpenApi(DASHBOARD_PAGES)));

  app.notFound((c) => problemResponse(problem(404, 'NOT_FOUND', `no route ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    // Hono's own refusals (a form body it cannot parse, ...) keep their status.
    const body =
      error instanceof HTTPException && error.status < 500
        ? problem(error.status, 'OPTIONS_INVALID', error.message || 'the request was refused')
        : problemOf(error);
    if (body.status >= 500 && body.status !== 501 && body.status !== 503) {
      deps.log(
        `error: ${c.req.method} ${c.req.path}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
    const headers: Record<string, string> = {};
    if (body.status === 401) headers['www-authenticate'] = 'Bearer realm="agentbus"';
    if (body.status === 429) headers['retry-after'] = '1';
    return problemResponse(body, headers);
  });
  return app;
}

/**
 * Sets the caller: a bearer token, or the dashboard's cookie. Cookie-authenticated writes
 * must come from this origin (a cross-site form cannot replay a DLQ entry).
 */
function authenticate(auth: Authenticator) {
  return async (c: import('hono').Context<ServerEnv>, next: () => Promise<void>) => {
    if (auth.enabled && isPublicPath(c.req.path)) return next();
    const header = bearerToken(c.req.header('authorization'));
    const cookie = header === undefined && auth.enabled ? getCookie(c, TOKEN_COOKIE) : undefined;
    const principal = auth.authenticate(header ?? cookie);
    if (!principal) {
      if (c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html')) {
        return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
      }
      throw unauthenticated();
    }
    if (cookie !== undefined && !SAFE.has(c.req.method) && !sameOrigin(c)) {
      throw forbidden(principal, 'write from another site (cookie credentials need a same-origin request)');
    }
    c.set('principal', principal);
    await next();
  };
}

function sameOrigin(c: import('hono').Context<ServerEnv>): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin';
  const origin = c.req.header('origin');
  return origin !== undefined && origin === new URL(c.req.url).origin;
}
