/**
 * `agentbus timers`: the durable timers not fired yet (delayed events, the timeouts of
 * aggregators, saga steps and approvals), earliest first; `agentbus timers cancel ID...`
 * cancels them, all or none. A workflow's timeout is kept unless `--force`.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { isTimerKey } from '../../bus/index.js';
import { invalidField } from '../../errors.js';
import { MAX_TIMER_LIMIT, type TimerInfo, cancelTimers, listTimers, timerJson } from '../../workflows/index.js';
import { globalOptions, withBus } from '../context.js';
import { note, printJson, writeLine } from '../output.js';
import { parsePositiveInt } from '../parse.js';
import { formatTable } from '../table.js';

/** `2099-01-01 09:00:00` (UTC): a timer's date matters as much as its time. */
function dueAt(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** The timers table: ID (what cancel takes) | Due At | Kind | Type | Topic | Correlation ID | Agent. */
export function formatTimersTable(timers: readonly TimerInfo[]): string {
  return formatTable(
    ['ID', 'Due At', 'Kind', 'Type', 'Topic', 'Correlation ID', 'Agent'],
    timers.map((t) => [
      t.key,
      dueAt(t.dueAt),
      t.kind.replace('_', ' '),
      t.envelope.event.type,
      t.envelope.routing.topic,
      t.envelope.event.correlation_id,
      t.envelope.event.source,
    ]),
  );
}

/** `--limit`: 1 to {@link MAX_TIMER_LIMIT}. */
function parseLimit(value: string): number {
  const limit = parsePositiveInt(value);
  if (limit > MAX_TIMER_LIMIT) throw new InvalidArgumentError(`Must be at most ${MAX_TIMER_LIMIT}.`);
  return limit;
}

async function listAction(flags: { limit?: number }, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  const { timers, more } = await withBus(
    target,
    (bus) => listTimers(bus, flags.limit === undefined ? {} : { limit: flags.limit }),
    { mustExist: true },
  );
  if (json) return printJson(timers.map(timerJson), true);
  if (timers.length === 0) return note('no pending timers');
  writeLine(formatTimersTable(timers));
  if (more) note(`showing the first ${timers.length} pending timer${timers.length === 1 ? '' : 's'}; more are pending (--limit)`);
}

/** The ids as given, refused (exit 2) before the database is opened when one is not a timer id or is repeated. */
function checkIds(ids: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (id.trim() === '') throw invalidField('OPTIONS_INVALID', 'ids', 'must not be empty');
    if (!isTimerKey(id)) {
      throw invalidField(
        'OPTIONS_INVALID',
        'ids',
        `${id} is not a timer id: give the ID column of agentbus timers (due time, "/", event id: 001764426600000/evt-...)`,
      );
    }
    if (seen.has(id)) throw invalidField('OPTIONS_INVALID', 'ids', `${id} is given twice`);
    seen.add(id);
  }
}

async function cancelAction(ids: string[], flags: { force?: boolean }, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  checkIds(ids);
  const cancelled = await withBus(
    target,
    (bus) => cancelTimers(bus, ids, { force: flags.force === true, forceHint: '--force' }),
    {
      mustExist: true,
    },
  );
  if (json) return printJson(cancelled.map(timerJson), true);
  writeLine(
    cancelled
      .map((t) => `cancelled ${t.key}: ${t.envelope.event.type} on ${t.envelope.routing.topic}, due ${dueAt(t.dueAt)}`)
      .join('\n'),
  );
}

/** Adds `timers` and its commands to `program`. */
export function registerTimers(program: Command): void {
  const timers = program
    .command('timers')
    .summary('pending durable timers (delayed events, workflow timeouts): list, cancel')
    .description(
      'Durable timers not fired yet: delayed events (publish --delay / --deliver-at) and the timeouts of aggregators, saga steps and approvals. A timer appends its event when due, by a process that runs subscriptions.',
    );
  timers
    .command('list', { isDefault: true })
    .description(
      'Table, earliest first: ID | Due At | Kind | Type | Topic | Correlation ID | Agent (the ID is what cancel takes)',
    )
    .option('--limit <n>', `at most this many, 1 to ${MAX_TIMER_LIMIT} (default 100)`, parseLimit)
    .action(listAction);
  timers
    .command('cancel')
    .description(
      'Cancel timers by ID: their events are never appended. All or none: an unknown id (fired or cancelled already) cancels nothing. The timeout of an aggregator, a saga step or an approval is kept unless --force.',
    )
    .argument('<ids...>', 'timer ids (the ID column of agentbus timers)')
    .option('--force', "also cancel a workflow's timeout (the instance then waits for ever)")
    .action(cancelAction);
}
