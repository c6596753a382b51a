/**
 * The dashboard's static files, served by the server itself (no CDN): htmx and uPlot from
 * their packages, and the dashboard's own script and styles. Read once, cached in memory,
 * served with a long cache lifetime and `nosniff`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Hono } from 'hono';
import type { ServerEnv } from '../env.js';
import { DASHBOARD_CSS } from './client-css.js';
import { DASHBOARD_JS } from './client-js.js';

const require = createRequire(import.meta.url);

interface Asset {
  readonly type: string;
  readonly load: () => string;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

const ASSETS: Record<string, Asset> = {
  'htmx.min.js': { type: JS, load: () => readFileSync(require.resolve('htmx.org/dist/htmx.min.js'), 'utf8') },
  'uplot.min.js': { type: JS, load: () => readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8') },
  'uplot.min.css': { type: CSS, load: () => readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8') },
  'dashboard.js': { type: JS, load: () => DASHBOARD_JS },
  'dashboard.css': { type: CSS, load: () => DASHBOARD_CSS },
};

/** Paths of the assets, for the page layout. */
export const ASSET_NAMES = Object.keys(ASSETS);

/** Adds `GET /assets/:name`. */
export function registerAssets(app: Hono<ServerEnv>): void {
  const cache = new Map<string, string>();
  app.get('/assets/:name', (c) => {
    const name = c.req.param('name');
    const asset = ASSETS[name];
    if (!asset) return c.notFound();
    let body = cache.get(name);
    if (body === undefined) {
      body = asset.load();
      cache.set(name, body);
    }
    return c.body(body, 200, { 'content-type': asset.type, 'cache-control': 'public, max-age=3600' });
  });
}
