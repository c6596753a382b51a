/**
 * `agentbus status`: the seed's "Event System Dashboard" for a database (throughput bars over
 * the last hour or `--window`, By Topic, Agent Activity, Health), once, or redrawn in place
 * with `--watch`; `--json` prints the snapshot.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { toSnakeCase } from '../../observe/json.js';
import { type HealthLevel, type StatusSnapshot, isUnhealthy, statusSnapshot } from '../../observe/status.js';
import { formatCount, textBar } from '../../observe/text.js';
import { windowLabel } from '../../observe/window.js';
import { globalOptions, withBus } from '../context.js';
import { printJson, writeLine } from '../output.js';
import { parseWindow } from '../parse.js';
import { formatTable } from '../table.js';

const LEVEL: Record<HealthLevel, string> = { healthy: '🟢 Healthy', degraded: '🟡 Degraded', unhealthy: '🔴 Unhealthy' };

function latency(ms: number | null): string {
  if (ms === null) return 'n/a';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms)}ms`;
}

function busLine(s: StatusSnapshot): string {
  const why: string[] = [];
  if (s.throughput.inDlq > 0) why.push(`${formatCount(s.throughput.inDlq)} in DLQ`);
  const unhealthy = s.agents.filter((a) => isUnhealthy(a.health)).length;
  if (unhealthy > 0) why.push(`${unhealthy} agent${unhealthy === 1 ? '' : 's'} not healthy`);
  if (s.health.consumerLag.level === 'high') why.push('high consumer lag');
  return `${LEVEL[s.health.bus]}${why.length > 0 ? ` (${why.join(', ')})` : ''}`;
}

function agentsLine(s: StatusSnapshot): string | undefined {
  const reporting = s.agents.filter((a) => a.health !== undefined);
  if (reporting.length === 0) return undefined;
  const others = reporting.filter((a) => isUnhealthy(a.health)).length;
  const idle = reporting.filter((a) => a.health === 'paused' || a.health === 'stopped').length;
  const fine = reporting.length - others - idle;
  const parts = [
    `${fine} healthy`,
    ...(others > 0 ? [`${others} not healthy`] : []),
    ...(idle > 0 ? [`${idle} paused or stopped`] : []),
  ];
  return `${others === 0 ? '🟢' : '🟡'} ${parts.join(', ')}`;
}

/**
 * Formats a snapshot as the seed's dashboard.
 *
 * @example
 * console.log(formatDashboard(await statusSnapshot(store)))
 */
export function formatDashboard(s: StatusSnapshot): string {
  const t = s.throughput;
  const max = Math.max(t.published, t.consumed, t.failed, t.inDlq);
  const bars: Array<[string, number]> = [
    ['Events Published:', t.published],
    ['Events Consumed:', t.consumed],
    ['Events Failed:', t.failed],
    ['Events in DLQ:', t.inDlq],
  ];
  const labelWidth = Math.max(...bars.map(([label]) => label.length));
  const topics = s.topics.map((r) => [
    r.topic,
    formatCount(r.published),
    r.consumed === null ? '-' : formatCount(r.consumed),
    r.lag === null ? '-' : formatCount(r.lag),
  ]);
  const agents = s.agents.map((a) => [a.agent, formatCount(a.published), formatCount(a.consumed), formatCount(a.processing)]);
  const lag = s.health.consumerLag;
  const lagLevel = `${lag.level[0]?.toUpperCase()}${lag.level.slice(1)}`;
  const agentHealth = agentsLine(s);
  return [
    '## Event System Dashboard',
    '',
    `### Throughput (${windowLabel(t.windowMs)})`,
    ...bars.map(([label, value]) => `${label.padEnd(labelWidth)} ${textBar(value, max)} ${formatCount(value)}`),
    '',
    '### By Topic',
    topics.length > 0 ? formatTable(['Topic', 'Published', 'Consumed', 'Lag'], topics) : '(no events yet)',
    '',
    '### Agent Activity',
    agents.length > 0 ? formatTable(['Agent', 'Published', 'Consumed', 'Processing'], agents) : '(no agents yet)',
    '',
    '### Health',
    `- Event Bus: ${busLine(s)}`,
    `- Event Store: ${LEVEL[s.health.store]}`,
    `- Average Latency: ${latency(s.health.averageLatencyMs)}`,
    `- Consumer Lag: ${lagLevel}${lag.maxPending > 0 ? ` (${formatCount(lag.maxPending)} pending)` : ''}`,
    ...(agentHealth ? [`- Agents: ${agentHealth}`] : []),
    ...retentionLines(s),
  ].join('\n');
}

/**
 * The retention line, once the log has been pruned or the bus has a retention option: the
 * first retained position, events pruned, and the lowest hold (what retention waits for).
 */
function retentionLines(s: StatusSnapshot): string[] {
  const r = s.retention;
  if (!r || (r.pruned === 0 && !r.policy)) return [];
  const parts = [`${formatCount(r.pruned)} pruned`];
  const hold = r.heldBy[0];
  if (hold && hold.seq <= s.head) {
    const paused = hold.paused ? ', paused' : '';
    parts.push(`oldest needed by ${hold.kind} ${hold.name} at #${hold.seq}${paused}`);
  }
  return [`- Retention: history from #${r.firstRetained} (${parts.join('; ')})`];
}

interface StatusFlags {
  watch?: number | true;
  window?: number;
  includeSystem?: boolean;
}

/** Seconds between redraws when `--watch` has no value. */
const DEFAULT_WATCH_SECONDS = 2;

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n >= 0.1) || n > 86_400) {
    throw new InvalidArgumentError('Must be a number of seconds between 0.1 and 86400.');
  }
  return n;
}

/** Clear the screen and move home: a redraw in place. */
const REDRAW = '\x1b[H\x1b[2J';

async function statusAction(flags: StatusFlags, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  const options = { includeSystem: flags.includeSystem === true, ...(flags.window ? { window: flags.window } : {}) };
  const show = (snapshot: StatusSnapshot, frame: number) => {
    if (json) return printJson(toSnakeCase(snapshot), true);
    const text = formatDashboard(snapshot);
    if (process.stdout.isTTY) process.stdout.write(`${REDRAW}${text}\n`);
    else writeLine(frame === 0 ? text : `\n${text}`);
  };
  if (flags.watch === undefined) {
    show(await withBus(target, (bus) => statusSnapshot(bus, options), { mustExist: true }), 0);
    return;
  }
  const seconds = flags.watch === true ? DEFAULT_WATCH_SECONDS : flags.watch;
  await withBus(
    target,
    async (bus) => {
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        for (let frame = 0; !stop.signal.aborted; frame++) {
          show(await statusSnapshot(bus, options), frame);
          await delay(seconds * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    },
    { mustExist: true },
  );
}

/** Adds `status` to `program`. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .summary("show the seed's event system dashboard")
    .description(
      "Show the seed's Event System Dashboard for the database: throughput bars (events published, deliveries " +
        'acknowledged, handler failures over the last hour or --window; dead letters open now), ' +
        'By Topic (published, consumed, lag) and Agent Activity (published, consumed, processing) over the whole log, ' +
        'and Health. system.* topics are left out unless --include-system. ' +
        'With --watch the dashboard is redrawn every SECONDS (default 2) until Ctrl-C; with --json the snapshot is ' +
        'printed as one JSON line (one per refresh with --watch).',
    )
    .option('--watch [seconds]', 'redraw every SECONDS (default 2)', parseSeconds)
    .option('--window <duration>', 'what the throughput bars count: the last DURATION, 1m to 24h (default 1h)', parseWindow)
    .option('--include-system', 'count system.* topics (heartbeats, error notices) too')
    .action(statusAction);
}
