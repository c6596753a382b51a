/**
 * `agentbus topics`: the seed's Pub/Sub Configuration as the database shows it. Per topic:
 * its events in the last hour (or `--window`), who published them, the subscriptions whose
 * pattern matches it, and how far behind the furthest one is.
 */
import type { Command } from 'commander';
import { toSnakeCase } from '../../observe/json.js';
import { formatCount } from '../../observe/text.js';
import { type TopicOverview, topicsOverview } from '../../observe/topics.js';
import { windowLabel } from '../../observe/window.js';
import { globalOptions, withBus } from '../context.js';
import { note, printJson, writeLine } from '../output.js';
import { parseWindow } from '../parse.js';
import { formatTable } from '../table.js';

/** Names shown in a cell before `+N more` (`--json` has them all). */
const NAMES_SHOWN = 5;

function names(list: readonly string[]): string {
  if (list.length === 0) return '-';
  const shown = list.slice(0, NAMES_SHOWN).join(', ');
  return list.length > NAMES_SHOWN ? `${shown}, +${list.length - NAMES_SHOWN} more` : shown;
}

/** The topics table: Topic | Events (Last Hour) | Publishers | Subscribers | Lag. */
export function formatTopicsTable(topics: readonly TopicOverview[], windowMs: number): string {
  return formatTable(
    ['Topic', `Events (${windowLabel(windowMs)})`, 'Publishers', 'Subscribers', 'Lag'],
    topics.map((t) => [
      t.topic,
      formatCount(t.events),
      names(t.publishers),
      names(t.subscribers),
      t.lag === null ? '-' : formatCount(t.lag),
    ]),
  );
}

async function topicsAction(flags: { window?: number; includeSystem?: boolean }, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  const options = { includeSystem: flags.includeSystem === true, ...(flags.window ? { window: flags.window } : {}) };
  const overview = await withBus(target, (bus) => topicsOverview(bus, options), { mustExist: true });
  if (json) return printJson(toSnakeCase(overview), true);
  if (overview.topics.length === 0) {
    const hidden = flags.includeSystem ? '' : ' (system.* left out: --include-system)';
    return note(`no topics: nothing published and no subscriptions${hidden}`);
  }
  writeLine(formatTopicsTable(overview.topics, overview.windowMs));
}

/** Adds `topics` to `program`. */
export function registerTopics(program: Command): void {
  program
    .command('topics')
    .summary("the seed's Pub/Sub Configuration: per topic, publishers, subscribers, lag")
    .description(
      'Per topic with events or subscriptions: its events over the last hour (or --window), the agents that ' +
        'published them (event.source), the subscriptions whose topic pattern matches it, and the lag of the ' +
        'furthest behind (as agentbus status counts it). A subscription that matches no topic with events yet shows ' +
        'as its pattern. system.* topics are left out unless --include-system; --json prints every name.',
    )
    .option('--window <duration>', 'what Events and Publishers count: the last DURATION, 1m to 24h (default 1h)', parseWindow)
    .option('--include-system', 'show system.* topics (heartbeats, error notices) too')
    .action(topicsAction);
}
