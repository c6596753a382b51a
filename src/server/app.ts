/**
 * The agentbus HTTP application: middleware (logging, security headers, auth, body limit),
 * the API routes, the dashboard, and errors as problem details. Runs on any fetch-style
 * server; {@link startServer} binds it with @hono/node-server.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { AgentbusError, invalidField } from '../errors.js';
import { secureHeaders } from 'hono/secure-headers';
import type { Bus } from '../bus/index.js';
import { DEFAULT_BODY_LIMIT, type TokenConfig } from '../config/index.js';
import { type Authenticator, bearerToken, createAuthenticator, forbidden, unauthenticated } from './auth.js';
import { DASHBOARD_PAGES, registerDashboard } from './dashboard/index.js';
import { TOKEN_COOKIE, isPublicPath } from './dashboard/login.js';
import { isLoopback } from './loopback.js';
import type { ServerDeps, ServerEnv } from './env.js';
import type { Integrations } from './integrations.js';
import { type WebhookTargetPolicy, createWebhookTargetPolicy } from './webhook-targets.js';
import { buildOpenApi } from './openapi.js';
import { problem, problemOf, problemResponse } from './problem.js';
import { registerDlqRoutes } from './routes/dlq.js';
import { registerEventRoutes } from './routes/events.js';
import { registerSagaRoutes } from './routes/sagas.js';
import { registerStatusRoutes } from './routes/status.js';
import { registerStreamRoute } from './routes/stream.js';
import { registerSubscriptionRoutes } from './routes/subscriptions.js';
import { registerTimerRoutes } from './routes/timers.js';
import { registerTopicRoutes } from './routes/topics.js';

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
  /**
   * Most live streams (`/v1/events/stream`) open at once, over every token: each one reads
   * the log on every append. One more is refused with 503 and `Retry-After`. @default 256
   */
  readonly maxStreams?: number;
  /**
   * Networks (CIDR) a webhook subscription created over HTTP may not target: its host, or an
   * address it resolves to when created, in one of them is refused. `[]` allows every address.
   * Shorthand for `webhookTargets: createWebhookTargetPolicy(webhookDeny)`; the calls are
   * checked by the webhook subscriptions' own policy (see `webhookTargets`).
   * @default DEFAULT_WEBHOOK_DENY: link-local (cloud metadata, 169.254.169.254) and kin
   */
  readonly webhookDeny?: readonly string[];
  /**
   * The policy webhook creations are checked with, instead of one built from `webhookDeny`
   * (give one or the other). Give the same policy to the webhook subscriptions
   * (`defaultIntegrations`' or `createWebhookSubscriptions`' options), which check every
   * call with it, so that what is refused at creation is refused on every call too.
   * @default createWebhookTargetPolicy(webhookDeny)
   */
  readonly webhookTargets?: WebhookTargetPolicy;
  /** Receives one line per request and per server-side failure. @default no logging */
  readonly log?: (line: string) => void;
  /** Status sources of observe/, agents/ and workflows/. @default none */
  readonly integrations?: Integrations;
}

/** Default {@link AppOptions.maxStreams}. */
export const DEFAULT_MAX_STREAMS = 256;

/** Methods that carry a body the limit applies to. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The creation policy of `options`. @throws AgentbusError `OPTIONS_INVALID` when both forms are given. */
function webhookTargetsOf(options: AppOptions): WebhookTargetPolicy {
  if (options.webhookTargets === undefined) return createWebhookTargetPolicy(options.webhookDeny);
  if (options.webhookDeny !== undefined) {
    throw invalidField('OPTIONS_INVALID', 'webhookTargets', 'give webhookDeny or webhookTargets, not both');
  }
  return options.webhookTargets;
}

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
    maxStreams: options.maxStreams ?? DEFAULT_MAX_STREAMS,
    webhookTargets: webhookTargetsOf(options),
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
      // As frame-ancestors 'none', for browsers that only know this header.
      xFrameOptions: 'DENY',
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
  registerTimerRoutes(app, deps);
  registerStatusRoutes(app, deps);
  registerTopicRoutes(app, deps);
  registerSagaRoutes(app, deps);
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
    if (body.status === 429 || body.code === 'BACKPRESSURE') headers['retry-after'] = '1';
    return problemResponse(body, headers);
  });
  return app;
}

/**
 * Sets the caller: a bearer token, or the dashboard's cookie. A write a browser could be
 * made to send from another site (carried by the cookie, by no credential at all when no
 * tokens are configured, or to sign in and out) must not come from another site: a
 * cross-site form or `no-cors` fetch cannot replay a dead letter or create a webhook. Without
 * tokens the server answers only requests addressed to a loopback name (`Host`), so a page
 * whose DNS name rebinds to 127.0.0.1 reads nothing.
 */
function authenticate(auth: Authenticator) {
  return async (c: import('hono').Context<ServerEnv>, next: () => Promise<void>) => {
    const unsafe = !SAFE.has(c.req.method);
    if (!auth.enabled && !loopbackHost(c.req.header('host'))) {
      throw new AgentbusError('UNAUTHORIZED', 'without tokens this server answers only requests to a loopback address', {
        status: 403,
      });
    }
    if (auth.enabled && isPublicPath(c.req.path)) {
      if (unsafe && crossSite(c)) throw new AgentbusError('UNAUTHORIZED', 'sign in and out from this site', { status: 403 });
      return next();
    }
    const header = bearerToken(c.req.header('authorization'));
    const cookie = header === undefined && auth.enabled ? getCookie(c, TOKEN_COOKIE) : undefined;
    const principal = auth.authenticate(header ?? cookie);
    if (!principal) {
      if (c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html')) {
        return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
      }
      throw unauthenticated();
    }
    if (cookie !== undefined && unsafe && !sameOrigin(c)) {
      throw forbidden(principal, 'write from another site (cookie credentials need a same-origin request)');
    }
    if (header === undefined && unsafe && crossSite(c)) throw forbidden(principal, 'write from another site');
    c.set('principal', principal);
    await next();
  };
}

/** True when the browser says the request comes from this origin. */
function sameOrigin(c: import('hono').Context<ServerEnv>): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin';
  const origin = c.req.header('origin');
  return origin !== undefined && origin === new URL(c.req.url).origin;
}

/**
 * True when a browser says the request comes from another site or origin. Clients that are
 * not browsers send neither header and are not refused by it.
 */
function crossSite(c: import('hono').Context<ServerEnv>): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = c.req.header('origin');
  return origin !== undefined && origin !== new URL(c.req.url).origin;
}

/** A `Host` header naming a loopback address (`localhost`, 127.0.0.0/8, `[::1]`), with any port. */
function loopbackHost(host: string | undefined): boolean {
  if (host === undefined) return true;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '');
  return isLoopback(name.toLowerCase());
}
