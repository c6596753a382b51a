/**
 * WAL checkpoints on a worker thread with its own connection, so copying pages back into
 * the database never stalls a commit on the main thread. Started on first use.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * A round copies the WAL up to the writer's last commit; the writer keeps committing
 * meanwhile, so the worker goes round again (a few times at most) until a round leaves
 * less than LEFT_FRAMES to copy: what the writer's connection finishes is then small.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 2000');
parentPort.on('message', (message) => {
  if (message === 'close') { db.close(); parentPort.close(); return; }
  try {
    for (let round = 0; round < workerData.rounds; round++) {
      const [result] = db.pragma('wal_checkpoint(PASSIVE)');
      if (result.busy !== 0 || result.log - result.checkpointed < workerData.leftFrames) break;
    }
  } catch {}
  parentPort.postMessage('done');
});
`;

/** Most background rounds per request. */
const ROUNDS = 8;
/** A round that leaves fewer WAL frames (pages) than this to copy is the last. */
const LEFT_FRAMES = 64;

const CLOSE_TIMEOUT_MS = 2_000;

export class Checkpointer {
  #worker: Worker | undefined;
  #busy = false;
  #again = false;
  /** Set by close: no request starts a worker after it (one would keep the process alive). */
  #closed = false;

  /** @param onDone runs on the main thread after each background checkpoint. */
  constructor(
    private readonly path: string,
    private readonly onDone: () => void = () => {},
  ) {}

  /** Asks for a PASSIVE checkpoint; coalesces requests while one runs. */
  request(): void {
    if (this.#closed) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    this.#start().postMessage('checkpoint');
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.suspend();
  }

  /**
   * Ends the worker and its connection to the file (which another connection's exclusive
   * lock would conflict with); the next {@link request} starts a new one.
   */
  async suspend(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    this.#worker = undefined;
    // Hold the event loop open until the worker has closed its connection and exited; a
    // worker that does not exit in time is terminated (a checkpoint loses nothing if cut).
    worker.ref();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.postMessage('close');
    });
    this.#busy = false;
    this.#again = false;
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, path: this.path, rounds: ROUNDS, leftFrames: LEFT_FRAMES },
    });
    worker.unref();
    worker.on('message', () => {
      this.#busy = false;
      // A checkpoint that ends while the store closes: its connection is closing too.
      if (this.#closed) return;
      this.onDone();
      if (this.#again) {
        this.#again = false;
        this.request();
      }
    });
    worker.on('error', () => {
      this.#busy = false;
      this.#worker = undefined;
    });
    this.#worker = worker;
    return worker;
  }
}
