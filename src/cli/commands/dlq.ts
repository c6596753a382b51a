/**
 * `agentbus dlq`: the dead-letter queue, worked the seed's way: investigate (list, group,
 * show), fix and replay, archive with a note, purge.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type DeadLetterGroup, deadLetterAction } from '../../bus/index.js';
import type { JsonValue } from '../../envelope/index.js';
import { AgentbusError, invalidField } from '../../errors.js';
import { ATTEMPTS_KEPT, type DeadLetter } from '../../store/event-store.js';
import { formatDelay } from '../../observe/text.js';
import { globalOptions, withBus } from '../context.js';
import { note, printJson, writeLine } from '../output.js';
import { parseCorrelationId, parseJsonValue, parseNonEmpty, parsePositiveInt } from '../parse.js';
import { formatTable } from '../table.js';
import { createProgressBar } from './progress-bar.js';

const STATUSES = ['open', 'replayed', 'archived'] as const;

/** A dead letter as the CLI prints it in JSON, snake_case like the wire. */
function deadLetterJson(d: DeadLetter) {
  return {
    id: d.id,
    subscription: d.consumer,
    event_id: d.event.envelope.event.id,
    type: d.event.envelope.event.type,
    correlation_id: d.event.envelope.event.correlation_id,
    reason: d.reason,
    error: d.error,
    retries: d.retries,
    first_failed_at: new Date(d.firstFailedAt).toISOString(),
    last_failed_at: new Date(d.lastFailedAt).toISOString(),
    status: d.status,
    ...(d.note ? { note: d.note } : {}),
    ...(d.replayedAs ? { replayed_as: d.replayedAs } : {}),
  };
}

/** A dead letter's failed attempts as JSON (`dlq show --json`), like `GET /v1/dlq/{id}`. */
function attemptsJson(d: DeadLetter) {
  return d.attempts.map((a) => ({
    attempt: a.attempt,
    at: new Date(a.at).toISOString(),
    reason: a.reason,
    error: a.error,
    ...(a.delayMs !== undefined ? { delay_ms: a.delayMs } : {}),
  }));
}

/**
 * The Attempts table of `dlq show`: # | At | Reason | Error | Then, one row per failed attempt
 * (the seed's Retry Timeline), with a line saying when earlier ones are not kept or none were.
 */
export function formatAttempts(d: DeadLetter): string[] {
  if (d.attempts.length === 0) return ['Attempts:       not recorded (the dead letter is older than attempt history)'];
  const rows = d.attempts.map((a, i) => [
    String(a.attempt),
    new Date(a.at).toISOString().replace('T', ' ').slice(0, 23),
    a.reason,
    shorten(a.error),
    a.delayMs !== undefined ? `retried after ${formatDelay(a.delayMs)}` : i === d.attempts.length - 1 ? '→ DLQ' : 'retried',
  ]);
  const earlier = (d.attempts[0]?.at ?? 0) > d.firstFailedAt;
  return [
    'Attempts:',
    formatTable(['#', 'At', 'Reason', 'Error', 'Then'], rows),
    ...(earlier ? [`(earlier attempts not kept: a dead letter keeps its last ${ATTEMPTS_KEPT})`] : []),
  ];
}

function shorten(text: string, max = 60): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The seed's DLQ table, with the dead letter's number (for replay) and subscription. */
export function formatDeadLetterTable(letters: readonly DeadLetter[]): string {
  return formatTable(
    ['#', 'Event ID', 'Type', 'Subscription', 'Failure Reason', 'Retries', 'Action'],
    letters.map((d) => [
      String(d.id),
      d.event.envelope.event.id,
      d.event.envelope.event.type,
      d.consumer,
      shorten(`${d.reason}: ${d.error}`),
      String(d.retries),
      deadLetterAction(d),
    ]),
  );
}

function formatGroups(groups: readonly DeadLetterGroup[]): string {
  return formatTable(
    ['Fingerprint', 'Subscription', 'Failure Reason', 'Count', 'Last Failure', 'Dead Letters'],
    groups.map((g) => [
      g.fingerprint,
      g.subscription,
      shorten(`${g.reason}: ${g.message}`, 50),
      String(g.count),
      new Date(g.lastFailedAt).toISOString().replace('T', ' ').slice(0, 19),
      g.ids.length > 6 ? `${g.ids.slice(0, 6).join(',')},…` : g.ids.join(','),
    ]),
  );
}

function parseId(value: string): number {
  return parsePositiveInt(value);
}

function parseStatus(value: string): (typeof STATUSES)[number] | 'all' {
  if (value === 'all' || (STATUSES as readonly string[]).includes(value)) return value as (typeof STATUSES)[number] | 'all';
  throw new InvalidArgumentError('Must be open, replayed, archived or all.');
}

/** The flags of `dlq list`. */
interface ListFlags {
  subscription?: string;
  status: string;
  correlationId?: string;
  group?: boolean;
  limit?: number;
}

/** Adds `dlq` and its commands to `program`. */
export function registerDlq(program: Command): void {
  const dlq = program
    .command('dlq')
    .summary('dead-letter queue: list, show, replay, archive, purge')
    .description('The dead-letter queue: deliveries that failed after their last retry or with a non-retryable error.');

  dlq
    .command('list')
    .description('Table: # | Event ID | Type | Subscription | Failure Reason | Retries | Action')
    .option('--subscription <name>', 'only this subscription', parseNonEmpty)
    .addOption(new Option('--status <status>', 'open, replayed, archived or all').default('open').argParser(parseStatus))
    .option('--correlation-id <id>', "only dead letters of this correlation's events", parseCorrelationId)
    .option('--group', 'group open dead letters by error fingerprint')
    .option('--limit <n>', 'at most this many', parsePositiveInt)
    .action(async (flags: ListFlags, command: Command) => {
      const { target, json } = globalOptions(command);
      if (flags.group && flags.correlationId !== undefined) {
        throw invalidField(
          'OPTIONS_INVALID',
          '--correlation-id',
          'lists one flow; --group groups the whole queue: give one of them',
        );
      }
      if (flags.group) {
        const groups = await withBus(
          target,
          (bus) => bus.deadLetters.groups(flags.subscription ? { subscription: flags.subscription } : {}),
          { mustExist: true },
        );
        if (json) return printJson(groups, true);
        if (groups.length === 0) return note('no open dead letters');
        return writeLine(formatGroups(groups));
      }
      const letters = await withBus(
        target,
        (bus) =>
          bus.deadLetters.list({
            ...(flags.subscription ? { subscription: flags.subscription } : {}),
            ...(flags.status !== 'all' ? { status: flags.status as DeadLetter['status'] } : {}),
            ...(flags.correlationId !== undefined ? { correlationId: flags.correlationId } : {}),
            ...(flags.limit ? { limit: flags.limit } : {}),
          }),
        { mustExist: true },
      );
      if (json) return printJson(letters.map(deadLetterJson), true);
      if (letters.length === 0) return note(flags.status === 'open' ? 'no open dead letters' : 'no dead letters');
      writeLine(formatDeadLetterTable(letters));
    });

  dlq
    .command('show')
    .description(
      'Everything about one dead letter: failure, each failed attempt (# | At | Reason | Error | Then), error stack, and the event',
    )
    .argument('<id>', 'dead-letter number (the # column of dlq list)', parseId)
    .action(async (id: number, _flags: object, command: Command) => {
      const { target, json } = globalOptions(command);
      const letter = await withBus(target, (bus) => bus.deadLetters.get(id), { mustExist: true });
      if (!letter) throw notFound(id);
      if (json)
        return printJson(
          {
            ...deadLetterJson(letter),
            stack: letter.stack ?? null,
            attempts: attemptsJson(letter),
            envelope: letter.event.envelope,
          },
          true,
        );
      const j = deadLetterJson(letter);
      const lines = [
        `## Dead letter ${letter.id}`,
        '',
        `Subscription:   ${j.subscription}`,
        `Event:          ${j.event_id} (${j.type})`,
        `Status:         ${j.status}${letter.note ? ` — ${letter.note}` : ''}${letter.replayedAs ? ` as ${letter.replayedAs}` : ''}`,
        `Failure reason: ${j.reason}`,
        `Retries:        ${j.retries}`,
        `First failure:  ${j.first_failed_at}`,
        `Last failure:   ${j.last_failed_at}`,
        `Action:         ${deadLetterAction(letter)}`,
        '',
        ...formatAttempts(letter),
        '',
        'Error:',
        `  ${letter.error}`,
        ...(letter.stack ? ['', 'Stack:', ...letter.stack.split('\n').map((l) => `  ${l}`)] : []),
        '',
        'Event:',
        JSON.stringify(letter.event.envelope, null, 2),
      ];
      writeLine(lines.join('\n'));
    });

  dlq
    .command('replay')
    .description(
      'Redeliver dead letters to their subscription only. With --payload, publish a corrected copy (caused by the dead event) instead: "fix and replay". Resumable: run it again after a crash.',
    )
    .argument('[ids...]', 'dead-letter numbers')
    .option('--all', 'every open dead letter (of --subscription)')
    .option('--subscription <name>', 'with --all: only this subscription', parseNonEmpty)
    .option('--payload <json>', 'corrected payload for the replayed copy', parseJsonValue)
    .action(async (ids: string[], flags: { all?: boolean; subscription?: string; payload?: JsonValue }, command: Command) => {
      const { target, json } = globalOptions(command);
      if (ids.length > 0 && flags.all)
        throw invalidField('OPTIONS_INVALID', 'ids', 'give dead-letter numbers or --all, not both');
      if (ids.length === 0 && !flags.all) throw invalidField('OPTIONS_INVALID', 'ids', 'give dead-letter numbers, or --all');
      const selection = flags.all
        ? { all: true as const, ...(flags.subscription ? { subscription: flags.subscription } : {}) }
        : ids.map((id) => {
            if (!/^\d+$/.test(id) || Number(id) < 1)
              throw invalidField('OPTIONS_INVALID', 'ids', `${id} is not a dead-letter number`);
            return Number(id);
          });
      const bar = (flags.all || ids.length > 1) && !json ? createProgressBar('replaying') : undefined;
      const replayed = await withBus(
        target,
        (bus) =>
          bus.deadLetters.replay(selection, {
            ...(flags.payload !== undefined ? { payload: flags.payload } : {}),
            ...(bar ? { onProgress: (done, total) => bar.update(done, total) } : {}),
            skipReplayed: true,
          }),
        { mustExist: true },
      ).finally(() => bar?.done());
      if (json) return printJson(replayed.map(deadLetterJson), true);
      // Given ids replayed before (say, by a run that crashed half-way) are left out.
      const now = new Set(replayed.map((d) => d.id));
      const skipped = Array.isArray(selection) ? selection.filter((id) => !now.has(id)) : [];
      if (skipped.length > 0) note(`already replayed, left out: ${skipped.join(', ')}`);
      if (replayed.length === 0) return skipped.length > 0 ? undefined : note('nothing to replay: no open dead letters matched');
      writeLine(
        replayed
          .map(
            (d) =>
              `replayed ${d.id} (${d.event.envelope.event.type}) to ${d.consumer}${d.replayedAs ? ` as ${d.replayedAs}` : ''}`,
          )
          .join('\n'),
      );
    });

  dlq
    .command('archive')
    .description('Archive a dead letter that will not be replayed, with a note saying why')
    .argument('<id>', 'dead-letter number', parseId)
    .requiredOption('--note <text>', 'why it is archived')
    .action(async (id: number, flags: { note: string }, command: Command) => {
      const { target, json } = globalOptions(command);
      const letter = await withBus(target, (bus) => bus.deadLetters.archive(id, flags.note), { mustExist: true });
      if (json) return printJson(deadLetterJson(letter), true);
      writeLine(`archived ${letter.id}: ${flags.note}`);
    });

  dlq
    .command('purge')
    .description('Delete resolved (replayed and archived) dead letters, or those of --status')
    .option('--subscription <name>', 'only this subscription', parseNonEmpty)
    .addOption(
      new Option('--status <status>', 'open, replayed, archived or all (default: replayed and archived)').argParser(parseStatus),
    )
    .action(async (flags: { subscription?: string; status?: DeadLetter['status'] | 'all' }, command: Command) => {
      const { target, json } = globalOptions(command);
      const count = await withBus(
        target,
        (bus) =>
          bus.deadLetters.purge({
            ...(flags.subscription ? { subscription: flags.subscription } : {}),
            ...(flags.status ? { status: flags.status } : {}),
          }),
        { mustExist: true },
      );
      if (json) return printJson({ purged: count }, true);
      writeLine(`purged ${count} dead letter${count === 1 ? '' : 's'}`);
    });
}

function notFound(id: number): AgentbusError {
  return new AgentbusError('NOT_FOUND', `dead letter ${id} does not exist`, { id });
}
