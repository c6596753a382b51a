/**
 * `agentbus projections list | rebuild NAME | delete NAME`: projections with their lag,
 * rebuilding one from history, forgetting a retired one.
 *
 * Projections are defined in code, so `rebuild` either loads them from a module (`--module
 * file.mjs`, whose exports include `defineProjection` results) and rebuilds here with a
 * progress bar, or, without a module, resets the projection so that the process running it
 * rebuilds it live (`--wait` follows that with the same bar).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import type { AgentBus } from '../../agentbus.js';
import { type Projection, type ProjectionInfo, isProjection } from '../../cqrs/index.js';
import { validateProjectionName } from '../../cqrs/projection.js';
import { AgentbusError, invalidField } from '../../errors.js';
import { parseTimeout } from '../../cqrs/command-bus.js';
import { globalOptions, withBus } from '../context.js';
import { formatTimeColumn, note, printJson, writeLine } from '../output.js';
import { formatTable } from '../table.js';
import { createProgressBar } from './progress-bar.js';

/** A projection as the CLI prints it in JSON. */
export interface ProjectionJson {
  readonly name: string;
  readonly topics: readonly string[];
  readonly position: number;
  readonly head: number;
  readonly lag: number;
  readonly applied: number;
  readonly updated_at: string;
  readonly rebuilt_at: string | null;
  readonly error: { seq: number; message: string } | null;
}

function projectionJson(info: ProjectionInfo): ProjectionJson {
  return {
    name: info.name,
    topics: info.topics,
    position: info.position,
    head: info.head,
    lag: info.lag,
    applied: info.applied,
    updated_at: new Date(info.updatedAt).toISOString(),
    rebuilt_at: info.rebuiltAt === undefined ? null : new Date(info.rebuiltAt).toISOString(),
    error: info.error ?? null,
  };
}

async function listAction(_flags: object, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  const infos = await withBus(target, (bus) => bus.projections.list(), { mustExist: true });
  if (json) return printJson(infos.map(projectionJson), true);
  if (infos.length === 0) return note('no projections');
  // Times as the other tables print them: the clock, with the day when they span several.
  const updated = formatTimeColumn(infos.map((i) => new Date(i.updatedAt).toISOString()));
  const rows = infos.map((i, n) =>
    [i.name, i.topics.join(', '), i.position, i.lag, i.applied, updated[n], i.error?.message ?? '-'].map(String),
  );
  writeLine(formatTable(['Projection', 'Topics', 'Position', 'Lag', 'Applied', 'Updated', 'Error'], rows));
}

/** The projections a module exports (directly, or in an exported array). */
export async function projectionsOfModule(file: string): Promise<Projection[]> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new AgentbusError('OPTIONS_INVALID', `--module: cannot load ${file}: ${(error as Error).message}`, {
      field: '--module',
      reason: 'cannot be loaded',
    });
  }
  const found: Projection[] = [];
  for (const value of Object.values(mod)) {
    for (const candidate of Array.isArray(value) ? value : [value]) if (isProjection(candidate)) found.push(candidate);
  }
  return found;
}

interface RebuildFlags {
  module?: string;
  wait?: boolean;
  timeout: string;
}

async function rebuildAction(name: string, flags: RebuildFlags, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  validateProjectionName(name, 'NAME');
  const timeoutMs = parseTimeout(flags.timeout, 60_000, '--timeout');
  let definition: Projection | undefined;
  if (flags.module !== undefined) {
    const found = await projectionsOfModule(flags.module);
    if (found.length === 0) {
      throw invalidField(
        'OPTIONS_INVALID',
        '--module',
        `${flags.module} exports no projection (export defineProjection results)`,
      );
    }
    definition = found.find((p) => p.name === name);
    if (!definition) {
      throw new AgentbusError(
        'NOT_FOUND',
        `--module: ${flags.module} exports no projection named ${name} (it exports: ${found.map((p) => p.name).join(', ') || 'none'})`,
        { field: '--module', projection: name },
      );
    }
  }
  const bar = createProgressBar(`rebuilding ${name}`);
  const result = await withBus(
    target,
    async (bus) => {
      if (definition) {
        const rebuilt = await bus.projections.rebuild(definition, { onProgress: (p, h) => bar.update(p, h) });
        return { position: rebuilt.position, applied: rebuilt.applied, mode: 'rebuilt' as const };
      }
      const head = await bus.store.head();
      await bus.projections.reset(name);
      if (!flags.wait) return { position: 0, applied: 0, mode: 'reset' as const };
      return { ...(await followRebuild(bus, name, head, timeoutMs, (p) => bar.update(p, head))), mode: 'rebuilt' as const };
    },
    { mustExist: true },
  );
  bar.done();
  if (json) return printJson({ name, ...result }, true);
  if (result.mode === 'reset') {
    writeLine(`reset ${name}: the process running it rebuilds it from the start (see: agentbus projections list)`);
  } else {
    writeLine(
      `rebuilt ${name} from history: position ${result.position}, ${result.applied} ${result.applied === 1 ? 'event' : 'events'} applied`,
    );
  }
}

/** Follows a live rebuild (by another process) until it reaches `head`. */
async function followRebuild(
  bus: AgentBus,
  name: string,
  head: number,
  timeoutMs: number,
  progress: (position: number) => void,
): Promise<{ position: number; applied: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await bus.projections.get(name);
    progress(Math.min(info?.position ?? 0, head));
    if (info && info.position >= head) return { position: info.position, applied: info.applied };
    if (Date.now() > deadline) {
      throw new AgentbusError(
        'TIMEOUT',
        `projection ${name} was reset but reached position ${info?.position ?? 0} of ${head} within ${timeoutMs} ms: is a process running it?`,
        { projection: name, position: info?.position ?? 0, head },
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Adds `projections` and its commands to `program`. */
export function registerProjections(program: Command): void {
  const projections = program.command('projections').summary('list projections with their lag, rebuild or delete one');
  projections
    .command('list')
    .description('List projections: topics, position, lag (head - position), events applied, last error.')
    .action(listAction);
  projections
    .command('rebuild')
    .description(
      'Rebuild a projection from history. With --module, loads the projections the module exports and rebuilds ' +
        'NAME here, with a progress bar. Without it, resets NAME (checkpoint 0, read model removed) so the process ' +
        'running it rebuilds it live; --wait follows that rebuild.',
    )
    .argument('<NAME>', 'projection name')
    .option('--module <file>', 'JavaScript module exporting the projection (defineProjection results)')
    .option('--wait', 'without --module: wait until the running process has rebuilt it')
    .option('--timeout <duration>', 'with --wait: how long to wait', '60s')
    .action(rebuildAction);
  projections
    .command('delete')
    .description(
      'Forget a projection that no process runs any more: its checkpoint and read model are deleted, so it no longer ' +
        'holds retention back. A process still running it starts it again from the beginning.',
    )
    .argument('<NAME>', 'projection name')
    .action(deleteAction);
}

async function deleteAction(name: string, _flags: object, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  const projection = validateProjectionName(name, 'NAME');
  await withBus(target, (bus) => bus.projections.delete(projection), { mustExist: true });
  if (json) return printJson({ deleted: projection }, true);
  writeLine(`deleted projection ${projection}: its checkpoint and read model are gone`);
}
