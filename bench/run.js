/**
 * agentbus benchmark: `npm run bench` (builds first) or `node bench/run.js [options]`.
 *
 *   --quick        10x fewer events (10,000; paced: 1 s)
 *   --only A,B     only these cases or groups (throughput, latency, guarantees; emitter, sqlite-raw, poison, ...)
 *   --repeat N     run every case N times (interleaved) and report medians
 *   --cpu-prof DIR write a V8 CPU profile of every case into DIR (node --cpu-prof)
 *
 * Every case runs in a child process of its own, with a fresh temp dir, so one case's heap
 * and JIT state do not colour the next. Prints a table; writes bench/results/latest.{md,json}
 * (partial.{md,json} for --quick or --only runs).
 */
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo } from './lib/env.js';
import { aggregate, aimLines, textTable, writeResults } from './lib/report.js';
import { cases as ceilings } from './scenarios/ceilings.js';
import { cases as guarantees } from './scenarios/delivery-guarantees.js';
import { cases as throughput } from './scenarios/embedded-throughput.js';
import { cases as history } from './scenarios/history-query.js';
import { cases as nats } from './scenarios/nats.js';
import { cases as paced } from './scenarios/paced-latency.js';
import { cases as postgres } from './scenarios/postgres.js';

const CASES = [...ceilings, ...throughput, ...paced, ...guarantees, ...history, ...nats, ...postgres];
const FULL_EVENTS = 100_000;

const argv = process.argv.slice(2);
const { values } = parseArgs({
  args: argv,
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
    child: { type: 'string' },
  },
});
const events = values.quick ? FULL_EVENTS / 10 : FULL_EVENTS;

if (values.child) {
  const c = CASES.find((x) => x.name === values.child);
  const result = await c.run({ events, quick: values.quick });
  process.send(result, () => process.exit(0));
} else {
  await main();
}

function select() {
  if (!values.only) return CASES;
  const wanted = values.only.split(',').map((s) => s.trim());
  const unknown = wanted.filter((w) => !CASES.some((c) => c.name === w || c.group === w));
  if (unknown.length > 0) {
    const names = [...new Set(CASES.flatMap((c) => [c.group, c.name]))].join(', ');
    throw new Error(`--only: unknown ${unknown.join(', ')} (one of ${names})`);
  }
  return CASES.filter((c) => wanted.includes(c.name) || wanted.includes(c.group));
}

function runChild(c) {
  // --expose-gc lets the memory scenario sample after a collection.
  const execArgv = [
    '--expose-gc',
    ...(values['cpu-prof']
      ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof'], `--cpu-prof-name=${c.name}-${Date.now()}.cpuprofile`]
      : []),
  ];
  const args = ['--child', c.name, ...(values.quick ? ['--quick'] : [])];
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result;
    child.on('message', (message) => {
      result = message;
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`${c.name}: child exited with ${code}`))));
  });
}

async function main() {
  const selected = select();
  const machine = machineInfo();
  const repeat = Math.max(1, Number.parseInt(values.repeat, 10) || 1);
  const runs = [];
  for (let repetition = 1; repetition <= repeat; repetition++) {
    for (const c of selected) {
      const result = await runChild(c);
      runs.push({ case: c, repetition, result });
      const rate = Math.round(result.events / result.seconds).toLocaleString('en-US');
      process.stderr.write(`[${repetition}/${repeat}] ${c.name}: ${rate} events/s, p99 ${result.p99?.toFixed(3) ?? '-'} ms\n`);
    }
  }
  const rows = aggregate(selected, runs);
  machine.loadavgEnd = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(
    `\nagentbus bench — node ${machine.node}, ${machine.cpu} x${machine.cores}, better-sqlite3 ${machine.betterSqlite3}, SQLite ${machine.sqlite}\n`,
  );
  console.log(textTable(rows));
  const aimText = aimLines(rows);
  if (aimText.length) console.log(`\nAims:\n${aimText.join('\n')}`);
  // A partial run (--quick, --only) must not replace the reference results.
  const name = values.quick || values.only ? 'partial' : 'latest';
  writeResults(new URL('./results/', import.meta.url), name, rows, machine, { argv, events, repeat });
}
