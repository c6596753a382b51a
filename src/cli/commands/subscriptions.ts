/**
 * `agentbus subscriptions`: list durable subscriptions, pause, resume, reset, delete.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { Bus, StartInput, SubscriptionAdmin } from '../../bus/index.js';
import { parseTimestamp } from '../../envelope/index.js';
import { AgentbusError } from '../../errors.js';
import { pendingBySubscription } from '../../observe/index.js';
import type { ConsumerInfo } from '../../store/event-store.js';
import { subscriptionJson as wireSubscriptionJson } from '../../bus/wire.js';
import { globalOptions, withBus } from '../context.js';
import { note, printJson, writeLine } from '../output.js';
import { parseNonEmpty, relativeDuration } from '../parse.js';
import { formatTable } from '../table.js';

/**
 * A subscription as the CLI prints it in JSON: the wire form plus `pending`, the events after
 * the acknowledged position on the topics its pattern matches (as `agentbus status` counts
 * them: events its filter skips count until it settles past them, other topics never).
 */
function subscriptionJson(info: ConsumerInfo, pending: number) {
  return { ...wireSubscriptionJson(info), pending };
}

/** The subscriptions with their pending counts. */
async function withPending(bus: Bus, infos: readonly ConsumerInfo[]): Promise<Array<{ info: ConsumerInfo; pending: number }>> {
  const pending = await pendingBySubscription(bus, infos);
  return infos.map((info) => ({ info, pending: pending.get(info.name) ?? 0 }));
}

const HEADERS = [
  'Subscription',
  'Topic',
  'Position',
  'Pending',
  'In Flight',
  'Scheduled',
  'Redelivered',
  'Dead-lettered',
  'Paused',
];

/** The subscriptions table; Pending counts events of the subscription's topics after its position. */
export function formatSubscriptionsTable(subscriptions: ReadonlyArray<{ info: ConsumerInfo; pending: number }>): string {
  const rows = subscriptions.map(({ info, pending }) => {
    const s = subscriptionJson(info, pending);
    return [
      s.name,
      s.topic,
      s.ack_floor,
      s.pending,
      s.in_flight,
      s.scheduled,
      s.redelivered,
      s.dead_lettered,
      s.paused ? 'yes' : 'no',
    ].map(String);
  });
  return formatTable(HEADERS, rows);
}

/** `--to`: earliest, latest, a position, an RFC 3339 time or a duration ago (`1h`). */
function parseTo(value: string): StartInput {
  if (value === 'earliest' || value === 'latest') return value;
  if (/^\d+$/.test(value) && Number(value) >= 1) return Number(value);
  const ago = relativeDuration(value);
  if (ago !== undefined) return new Date(Date.now() - ago);
  if (parseTimestamp(value) !== undefined) return { time: value };
  throw new InvalidArgumentError(
    'Must be earliest, latest, a position (1, 2, ...), an RFC 3339 time or a duration ago (30m, 1h).',
  );
}

async function listAction(_flags: object, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  const subscriptions = await withBus(target, async (bus) => withPending(bus, await bus.subscriptions.list()), {
    mustExist: true,
  });
  if (json)
    return printJson(
      subscriptions.map(({ info, pending }) => subscriptionJson(info, pending)),
      true,
    );
  if (subscriptions.length === 0) return note('no subscriptions');
  writeLine(formatSubscriptionsTable(subscriptions));
}

/** Runs `change` on subscription `name` and prints its state afterwards, with `message`. */
async function change(
  command: Command,
  name: string,
  run: (admin: SubscriptionAdmin) => Promise<unknown>,
  message: (info: ConsumerInfo) => string,
): Promise<void> {
  const { target, json } = globalOptions(command);
  const result = await withBus(
    target,
    async (bus) => {
      await run(bus.subscriptions);
      const info = await bus.subscriptions.get(name);
      return info ? (await withPending(bus, [info]))[0] : undefined;
    },
    { mustExist: true },
  );
  if (!result) throw notFound(name);
  if (json) printJson(subscriptionJson(result.info, result.pending), true);
  else writeLine(message(result.info));
}

function notFound(name: string): AgentbusError {
  return new AgentbusError('NOT_FOUND', `subscription ${name} does not exist`, { subscription: name });
}

/** Adds `subscriptions` (alias `subs`) and its commands to `program`. */
export function registerSubscriptions(program: Command): void {
  const subs = program
    .command('subscriptions')
    .alias('subs')
    .summary('list, pause, resume, reset or delete durable subscriptions')
    .description('Durable subscriptions: list, pause, resume, reset, delete. With --json, subscriptions print as JSON objects.');
  subs
    .command('list')
    .description(
      'Table: Subscription | Topic | Position (acknowledged up to) | Pending (events of its topics after its position) | In Flight | Scheduled | Redelivered | Dead-lettered | Paused',
    )
    .action(listAction);
  subs
    .command('pause')
    .description('Pause a subscription: it keeps its position and gets nothing until resumed')
    .argument('<name>', 'subscription name, e.g. /python-pro', parseNonEmpty)
    .action((name: string, _flags: object, command: Command) =>
      change(
        command,
        name,
        (admin) => admin.pause(name),
        (info) => `paused ${name} at position ${info.ackFloor}`,
      ),
    );
  subs
    .command('resume')
    .description('Resume a paused subscription: it catches up from its position')
    .argument('<name>', 'subscription name', parseNonEmpty)
    .action((name: string, _flags: object, command: Command) =>
      change(
        command,
        name,
        (admin) => admin.resume(name),
        (info) => `resumed ${name} at position ${info.ackFloor}`,
      ),
    );
  subs
    .command('reset')
    .description('Move a subscription: in-flight and scheduled deliveries are dropped')
    .argument('<name>', 'subscription name', parseNonEmpty)
    .requiredOption('--to <where>', 'earliest, latest, a position, an RFC 3339 time, or a duration ago (1h)', parseTo)
    .action((name: string, flags: { to: StartInput }, command: Command) =>
      change(
        command,
        name,
        (admin) => admin.reset(name, flags.to),
        (info) => `reset ${name}: next position ${info.nextSeq}`,
      ),
    );
  subs
    .command('delete')
    .description('Delete a subscription and its delivery state (its events stay in the log)')
    .argument('<name>', 'subscription name', parseNonEmpty)
    .action(async (name: string, _flags: object, command: Command) => {
      const { target, json } = globalOptions(command);
      const deleted = await withBus(target, (bus) => bus.subscriptions.delete(name), { mustExist: true });
      if (!deleted) throw notFound(name);
      if (json) printJson({ deleted: name }, true);
      else writeLine(`deleted ${name}`);
    });
}
