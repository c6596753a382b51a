/**
 * Binding the app to a socket with @hono/node-server. Loopback by default; a non-loopback
 * address is refused unless tokens are configured.
 */
import type { AddressInfo } from 'node:net';
import { BlockList, isIP } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { DEFAULT_HOST, DEFAULT_PORT } from '../config/index.js';
import { invalidField } from '../errors.js';
import { type AppOptions, createApp } from './app.js';

/** Options of {@link startServer}. */
export interface ServerOptions extends AppOptions {
  /** Address to bind. @default "127.0.0.1" */
  readonly host?: string;
  /** Port; 0 picks a free one. @default 7070 */
  readonly port?: number;
}

/** A listening server. */
export interface RunningServer {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops listening, ends open streams and closes the integrations' webhooks. */
  close(): Promise<void>;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for `localhost`, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1]) return LOOPBACK.check(mapped[1], 'ipv4');
  const family = isIP(bare);
  if (family === 0) return false;
  return LOOPBACK.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Starts `agentbus serve`'s HTTP server.
 * @throws AgentbusError `OPTIONS_INVALID` (field `server.host`) for a non-loopback address
 *   without tokens; the socket's error when the port is taken.
 * @example
 * const server = await startServer({ bus, port: 0 })
 * console.log(server.url) // http://127.0.0.1:41234
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  if (!isLoopback(host) && (options.tokens ?? []).length === 0) {
    throw invalidField(
      'OPTIONS_INVALID',
      'server.host',
      `refusing to bind ${host} without tokens: anyone who can reach it could publish and replay; configure server.tokens or bind 127.0.0.1`,
    );
  }
  const app = createApp(options);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    host: address.address,
    port: address.port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Live streams never end on their own.
      server.closeAllConnections();
      await closed;
      await options.integrations?.webhooks?.close();
      await options.integrations?.close?.();
    },
  };
}
