// Preloaded with `node --expose-gc --import ./bench/soak/probe.js ...` by the soak driver:
// every SOAK_PROBE_MS writes one JSON line to SOAK_PROBE_FILE with this process's memory
// (after a full GC, so heapUsed is what is live), and its active resources by type.
import { appendFileSync } from 'node:fs';

const file = process.env.SOAK_PROBE_FILE;
const every = Number(process.env.SOAK_PROBE_MS ?? 10_000);
if (file) {
  const sample = () => {
    globalThis.gc?.();
    const m = process.memoryUsage();
    const resources = {};
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
    let extra = {};
    try {
      extra = globalThis.__soakProbe?.() ?? {};
    } catch (error) {
      extra = { probeError: String(error) };
    }
    const line = {
      t: Date.now(),
      pid: process.pid,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      resources,
      ...extra,
    };
    try {
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {}
  };
  setInterval(sample, every).unref();
  setTimeout(sample, 1000).unref();
}
