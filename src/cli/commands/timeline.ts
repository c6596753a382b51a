/**
 * `agentbus timeline CORRELATION_ID`: the seed's correlation table
 * (`| Time | Event | Agent | Correlation ID |`), or the causation tree with `--tree`, both with
 * retries, dead letters and compensations; `--json` prints entries and tree.
 */
import type { Command } from 'commander';
import { AgentbusError } from '../../errors.js';
import { timelineJson } from '../../observe/sources.js';
import { formatDelay } from '../../observe/text.js';
import { type CausationNode, type TimelineEntry, causationTree, isDeliveryEntry, timeline } from '../../observe/timeline.js';
import { globalOptions, withBus } from '../context.js';
import { formatTimeColumn, printJson, writeLine } from '../output.js';
import { formatTable } from '../table.js';

interface TimelineFlags {
  tree?: boolean;
}

/**
 * The Event column: the type, with what happened to it for failures and compensations; a
 * failed attempt reads like the seed's Retry Timeline (`attempt 2 failed (timeout), retried after 2s`),
 * and the attempt handled after them `attempt 3 handled`.
 */
export function describeEntry(e: TimelineEntry): string {
  const attempt = e.attempt === undefined ? '' : ` attempt ${e.attempt}`;
  switch (e.kind) {
    case 'compensation':
      return `${e.event} (compensation)`;
    case 'retry': {
      const then = e.delayMs === undefined ? 'retried' : `retried after ${formatDelay(e.delayMs)}`;
      // A stand-in for failures older than their attempts may not know the reason.
      return `${e.event}${attempt} failed${e.reason === undefined ? '' : ` (${e.reason})`}, ${then}`;
    }
    case 'dead_letter': {
      const retries = e.retries === 1 ? '1 retry' : `${e.retries ?? 0} retries`;
      const after = e.status === 'open' ? '' : e.replayedAs ? `, replayed as ${e.replayedAs}` : `, ${e.status}`;
      return `${e.event}${attempt === '' ? '' : `${attempt} failed`} → DLQ (${e.reason}, ${retries}${after})`;
    }
    case 'handled':
      return `${e.event}${attempt} handled`;
    default:
      return e.event;
  }
}

/** The seed's correlation table. Agent is the event's source, or the failing subscription. */
export function formatTimelineTable(entries: readonly TimelineEntry[]): string {
  const times = formatTimeColumn(entries.map((e) => e.time));
  return formatTable(
    ['Time', 'Event', 'Agent', 'Correlation ID'],
    entries.map((e, i) => [times[i] as string, describeEntry(e), e.agent, e.correlationId]),
  );
}

/**
 * The causation tree drawn with `├─ └─ │`: each event with its agent and time, failures of
 * its deliveries first, then the events it caused.
 */
export function formatCausationTree(roots: readonly CausationNode[]): string {
  const all: TimelineEntry[] = [];
  const gather = (n: CausationNode) => {
    all.push(n.entry, ...n.failures);
    n.children.forEach(gather);
  };
  roots.forEach(gather);
  const column = formatTimeColumn(all.map((e) => e.time));
  const times = new Map(all.map((e, i) => [e, column[i] as string]));
  const lines: string[] = [];
  const label = (e: TimelineEntry) =>
    isDeliveryEntry(e)
      ? `${e.kind === 'handled' ? '✔' : '✖'} ${describeEntry(e)} in ${e.agent}  ${times.get(e)}`
      : `${describeEntry(e)}  ${e.agent}  ${times.get(e)}`;
  const walk = (n: CausationNode, prefix: string, last: boolean, root: boolean) => {
    lines.push(root ? label(n.entry) : `${prefix}${last ? '└─ ' : '├─ '}${label(n.entry)}`);
    const inner = root ? '' : `${prefix}${last ? '   ' : '│  '}`;
    const kids: Array<{ failure?: TimelineEntry; node?: CausationNode }> = [
      ...n.failures.map((failure) => ({ failure })),
      ...n.children.map((node) => ({ node })),
    ];
    kids.forEach((k, i) => {
      const end = i === kids.length - 1;
      if (k.failure) lines.push(`${inner}${end ? '└─ ' : '├─ '}${label(k.failure)}`);
      else if (k.node) walk(k.node, inner, end, false);
    });
  };
  for (const r of roots) walk(r, '', true, true);
  return lines.join('\n');
}

async function timelineAction(correlationId: string, flags: TimelineFlags, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  if (correlationId.trim() === '') {
    throw new AgentbusError('OPTIONS_INVALID', 'CORRELATION_ID: must not be empty', {
      field: 'CORRELATION_ID',
      reason: 'must not be empty',
    });
  }
  const entries = await withBus(target, (bus) => timeline(bus.store, correlationId), { mustExist: true });
  if (entries.length === 0) {
    throw new AgentbusError('NOT_FOUND', `no events with correlation id ${correlationId}`, { correlationId });
  }
  if (json) return printJson(timelineJson(correlationId, entries), true);
  writeLine(flags.tree ? formatCausationTree(causationTree(entries)) : formatTimelineTable(entries));
}

/** Adds `timeline` to `program`. */
export function registerTimeline(program: Command): void {
  program
    .command('timeline')
    .argument('<correlation-id>', 'the correlation id (event.correlation_id)')
    .summary('show the events of one correlation id, as a table or a causation tree')
    .description(
      "Show every event of a correlation id in time order as the seed's table | Time | Event | Agent | Correlation ID | " +
        '(Agent is event.source), with each failed attempt of a subscription (its reason and the delay chosen), then its dead ' +
        'letter or the attempt handled at last, and compensations marked. --tree draws the causation tree instead. --json prints {correlation_id, entries, tree}.',
    )
    .option('--tree', 'draw the causation tree')
    .action(timelineAction);
}
