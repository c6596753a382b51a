/**
 * Signing in to the dashboard when tokens are configured: the token is posted once and kept
 * in an HttpOnly, SameSite=Strict cookie (browsers cannot add bearer headers to page loads).
 */
import type { Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import type { Authenticator } from '../auth.js';
import type { ServerEnv } from '../env.js';
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

function loginForm(next: string, failed: boolean) {
  return page(
    'Sign in',
    '',
    html`<form method="post" action="/login" class="toolbar">
  <input type="hidden" name="next" value="${next}">
  <label>Token <input type="password" name="token" autocomplete="current-password" required></label>
  <button class="primary" type="submit">Sign in</button>
</form>
${failed ? html`<p class="error">That token is not valid.</p>` : ''}`,
  );
}

/** Adds `/login` and `/logout`. */
export function registerLogin(app: Hono<ServerEnv>, auth: Authenticator): void {
  app.get('/login', (c) => c.html(loginForm(safeNext(c.req.query('next')), false)));
  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (!auth.enabled) return c.redirect(next, 303);
    if (!auth.authenticate(token)) return c.html(loginForm(next, true), 401);
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
