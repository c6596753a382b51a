/**
 * The agentbus HTTP application: middleware (logging, security headers, auth, body limit),
 * the API routes, the dashboard, and errors as problem details. Runs on any fetch-style
 * server; {@link startServer} binds it with @hono/node-server.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { AgentbusError, invalidField } from '../errors.js';
import { secureHeaders } from 'hono/secure-headers';
import type { Bus } from '../bus/index.js';
import { DEFAULT_BODY_LIMIT, type TokenConfig } from '../config/index.js';
import { type Authenticator, bearerToken, createAuthenticator, forbidden, unauthenticated } from './auth.js';
import { clientOf, lockedOut } from './client.js';
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
import { type SignInLimitOptions, type SignInLimiter, createSignInLimiter } from './sign-in-limit.js';
import type { Clock } from '../time.js';

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
   * Most live streams one token holds at once (with tokens configured): one more is refused
   * with 429, so one token cannot take every stream. @default 64
   */
  readonly maxStreamsPerToken?: number;
  /**
   * Most live streams from one client address (IPv6: one /64) at once: one more is refused
   * with 429. @default 32
   */
  readonly maxStreamsPerAddress?: number;
  /**
   * Failed sign-ins (bearer tokens, the dashboard's cookie and sign-in form) allowed per client
   * address before it is locked out with 429 and `Retry-After`. Applies once tokens are
   * configured. @default DEFAULT_SIGN_IN_LIMIT: 10 failures within 1 minute lock out for 5 minutes
   */
  readonly signInLimit?: SignInLimitOptions;
  /**
   * Behind a reverse proxy: the header whose last entry is the client's address (e.g.
   * `x-forwarded-for`), for the sign-in and stream limits. Only when the proxy always sets
   * it: anyone reaching the server directly could name any address. @default the socket's address
   */
  readonly clientAddressHeader?: string;
  /** The clock of the sign-in limit's window and lockout. @default the system clock */
  readonly clock?: Clock;
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
/** Default {@link AppOptions.maxStreamsPerToken}. */
export const DEFAULT_MAX_STREAMS_PER_TOKEN = 64;
/** Default {@link AppOptions.maxStreamsPerAddress}. */
export const DEFAULT_MAX_STREAMS_PER_ADDRESS = 32;

const SYSTEM_CLOCK: Clock = { now: () => Date.now() };

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
    maxStreamsPerToken: options.maxStreamsPerToken ?? DEFAULT_MAX_STREAMS_PER_TOKEN,
    maxStreamsPerAddress: options.maxStreamsPerAddress ?? DEFAULT_MAX_STREAMS_PER_ADDRESS,
    webhookTargets: webhookTargetsOf(options),
    log: options.log ?? (() => {}),
    integrations: options.integrations ?? {},
  };
  const auth = createAuthenticator(options.tokens ?? []);
  const limiter = createSignInLimiter(options.signInLimit ?? {}, options.clock ?? SYSTEM_CLOCK);
  const clientHeader = options.clientAddressHeader?.toLowerCase();
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
  app.use('*', async (c, next) => {
    c.set('client', clientOf(c, clientHeader));
    await next();
  });
  app.use('*', authenticate(auth, limiter));
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
  registerDashboard(app, deps, auth, limiter);
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
    if (body.status === 429 || body.code === 'BACKPRESSURE') {
      headers['retry-after'] = typeof body.retry_after === 'number' ? String(body.retry_after) : '1';
    }
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
function authenticate(auth: Authenticator, limiter: SignInLimiter) {
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
    const presented = header ?? cookie;
    const guessing = auth.enabled && presented !== undefined && presented !== '';
    // A locked-out client is refused before its token is looked at: a different answer for
    // a right token would let the guessing go on.
    const locked = guessing ? lockedOut(limiter, c.get('client')) : undefined;
    if (locked) throw locked;
    const principal = auth.authenticate(presented);
    if (!principal) {
      if (guessing) limiter.failed(c.get('client'));
      // A cookie that holds no valid token (a token rotated away) is dropped, so an open
      // dashboard tab stops sending it and does not lock its address out.
      if (cookie !== undefined) deleteCookie(c, TOKEN_COOKIE, { path: '/' });
      if (c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html')) {
        return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
      }
      if (cookie !== undefined) {
        return problemResponse(problemOf(unauthenticated()), {
          'www-authenticate': 'Bearer realm="agentbus"',
          'set-cookie': `${TOKEN_COOKIE}=; Max-Age=0; Path=/`,
        });
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
