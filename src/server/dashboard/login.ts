/**
 * Signing in to the dashboard when tokens are configured: the token is posted once and kept
 * in an HttpOnly, SameSite=Strict cookie (browsers cannot add bearer headers to page loads).
 */
import type { Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { Authenticator } from '../auth.js';
import { lockedOut } from '../client.js';
import type { ServerEnv } from '../env.js';
import type { SignInLimiter } from '../sign-in-limit.js';
import { page } from './layout.js';

/** The cookie that carries the dashboard's token. */
export const TOKEN_COOKIE = 'agentbus_token';

/** Paths served without a token: the sign-in page and the static assets. */
export function isPublicPath(path: string): boolean {
  return path === '/login' || path === '/logout' || path.startsWith('/assets/');
}

/**
 * Only a local path is a place to go back to (never `//host` or a URL). Browsers drop tabs
 * and line breaks from a URL and read `\` as `/`, so `/<tab>/evil.example` would leave the
 * site: a path of printable ASCII without a backslash is the only one taken.
 */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/(?!\/)[\x21-\x5b\x5d-\x7e]*$/.test(value) ? value : '/';
}

/** Why the form is shown again: a token that is not valid, or too many of them. */
type Refusal = { readonly kind: 'invalid' } | { readonly kind: 'locked'; readonly seconds: number };

function refusalText(refusal: Refusal | undefined) {
  if (refusal === undefined) return '';
  if (refusal.kind === 'invalid') return html`<p class="error">That token is not valid.</p>`;
  return html`<p class="error">Too many failed sign-ins from this address. Try again in ${String(refusal.seconds)} s.</p>`;
}

function loginForm(next: string, refusal?: Refusal) {
  return page(
    'Sign in',
    '',
    html`<form method="post" action="/login" class="toolbar">
  <input type="hidden" name="next" value="${next}">
  <label>Token <input type="password" name="token" autocomplete="current-password" required></label>
  <button class="primary" type="submit">Sign in</button>
</form>
${refusalText(refusal)}`,
  );
}

/**
 * Adds `/login` and `/logout`. A wrong token counts as a failed sign-in of the client's
 * address; a locked-out address gets the form with 429 and `Retry-After`, its token unread.
 */
export function registerLogin(app: Hono<ServerEnv>, auth: Authenticator, limiter: SignInLimiter): void {
  app.get('/login', (c) => c.html(loginForm(safeNext(c.req.query('next')))));
  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (!auth.enabled) return c.redirect(next, 303);
    const client = c.get('client');
    const locked = lockedOut(limiter, client);
    if (locked) {
      const seconds = locked.details.retry_after as number;
      c.header('retry-after', String(seconds));
      return c.html(loginForm(next, { kind: 'locked', seconds }), 429);
    }
    if (!auth.authenticate(token)) {
      if (token !== '') limiter.failed(client);
      return c.html(loginForm(next, { kind: 'invalid' }), 401);
    }
    setCookie(c, TOKEN_COOKIE, token, {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
      secure: new URL(c.req.url).protocol === 'https:',
    });
    return c.redirect(next, 303);
  });
  app.post('/logout', (c) => {
    deleteCookie(c, TOKEN_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });
}
