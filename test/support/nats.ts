/**
 * NATS for tests: the server at `NATS_URL` (default the local one, 127.0.0.1:4222), and
 * whether it answers. Without a server a suite is skipped, except under `CI=true`, where
 * loading the suite fails.
 *
 * @example
 * const up = await natsForSuite('the NATS suite')
 * describe.skipIf(!up)('...', () => { ... })
 */
import { connect } from 'node:net';

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
