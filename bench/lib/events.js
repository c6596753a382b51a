/**
 * The benchmark's events: ~1 KB JSON payloads carrying their index and publish time, and a
 * recorder that every scenario uses as its handler.
 */
import { performance } from 'node:perf_hooks';

export const TOPIC = 'bench.tasks';
export const TYPE = 'TaskCompletedEvent';

const FILLER = {
  agent: '/backend-architect',
  project: 'agentbus-benchmark',
  status: 'completed',
  tags: ['api', 'design', 'review', 'backend', 'storage'],
  metrics: { files: 12, lines_added: 420, lines_removed: 37, duration_ms: 5230, retries: 0 },
  summary:
    'Designed the REST endpoints for task assignment and status reporting, documented the error model, ' +
    'added pagination and idempotency keys, reviewed the storage schema and wrote the migration plan. ' +
    'Open questions: rate limits per agent, retention of completed tasks, and how to version the event schema ' +
    'when optional fields become required. Follow-ups were filed for the frontend and the QA agents.',
  artifacts: [
    { path: 'docs/api/tasks.md', sha: '3f9c2a7b1d04e8f6a5c3b2d1e0f9a8b7c6d5e4f3' },
    { path: 'src/api/tasks.ts', sha: '9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b' },
    { path: 'migrations/0004_tasks.sql', sha: '0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a' },
  ],
};

/** A ~1 KB payload for event `i`, stamped with the publish time (performance.now()). */
export function makePayload(i) {
  return { i, sent: performance.now(), ...FILLER };
}

/** Publish input for event `i`. */
export function makeInput(i) {
  return { topic: TOPIC, type: TYPE, payload: makePayload(i) };
}

/**
 * Records, per event index, the publish time and the handler start time. `handler(envelope)`
 * takes an agentbus envelope or anything with a `payload`; `done` resolves after `n` events.
 */
export class Recorder {
  constructor(n) {
    this.n = n;
    this.count = 0;
    this.sent = new Float64Array(n);
    this.started = new Float64Array(n);
    this.done = new Promise((resolve) => {
      this.resolve = resolve;
    });
    this.handler = (envelope) => {
      const now = performance.now();
      const { i, sent } = envelope.payload;
      this.sent[i] = sent;
      this.started[i] = now;
      if (++this.count === this.n) this.resolve();
    };
  }

  latencies() {
    const out = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = this.started[i] - this.sent[i];
    return out;
  }
}

/** CPU time (user + system, all threads of this process) per event since `before`, in µs. */
export function cpuPerEvent(before, events) {
  const { user, system } = process.cpuUsage(before);
  return (user + system) / events;
}
