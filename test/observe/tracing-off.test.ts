/**
 * Tracing without an SDK: traceparents pass through unchanged, and `@opentelemetry/api` is not
 * even loaded (checked in a child process with a module-resolution hook).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type Envelope, createBus } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-tracing-off-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GIVEN = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('tracing without an SDK', () => {
  it('publishes without a traceparent, keeps a given one, and ctx.publish passes it on unchanged', async () => {
    const bus = await createBus({ path: join(dir, 'pass.db') });
    try {
      const caused: Envelope[] = [];
      const sub = await bus.subscribe({
        name: '/backend-architect',
        topic: 'project.tasks',
        filter: 'type=FeatureStarted',
        handler: async (_e, ctx) => {
          caused.push(await ctx.publish('APIDesignStarted', {}));
        },
      });
      const plain = await bus.publish({ topic: 'project.other', type: 'FeatureStarted' });
      expect(plain.event.traceparent).toBeUndefined();
      const traced = await bus.publish({ topic: 'project.tasks', type: 'FeatureStarted', traceparent: GIVEN });
      expect(traced.event.traceparent).toBe(GIVEN);
      for (let i = 0; i < 400 && caused.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      await sub.idle();
      expect(caused[0]?.event.traceparent).toBe(GIVEN);
    } finally {
      await bus.close();
    }
  });

  it('never loads @opentelemetry/api when no SDK registered', () => {
    const log = join(dir, 'resolved.log');
    writeFileSync(log, '');
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@opentelemetry/')) appendFileSync(${JSON.stringify(log)}, specifier + '\\n');
  return next(specifier, context);
}`,
    );
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const script = join(dir, 'run.mjs');
    const entry = pathToFileURL(join(process.cwd(), 'dist', 'index.js')).href;
    writeFileSync(
      script,
      `const { createBus } = await import(${JSON.stringify(entry)});
const bus = await createBus({ path: ${JSON.stringify(join(dir, 'lazy.db'))} });
let done;
const handled = new Promise((r) => (done = r));
await bus.subscribe({ name: '/x', topic: 'project.tasks', handler: async (e, ctx) => { await ctx.publish('Done', {}); done(); } });
await bus.publish({ topic: 'project.tasks', type: 'FeatureStarted', traceparent: ${JSON.stringify(GIVEN)} });
await handled;
await bus.close();
console.log('ok');`,
    );
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('ok');
    expect(readFileSync(log, 'utf8')).toBe('');
  });
});
