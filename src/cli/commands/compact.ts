/**
 * `agentbus compact`: gives the space of pruned events back to the file system (ADR 0025),
 * and says how big the store was before and after.
 */
import type { Command } from 'commander';
import type { CompactResult } from '../../store/retention.js';
import { globalOptions, withBus } from '../context.js';
import { note, printJson, writeLine } from '../output.js';
import { parsePositiveInt } from '../parse.js';
import { createProgressBar } from './progress-bar.js';

interface CompactFlags {
  stepPages?: number;
}

/** `12.3 MiB`, `1.2 GiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function resultJson(result: CompactResult) {
  return {
    method: result.method,
    bytes_before: result.bytesBefore,
    bytes_after: result.bytesAfter,
    steps: result.steps,
    longest_step_ms: Math.round(result.longestStepMs * 10) / 10,
    note: result.note ?? null,
  };
}

function describe(result: CompactResult): string {
  const sizes = `${formatBytes(result.bytesBefore)} -> ${formatBytes(result.bytesAfter)}`;
  const freed = Math.max(0, result.bytesBefore - result.bytesAfter);
  switch (result.method) {
    case 'none':
      return `nothing to compact (${formatBytes(result.bytesBefore)})`;
    case 'incremental':
      return `compacted: ${sizes} (${formatBytes(freed)} given back) in ${result.steps} steps, the longest ${result.longestStepMs.toFixed(1)} ms`;
    case 'vacuum':
      return `compacted by VACUUM: ${sizes} (${formatBytes(freed)} given back) in ${(result.longestStepMs / 1000).toFixed(1)} s`;
    case 'postgres-vacuum':
      return `vacuumed agentbus's tables: ${sizes}`;
  }
}

export function registerCompact(program: Command): void {
  program
    .command('compact')
    .description(
      "Give the space of pruned events back to the file system. SQLite: freed pages in small steps, beside other processes (a file created before incremental vacuum is rewritten once with VACUUM, which needs it alone). PostgreSQL: VACUUM of agentbus's tables.",
    )
    .option('--step-pages <n>', 'SQLite pages given back per transaction (default 256: 2 MiB)', parsePositiveInt)
    .action(async (flags: CompactFlags, command: Command) => {
      const { target, json } = globalOptions(command);
      const bar = json ? undefined : createProgressBar('compacting (MiB)');
      const result = await withBus(
        target,
        (bus) =>
          bus.compact({
            ...(flags.stepPages !== undefined ? { stepPages: flags.stepPages } : {}),
            ...(bar ? { onProgress: (p) => bar.update(mib(p.freedBytes), Math.max(1, mib(p.reclaimableBytes))) } : {}),
          }),
        { mustExist: true },
      );
      bar?.done();
      if (json) return printJson(resultJson(result), true);
      writeLine(describe(result));
      if (result.note) note(result.note);
    });
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);
