/**
 * `agentbus prune`: deletes the log's oldest events now, by `--max-age` and `--max-events`
 * (or the config file's `retention`), never what a subscription, dead letter, stream,
 * projection or the outbox still needs (ADR 0018).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { invalidField } from '../../errors.js';
import type { PruneResult } from '../../store/retention.js';
import { MAX_DURATION_MS, parseDuration } from '../../time.js';
import { globalOptions, withBus } from '../context.js';
import { note, printJson, writeLine } from '../output.js';
import { parsePositiveInt } from '../parse.js';
import { createProgressBar } from './progress-bar.js';

interface PruneFlags {
  maxAge?: number;
  maxEvents?: number;
  dryRun?: boolean;
}

/** `--max-age`: a duration with a unit (`30d`, `12h`, `90m`). */
function parseMaxAge(value: string): number {
  const ms = /[a-z]$/.test(value.trim()) ? parseDuration(value, MAX_DURATION_MS) : undefined;
  if (typeof ms !== 'number' || ms <= 0) {
    throw new InvalidArgumentError('Must be a duration above zero with a unit (30d, 12h, 90m).');
  }
  return ms;
}

/** The result as `--json` prints it. */
function resultJson(result: PruneResult) {
  return {
    pruned: result.pruned,
    first_retained: result.firstRetained,
    head: result.head,
    dry_run: result.dryRun,
    held_by: result.heldBy ?? null,
    batches: result.batches,
    longest_batch_ms: Math.round(result.longestBatchMs * 10) / 10,
    ...(result.busy ? { busy: true } : {}),
  };
}

function describe(result: PruneResult): string {
  const verb = result.dryRun ? 'would prune' : 'pruned';
  const lines = [`${verb} ${result.pruned} event${result.pruned === 1 ? '' : 's'}; history from #${result.firstRetained}`];
  const hold = result.heldBy;
  if (hold) {
    const what = hold.kind === 'outbox' ? 'the outbox' : `${hold.kind} ${hold.name}${hold.paused ? ' (paused)' : ''}`;
    lines.push(`held back at #${hold.seq} by ${what}: it has not settled the events from there on`);
  }
  if (result.busy) lines.push('another process was pruning this store: it carries on');
  return lines.join('\n');
}

export function registerPrune(program: Command): void {
  program
    .command('prune')
    .description(
      "Delete the log's oldest events now: older than --max-age, or beyond the newest --max-events (default: the config file's retention). Never deletes what a subscription has not settled, events of dead letters and streams, or what a projection or the outbox needs.",
    )
    .option('--max-age <duration>', 'prune events stored longer ago than this (30d, 12h)', parseMaxAge)
    .option('--max-events <n>', 'keep the newest n positions', parsePositiveInt)
    .option('--dry-run', 'count what would be pruned; delete nothing')
    .action(async (flags: PruneFlags, command: Command) => {
      const { target, json } = globalOptions(command);
      const limits = {
        ...(flags.maxAge !== undefined ? { maxAge: flags.maxAge } : {}),
        ...(flags.maxEvents !== undefined ? { maxEvents: flags.maxEvents } : {}),
      };
      // The bar goes by positions: from the log start to where the prune stops.
      const bar = json ? undefined : createProgressBar(flags.dryRun ? 'counting' : 'pruning');
      let first: number | undefined;
      const result = await withBus(
        target,
        (bus) => {
          if (flags.maxAge === undefined && flags.maxEvents === undefined && !bus.retentionPolicy) {
            throw invalidField(
              'OPTIONS_INVALID',
              '--max-age',
              'give --max-age or --max-events (or a retention section in --config)',
            );
          }
          return bus.prune({
            ...limits,
            dryRun: flags.dryRun === true,
            ...(bar
              ? {
                  onProgress: (p) => {
                    first ??= p.logStart;
                    bar.update(p.logStart - first, Math.max(1, p.target - first));
                  },
                }
              : {}),
          });
        },
        { mustExist: true },
      );
      bar?.done();
      if (json) return printJson(resultJson(result), true);
      writeLine(describe(result));
      if (result.pruned === 0 && !result.heldBy && !result.busy) note('nothing is old enough to prune');
    });
}
