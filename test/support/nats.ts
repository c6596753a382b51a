/**
 * NATS for tests: the server at `NATS_URL` (default the local one, 127.0.0.1:4222), and
 * whether it answers. Without a server a suite is skipped, except under `CI=true`, where
 * loading the suite fails. Outage tests start a private server of their own
 * ({@link startPrivateNatsServer}) that they can stop and start again.
 *
 * @example
 * const up = await natsForSuite('the NATS suite')
 * describe.skipIf(!up)('...', () => { ... })
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** True when a TCP connection to `url` opens within 2 s. */
export function natsReachable(url = NATS_URL): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 4222) });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Whether the server is up; throws under CI=true when it is not (a service test never skips there). */
export async function natsForSuite(what: string): Promise<boolean> {
  const up = await natsReachable();
  if (!up && process.env.CI === 'true') throw new Error(`NATS is not reachable at ${NATS_URL} and CI=true: ${what} must run`);
  return up;
}

/** Where the private servers of outage tests come from. */
export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/** A nats-server of one test, on a port and store directory of its own. */
export interface PrivateNatsServer {
  readonly url: string;
  readonly port: number;
  /** JetStream's store directory (kept across restarts). */
  readonly storeDir: string;
  /** Starts the server (again) on the same port and store; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it with `signal` (SIGTERM: a graceful shutdown) and waits until it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** What the server wrote to stdout and stderr, across restarts (for failure messages). */
  log(): string;
  /** Stops it (SIGKILL if SIGTERM is not enough) and removes its store. Safe to call twice. */
  dispose(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the OS hands one out; it is free when this resolves). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `nats-server -js` on a free port with a fresh store directory. Under `CI=true` a
 * missing binary throws; elsewhere check {@link natsServerBinary} first and skip.
 *
 * @example
 * const server = await startPrivateNatsServer()
 * try { ... await server.stop(); await server.start() ... } finally { await server.dispose() }
 */
export async function startPrivateNatsServer(): Promise<PrivateNatsServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'agentbus-nats-server-'));
  const url = `nats://127.0.0.1:${port}`;
  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  const server: PrivateNatsServer = {
    url,
    port,
    storeDir,
    async start() {
      if (proc) throw new Error(`the private nats-server on port ${port} is running already`);
      const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc = child;
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
      });
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
      });
      exited = new Promise<void>((resolve) => {
        child.once('exit', () => {
          if (proc === child) proc = undefined;
          resolve();
        });
        child.once('error', (error) => {
          output += `\nspawn failed: ${error.message}`;
          if (proc === child) proc = undefined;
          resolve();
        });
      });
      // Ready when it logs that it accepts clients and a TCP connection opens.
      for (let i = 0; i < 300; i++) {
        if (proc !== child) throw new Error(`nats-server on port ${port} exited at start:\n${output}`);
        if (output.includes('Server is ready') && (await natsReachable(url))) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`nats-server on port ${port} did not become ready within 15 s:\n${output}`);
    },
    async stop(signal = 'SIGTERM') {
      const child = proc;
      if (!child) return;
      child.kill(signal);
      const gone = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000)),
      ]);
      if (!gone) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    log: () => output,
    async dispose() {
      await server.stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
  try {
    await server.start();
  } catch (error) {
    await server.dispose();
    throw error;
  }
  return server;
}

/** Whether the nats-server binary is there; throws under CI=true when it is not. */
export function natsServerBinary(what: string): boolean {
  const there = existsSync(NATS_SERVER_BIN);
  if (!there && process.env.CI === 'true') {
    throw new Error(`${NATS_SERVER_BIN} is missing and CI=true: ${what} must run (set NATS_SERVER_BIN)`);
  }
  return there;
}
