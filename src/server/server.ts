/**
 * Binding the app to a socket with @hono/node-server. Loopback by default; a non-loopback
 * address is refused unless tokens are configured.
 */
import type { AddressInfo } from 'node:net';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { serve } from '@hono/node-server';
import { DEFAULT_HOST, DEFAULT_PORT } from '../config/index.js';
import { invalidField } from '../errors.js';
import { type AppOptions, createApp } from './app.js';
import { isLoopback } from './loopback.js';

export { isLoopback };
import { PROBLEM_JSON, type Problem, problem } from './problem.js';

/** Options of {@link startServer}. */
export interface ServerOptions extends AppOptions {
  /** Address to bind. @default "127.0.0.1" */
  readonly host?: string;
  /** Port; 0 picks a free one. @default 7070 */
  readonly port?: number;
  /**
   * A request whose line and headers take longer to arrive gets 408 and is closed, so a
   * client trickling headers (slow-loris) holds a connection for seconds, not minutes, ms.
   * @default 10000
   */
  readonly headersTimeoutMs?: number;
  /** A request (headers and body) that takes longer to arrive gets 408, ms. @default 60000 */
  readonly requestTimeoutMs?: number;
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

/**
 * The problem for a request Node's HTTP parser refused before the app saw it: request line
 * and headers over 16 KB (431, `headers`), a malformed `Content-Length` (400,
 * `content-length`), a request that took too long to arrive (408), anything else (400).
 */
export function clientErrorProblem(code: string | undefined): Problem {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return problem(431, 'OPTIONS_INVALID', 'headers: the request line and headers are larger than 16 KB', {
        field: 'headers',
      });
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return problem(400, 'OPTIONS_INVALID', 'content-length: not a valid Content-Length for this request', {
        field: 'content-length',
      });
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return problem(408, 'TIMEOUT', 'the request did not arrive in time');
    default:
      return problem(400, 'OPTIONS_INVALID', 'not a well-formed HTTP/1.1 request');
  }
}

/**
 * Answers a parser refusal with a problem body, as Node would answer it without one (same
 * status, connection closed). There is no response object at this point, so the response is
 * written to the socket as it is.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection, or one whose response has begun, cannot take an answer (Node's own
  // rule; `_httpMessage` is the response in flight on this socket, as Node names it).
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const answer = clientErrorProblem(error.code);
  const body = JSON.stringify(answer);
  socket.end(
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}\r\n` +
      `content-type: ${PROBLEM_JSON}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
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
    const headersTimeout = options.headersTimeoutMs ?? 10_000;
    const requestTimeout = Math.max(options.requestTimeoutMs ?? 60_000, headersTimeout);
    const serverOptions = {
      headersTimeout,
      requestTimeout,
      // How often Node looks for requests past those limits; its default is 30 s.
      connectionsCheckingInterval: Math.min(1_000, headersTimeout),
    };
    const s = serve({ fetch: app.fetch, hostname: host, port, serverOptions }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  server.on('clientError', answerClientError);
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
