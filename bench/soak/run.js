#!/usr/bin/env node
// Soak driver: runs a steady load with bursts against one deployment shape for N minutes,
// samples every process and the backend, prints the samples, and checks shutdown.
//   node bench/soak/run.js --shape sqlite|postgres|nats [--minutes 8] [--rate 200] [--sample 20] [--keep] [--snapshots]
// --snapshots takes a heap snapshot of every process at a third of the run and at its end,
// and prints which kinds of objects grew in between (bench/soak/heap-diff.js).
// Needs `npm run build`; postgres and nats need a server on 127.0.0.1:5432 (trust auth) and
// 127.0.0.1:4222 (JetStream). Creates its own database / stream and removes them at the end.
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({
  options: {
    shape: { type: 'string', default: 'sqlite' },
    minutes: { type: 'string', default: '8' },
    rate: { type: 'string', default: '200' },
    sample: { type: 'string', default: '20' },
    pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
    nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    snapshots: { type: 'boolean', default: false },
  },
});
const shape = args.shape;
if (!['sqlite', 'postgres', 'nats'].includes(shape)) throw new Error('--shape sqlite|postgres|nats');
const durationMs = Number(args.minutes) * 60_000;
const sampleMs = Number(args.sample) * 1000;
const tag = `soak${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'agentbus-soak-'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (...a) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---- backend setup --------------------------------------------------------------------
const env = { ...process.env, SOAK_PROBE_MS: String(Math.min(10_000, sampleMs)) };
const cliTarget = [];
let pgAdmin;
let pgUrl;
if (shape === 'sqlite') {
  env.SOAK_DB = join(dir, 'agentbus.db');
  cliTarget.push('--db', env.SOAK_DB);
} else {
  const { default: pg } = await import('pg');
  pgAdmin = new pg.Client({ connectionString: `${args.pg}/postgres` });
  await pgAdmin.connect();
  await pgAdmin.query(`CREATE DATABASE ${tag}`);
  pgUrl = `${args.pg}/${tag}`;
  env.SOAK_PG = pgUrl;
  cliTarget.push('--store', pgUrl);
}
let jsm;
let natsConnection;
if (shape === 'nats') {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  natsConnection = await connect({ servers: args.nats });
  jsm = await jetstreamManager(natsConnection);
  Object.assign(env, { SOAK_NATS: args.nats, SOAK_STREAM: tag.toUpperCase(), SOAK_PREFIX: tag });
  cliTarget.push('--nats', args.nats, '--nats-stream', env.SOAK_STREAM, '--nats-prefix', tag);
}

// ---- webhook receiver for the `agentbus run` workflow ---------------------------------
let hookCalls = 0;
const hooks = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    hookCalls++;
    if (hookCalls % 50 === 0) return void res.writeHead(500).end('try again');
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ events: [{ type: 'HookDone', topic: 'soak.hooks-done' }] }));
  });
});
await new Promise((resolve) => hooks.listen(0, '127.0.0.1', resolve));
const workflow = join(dir, 'hooks.yaml');
writeFileSync(
  workflow,
  `name: soak-hooks
agents:
  - name: /soak-hook
    runner: { type: webhook, url: "http://127.0.0.1:${hooks.address().port}/hook", timeout: 5s }
    retry: { max_retries: 2, initial_delay: 200ms, max_delay: 1s }
    subscriptions:
      - { topic: soak.hooks }
  - name: /soak-cmd
    runner: { type: command, command: sh, args: [-c, 'cat >/dev/null; echo "{\\"type\\":\\"CmdDone\\",\\"topic\\":\\"soak.cmds-done\\"}"'] }
    subscriptions:
      - { topic: soak.cmds }
`,
);

// ---- processes ------------------------------------------------------------------------
const procs = [];
function start(name, argv, extra = {}) {
  const probe = join(dir, `${name}.jsonl`);
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--heapsnapshot-signal=SIGUSR2', '--import', join(root, 'bench/soak/probe.js'), ...argv],
    {
      cwd: dir, // heap snapshots (kill -USR2) land here
      env: { ...env, ...extra, SOAK_PROBE_FILE: probe },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const p = { name, child, probe, stdout: '', stderr: '', exit: undefined, samples: [] };
  child.stdout.on('data', (d) => (p.stdout = (p.stdout + d).slice(-20_000)));
  child.stderr.on('data', (d) => (p.stderr = (p.stderr + d).slice(-20_000)));
  child.on('exit', (code, signal) => (p.exit = { code, signal, at: Date.now() }));
  procs.push(p);
  return p;
}
const until = async (what, fn, ms = 60_000) => {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
};
const cli = join(root, 'dist/cli/main.js');
const role = join(root, 'bench/soak/role.js');
const serve = start('serve', [cli, ...cliTarget, 'serve', '--port', '0']);
await until('serve', () => /listening on (http:\/\/\S+)/.test(serve.stderr) || serve.exit);
if (serve.exit) throw new Error(`serve exited: ${serve.stderr}`);
const base = /listening on (http:\/\/[^\s/]+)/.exec(serve.stderr)[1];
log(`serve at ${base}; dir ${dir}`);
for (const m of ['a', 'b']) start(`worker-${m}`, [role, 'worker'], { SOAK_MEMBER: m });
start('flows', [role, 'flows']);
const run = start('run', [cli, ...cliTarget, 'run', workflow, '--quiet']);
for (const p of procs.filter((p) => p.name !== 'serve' && p !== run))
  await until(p.name, () => p.stdout.includes('"ready"') || p.exit);
await sleep(2000);
start('publisher', [role, 'publisher'], { SOAK_RATE: args.rate, SOAK_MEMBER: 'p' });

// ---- HTTP clients ---------------------------------------------------------------------
let stopping = false;
const http = { requests: 0, errors: 0, sse: 0, sseEvents: 0, replays: 0, replayErrors: 0 };
async function request(path, init) {
  try {
    const res = await fetch(base + path, init);
    await res.arrayBuffer();
    http.requests++;
    if (res.status >= 400) http.errors++;
  } catch {
    http.errors++;
  }
}
const post = (topic, type) =>
  request('/v1/events', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: { type }, payload: { at: Date.now() }, routing: { topic } }),
  });
async function apiClient() {
  let i = 0;
  while (!stopping) {
    i++;
    const jobs = [post('soak.hooks', 'HookRequested'), request('/v1/events?topic=soak.>&limit=50')];
    if (i % 5 === 0) jobs.push(post('soak.cmds', 'CmdRequested'), request('/v1/subscriptions'), request('/v1/status'));
    if (i % 25 === 0) jobs.push(request('/metrics'), request('/v1/dlq?limit=20'), request('/'));
    await Promise.all(jobs);
    await sleep(200);
  }
}
async function sseClient(k) {
  while (!stopping) {
    const controller = new AbortController();
    try {
      const res = await fetch(`${base}/v1/events/stream?topic=soak.>&from=latest`, { signal: controller.signal });
      http.sse++;
      const reader = res.body.getReader();
      const until = Date.now() + 1000 + Math.random() * 3000;
      while (Date.now() < until) {
        const t = setTimeout(() => controller.abort(), Math.max(10, until - Date.now()));
        const { done, value } = await reader.read().finally(() => clearTimeout(t));
        if (done) break;
        http.sseEvents += (new TextDecoder().decode(value).match(/\nid: /g) ?? []).length;
      }
      controller.abort();
    } catch {}
    await sleep(100 + k * 50);
  }
}
function runCli(argv) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...cliTarget, ...argv], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, err }));
  });
}
async function replayer() {
  while (!stopping) {
    await sleep(60_000);
    if (stopping) break;
    const r = await runCli(['dlq', 'replay', '--all']);
    http.replays++;
    if (r.code !== 0) {
      http.replayErrors++;
      log(`dlq replay exit ${r.code}: ${r.err.trim().slice(0, 200)}`);
    }
  }
}
const clients = [apiClient(), sseClient(0), sseClient(1), replayer()];

// ---- sampling -------------------------------------------------------------------------
const procStatus = (pid) => {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return {
      rss: Number(/VmRSS:\s+(\d+)/.exec(s)[1]) * 1024,
      fds: readdirSync(`/proc/${pid}/fd`).length,
      threads: Number(/Threads:\s+(\d+)/.exec(s)[1]),
    };
  } catch {
    return {};
  }
};
const lastProbe = (file) => {
  if (!existsSync(file)) return {};
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
};
let sqlite;
async function backendSample() {
  const out = {};
  const tables = [
    'events',
    'consumer_windows',
    'consumer_retries',
    'dead_letters',
    'activity',
    'event_counts',
    'consumer_counts',
  ];
  if (shape === 'sqlite') {
    const wal = `${env.SOAK_DB}-wal`;
    out.walMB = existsSync(wal) ? statSync(wal).size / 2 ** 20 : 0;
    // The WAL header's checkpoint sequence number goes up each time the WAL starts over:
    // a WAL that keeps growing while it stays put is never reset.
    try {
      const fd = openSync(wal, 'r');
      const header = Buffer.alloc(16);
      readSync(fd, header, 0, 16, 0);
      closeSync(fd);
      out.walResets = header.readUInt32BE(12);
    } catch {}
    if (!sqlite) {
      const { default: Database } = await import('better-sqlite3');
      sqlite = new Database(env.SOAK_DB, { readonly: true, fileMustExist: true });
      sqlite.pragma('busy_timeout = 5000');
    }
    for (const t of tables) out[t] = sqlite.prepare(`SELECT count(*) AS n FROM ${t}`).get().n;
    out.openDlq = sqlite.prepare(`SELECT count(*) AS n FROM dead_letters WHERE status = 'open'`).get().n;
    for (const r of sqlite.prepare('SELECT namespace, count(*) AS n FROM state GROUP BY namespace').all())
      out[`state:${r.namespace}`] = r.n;
  } else {
    const { rows } = await pgAdmin.query(
      'SELECT count(*)::int AS n, count(*) FILTER (WHERE state = $2)::int AS idle FROM pg_stat_activity WHERE datname = $1',
      [tag, 'idle'],
    );
    out.pgConns = rows[0].n;
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    try {
      for (const t of tables) out[t] = (await c.query(`SELECT count(*)::int AS n FROM agentbus.${t}`)).rows[0].n;
      out.openDlq = (await c.query(`SELECT count(*)::int AS n FROM agentbus.dead_letters WHERE status = 'open'`)).rows[0].n;
      for (const r of (await c.query('SELECT namespace, count(*)::int AS n FROM agentbus.state GROUP BY namespace')).rows)
        out[`state:${r.namespace}`] = r.n;
      out.dbMB = (await c.query('SELECT pg_database_size(current_database()) AS b')).rows[0].b / 2 ** 20;
    } finally {
      await c.end();
    }
  }
  if (jsm) {
    const consumers = await jsm.consumers.list(env.SOAK_STREAM).next();
    out.natsConsumers = consumers.length;
    out.natsPending = consumers.reduce((s, c) => s + c.num_pending, 0);
    out.natsAckPending = consumers.reduce((s, c) => s + c.num_ack_pending, 0);
    out.natsWaiting = consumers.reduce((s, c) => s + c.num_waiting, 0);
    const info = await jsm.streams.info(env.SOAK_STREAM);
    out.streamMsgs = info.state.messages;
    const srv = await fetch('http://127.0.0.1:8222/connz')
      .then((r) => r.json())
      .catch(() => undefined);
    if (srv) out.natsConns = srv.num_connections;
  }
  return out;
}
const samples = [];
async function sampleOnce(t0) {
  const row = { t: Math.round((Date.now() - t0) / 1000), procs: {}, backend: {}, http: { ...http } };
  for (const p of procs) {
    const probe = lastProbe(p.probe);
    row.procs[p.name] = {
      ...procStatus(p.child.pid),
      heapUsed: probe.heapUsed,
      external: probe.external,
      resources: probe.resources,
      counters: probe.counters,
    };
  }
  try {
    row.backend = await backendSample();
  } catch (error) {
    row.backend = { error: String(error.message ?? error) };
  }
  samples.push(row);
  const b = row.backend;
  log(
    `t=${row.t}s`,
    Object.entries(row.procs)
      .map(([n, s]) => `${n}:${((s.rss ?? 0) / 2 ** 20).toFixed(0)}M/${((s.heapUsed ?? 0) / 2 ** 20).toFixed(1)}M/${s.fds}fd`)
      .join(' '),
    JSON.stringify(b),
  );
}
const snapshot = async () => {
  const before = new Set(readdirSync(dir));
  for (const p of procs) if (!p.exit) p.child.kill('SIGUSR2');
  // Each process writes its file when it gets to it: wait until every one is complete.
  const done = () => readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
  await until('heap snapshots', () => done().length >= procs.filter((p) => !p.exit).length, 120_000);
  let sizes = '';
  for (;;) {
    await sleep(1000);
    const now = done()
      .map((f) => statSync(join(dir, f)).size)
      .join();
    if (now === sizes) break;
    sizes = now;
  }
};
let snapshotted = false;
const t0 = Date.now();
while (Date.now() - t0 < durationMs) {
  await sleep(Math.min(sampleMs, durationMs - (Date.now() - t0)));
  await sampleOnce(t0);
  if (args.snapshots && !snapshotted && Date.now() - t0 > durationMs / 3) {
    snapshotted = true;
    await snapshot();
  }
  const dead = procs.find((p) => p.exit);
  if (dead) {
    log(`${dead.name} exited early ${JSON.stringify(dead.exit)}: ${dead.stderr.slice(-2000)}`);
    break;
  }
}

if (args.snapshots) await snapshot();

// ---- shutdown -------------------------------------------------------------------------
stopping = true;
await Promise.allSettled(clients.slice(0, 3));
const shutdown = [];
for (const p of [...procs].reverse()) {
  if (p.exit) {
    shutdown.push({ name: p.name, ms: null, code: p.exit.code, note: 'exited early' });
    continue;
  }
  const at = Date.now();
  p.child.kill(p.name === 'run' ? 'SIGINT' : 'SIGTERM');
  const deadline = at + 15_000;
  while (!p.exit && Date.now() < deadline) await sleep(20);
  if (!p.exit) p.child.kill('SIGKILL');
  while (!p.exit) await sleep(20);
  const left = /left after close: (.*)/.exec(p.stderr)?.[1] ?? '';
  shutdown.push({ name: p.name, ms: p.exit.at - at, code: p.exit.code, signal: p.exit.signal, left });
}
await sampleOnce(t0).catch(() => {});

// ---- report ---------------------------------------------------------------------------
const mb = (v) => (v === undefined ? '-' : (v / 2 ** 20).toFixed(1));
const table = (head, rows) => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
};
const running = samples.slice(0, -1);
console.log(`\n## agentbus soak: ${shape}, ${args.minutes} min, ${args.rate} events/s + bursts\n`);
for (const p of procs) {
  console.log(`### ${p.name}\n`);
  console.log(
    table(
      ['t (s)', 'RSS MB', 'heap MB', 'external MB', 'fds', 'threads', 'timers', 'sockets', 'other handles'],
      running.map((s) => {
        const x = s.procs[p.name] ?? {};
        const r = x.resources ?? {};
        const sockets = (r.TCPSocketWrap ?? 0) + (r.PipeWrap ?? 0);
        const other = Object.entries(r)
          .filter(([k]) => !['Timeout', 'TCPSocketWrap', 'PipeWrap'].includes(k))
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        return [s.t, mb(x.rss), mb(x.heapUsed), mb(x.external), x.fds ?? '-', x.threads ?? '-', r.Timeout ?? 0, sockets, other];
      }),
    ),
  );
  console.log('');
}
const keys = [...new Set(running.flatMap((s) => Object.keys(s.backend)))];
console.log(`### backend\n`);
console.log(
  table(
    ['t (s)', ...keys],
    running.map((s) => [
      s.t,
      ...keys.map((k) => (typeof s.backend[k] === 'number' ? Math.round(s.backend[k] * 10) / 10 : (s.backend[k] ?? '-'))),
    ]),
  ),
);
console.log(`\n### clients\n\n${JSON.stringify(http)}; webhook calls ${hookCalls}\n`);
console.log(`### shutdown (SIGTERM; \`run\` gets SIGINT)\n`);
console.log(
  table(
    ['process', 'exit ms', 'code', 'signal', 'left after close'],
    shutdown.map((s) => [s.name, s.ms ?? '-', s.code ?? '-', s.signal ?? '-', s.left || '-']),
  ),
);
for (const p of procs) {
  const tail = p.stderr
    .trim()
    .split('\n')
    .filter((l) => !/^(GET|POST|PUT|DELETE) \//.test(l))
    .slice(-5)
    .join('\n');
  if (tail) console.log(`\n${p.name} stderr (last lines):\n${tail}`);
}
if (args.snapshots) {
  const { heapDiff } = await import('./heap-diff.js');
  for (const p of procs) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.heapsnapshot') && f.split('.').includes(String(p.child.pid)))
      .sort();
    if (files.length < 2) continue;
    console.log(`\n### heap growth of ${p.name} between its snapshots (count, bytes, kind)\n`);
    console.log(heapDiff(join(dir, files[0]), join(dir, files[files.length - 1]), 15).join('\n'));
  }
}
const outFile = args.out ?? join(dir, 'samples.json');
writeFileSync(outFile, JSON.stringify({ shape, args, samples, shutdown, http }, null, 1));

// ---- cleanup --------------------------------------------------------------------------
hooks.close();
sqlite?.close();
if (jsm) {
  await jsm.streams.delete(env.SOAK_STREAM).catch((e) => log(`stream delete: ${e.message}`));
  await natsConnection.close();
}
if (pgAdmin) {
  await pgAdmin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [tag]);
  await pgAdmin.query(`DROP DATABASE IF EXISTS ${tag}`);
  await pgAdmin.end();
}
if (!args.keep && !args.out) rmSync(dir, { recursive: true, force: true });
else log(`kept ${dir}`);
