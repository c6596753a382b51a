/**
 * Summarises a V8 CPU profile (from `node bench/run.js --cpu-prof DIR`): the functions with
 * the most self time, and the top-level buckets (GC, idle, program).
 *
 *   node bench/profile-summary.js DIR/bus-batch-*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  // timeDeltas[i] is the time before samples[i]; attribute it to that sample's node.
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  const byFunction = new Map();
  for (const [id, time] of self) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const where = url ? `${relative(process.cwd(), url.replace('file://', ''))}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
  }
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  console.log(`\n${file}: ${(total / 1000).toFixed(0)} ms sampled`);
  for (const [key, time] of rows) {
    console.log(`${(time / 1000).toFixed(1).padStart(9)} ms ${((100 * time) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
}
