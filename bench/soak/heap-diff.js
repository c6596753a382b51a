#!/usr/bin/env node
// Compares two V8 heap snapshots by constructor: which kinds of objects grew between them.
//   node bench/soak/heap-diff.js before.heapsnapshot after.heapsnapshot [top]
// Take them from a soak process with `kill -USR2 <pid>` (run.js starts every process with
// --heapsnapshot-signal=SIGUSR2; the files land in its temporary folder) or with
// `run.js --snapshots`, which diffs each process's first and last snapshot itself.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export function summarize(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const {
    node_fields: fields,
    node_types: [types],
  } = snap.snapshot.meta;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]];
    if (type === 'hidden' || type === 'code' || type === 'number') continue;
    const key = `${type}:${snap.strings[snap.nodes[i + nameAt]]}`.slice(0, 100);
    const entry = out.get(key) ?? { count: 0, size: 0 };
    entry.count++;
    entry.size += snap.nodes[i + sizeAt];
    out.set(key, entry);
  }
  return out;
}
/** Lines of the `top` kinds of objects that grew most (bytes) from snapshot `a` to `b`. */
export function heapDiff(a, b, top = 40) {
  const before = summarize(a);
  const after = summarize(b);
  const rows = [];
  for (const [key, v] of after) {
    const u = before.get(key) ?? { count: 0, size: 0 };
    if (v.count !== u.count) rows.push({ key, count: v.count - u.count, size: v.size - u.size, total: v.count });
  }
  rows.sort((x, y) => y.size - x.size);
  return rows
    .slice(0, Number(top))
    .map((r) => `${String(r.count).padStart(8)} ${String(r.size).padStart(10)} B  (now ${r.total})  ${r.key}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [a, b, top = '40'] = process.argv.slice(2);
  console.log(heapDiff(a, b, top).join('\n'));
}
