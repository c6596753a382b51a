/** Aggregates repeated runs (medians) and prints / writes the results. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { throughputSvg } from './plot.js';
import { median } from './stats.js';

const NOTE_KEYS = ['cpuPerEvent', 'publishSeconds', 'stalls', 'maxGap', 'slowEvents', 'timerLateness'];

/**
 * `runs` is [{ case, repetition, result }]. Returns one row per case: medians over its runs,
 * and, for stored cases, throughput as % of the storage ceiling of the same repetition.
 */
export function aggregate(cases, runs) {
  const ceilingRate = (kind, repetition) => {
    const raw = runs.find((r) => r.case.provides === kind && r.repetition === repetition);
    return raw ? raw.result.events / raw.result.seconds : undefined;
  };
  return cases
    .map((c) => {
      const mine = runs.filter((r) => r.case === c);
      if (mine.length === 0) return undefined;
      const pick = (key) => median(mine.map((r) => r.result[key]));
      const rates = mine.map((r) => r.result.events / r.result.seconds);
      const percents = c.ceiling
        ? mine.map((r) => {
            const ceiling = ceilingRate(c.ceiling, r.repetition);
            return ceiling ? (100 * r.result.events) / r.result.seconds / ceiling : undefined;
          })
        : [];
      const row = {
        name: c.name,
        group: c.group,
        label: c.label,
        runs: mine.length,
        events: pick('events'),
        seconds: pick('seconds'),
        eventsPerSec: median(rates),
        p50: pick('p50'),
        p99: pick('p99'),
        max: pick('max'),
        percentOfCeiling: median(percents),
        perRun: mine.map((r) => r.result),
      };
      // A scenario may describe itself in words (the last run's, e.g. poison vs baseline).
      const described = mine.at(-1)?.result.note;
      if (typeof described === 'string') row.note = described;
      for (const key of NOTE_KEYS) {
        const value = pick(key);
        if (value !== undefined) row[key] = value;
      }
      return row;
    })
    .filter(Boolean);
}

const fmt = (value, digits = 2) => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));
const int = (value) => (value === undefined ? '-' : Math.round(value).toLocaleString('en-US'));

function notes(row) {
  const out = [];
  if (row.note) out.push(row.note);
  if (row.publishSeconds !== undefined) out.push(`publish phase ${fmt(row.publishSeconds)} s`);
  if (row.stalls !== undefined)
    out.push(`stalls>10ms ${row.stalls}, max gap ${fmt(row.maxGap)} ms, late timer ${fmt(row.timerLateness)} ms`);
  if (row.runs > 1) out.push(`median of ${row.runs}`);
  return out.join('; ');
}

const HEADER = [
  'scenario',
  'events',
  'seconds',
  'events/s',
  'p50 ms',
  'p99 ms',
  'max ms',
  '% of ceiling',
  'CPU µs/event',
  'notes',
];

function cells(row) {
  return [
    row.name,
    int(row.events),
    fmt(row.seconds, 3),
    int(row.eventsPerSec),
    fmt(row.p50, 3),
    fmt(row.p99, 3),
    fmt(row.max, 3),
    row.percentOfCeiling === undefined ? '-' : `${fmt(row.percentOfCeiling, 1)}%`,
    fmt(row.cpuPerEvent, 1),
    notes(row),
  ];
}

/** The issue's aims: [label, numerator cases (best wins), denominator case, at least]. */
const AIMS = [
  ['agentbus embedded end to end vs BullMQ', ['bus-batch', 'bus-publish'], 'bullmq', 4],
  ['agentbus embedded end to end vs raw JetStream', ['bus-batch', 'bus-publish'], 'jetstream-raw', 4],
  ['agentbus on PostgreSQL vs pg-boss', ['pg-bus-batch', 'pg-bus-publish'], 'pgboss', 2],
  ['agentbus on NATS (recorder on) vs raw JetStream', ['bus-nats'], 'jetstream-raw', 0.6],
  ['agentbus embedded vs raw SQLite inserts', ['bus-batch', 'bus-publish'], 'sqlite-raw', 0.7],
];

/** Each aim whose cases ran: the ratio of events/s and whether it holds. */
export function aims(rows) {
  const rate = (name) => rows.find((r) => r.name === name)?.eventsPerSec;
  return AIMS.flatMap(([label, tops, bottom, atLeast]) => {
    const top = Math.max(...tops.map(rate).filter((x) => x !== undefined));
    const base = rate(bottom);
    if (!Number.isFinite(top) || base === undefined) return [];
    const ratio = top / base;
    return [{ label, ratio, atLeast, met: ratio >= atLeast }];
  });
}

/** The aims as lines of text. */
export function aimLines(rows) {
  return aims(rows).map((a) => `- ${a.label}: ${a.ratio.toFixed(2)}x (aim >= ${a.atLeast}x) ${a.met ? 'met' : 'NOT met'}`);
}

/** A fixed-width table for the terminal. */
export function textTable(rows) {
  const table = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
  const line = (r) =>
    r.map((c, i) => (i === 0 || i === r.length - 1 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(table[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

function markdown(rows, machine, options) {
  const lines = [
    '# agentbus benchmark',
    '',
    `Run: \`node bench/run.js${options.argv.length ? ` ${options.argv.join(' ')}` : ''}\` — ${machine.date}`,
    '',
    `![events per second](${options.name}.svg)`,
    '',
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map((_, i) => (i === 0 || i === HEADER.length - 1 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${cells(row).join(' | ')} |`),
    '',
    'Scenarios:',
    '',
    ...rows.map((row) => `- \`${row.name}\`: ${row.label}`),
    '',
    '% of ceiling: events/s over the ceiling case of the same backend measured in the same',
    'repetition: raw better-sqlite3 inserts (same schema, pragmas and synchronous level) for the',
    'embedded cases, raw `pg` batched inserts for PostgreSQL, raw nats.js publish/consume/ack for',
    'NATS. Latency: publish call to handler start. Each case runs in its own process (and temp',
    'dir, database or stream).',
    '',
    ...(aims(rows).length ? ['## Aims', '', ...aimLines(rows), ''] : []),
    '',
    '## Machine',
    '',
    ...Object.entries(machine).map(([key, value]) => `- ${key}: ${value}`),
    '',
  ];
  return lines.join('\n');
}

export function writeResults(dir, name, rows, machine, options) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${name}.md`, dir), markdown(rows, machine, { ...options, name }));
  writeFileSync(new URL(`${name}.svg`, dir), throughputSvg(rows, { title: `agentbus bench, events/s (${machine.date})` }));
  writeFileSync(new URL(`${name}.json`, dir), `${JSON.stringify({ machine, options, rows }, null, 2)}\n`);
}
