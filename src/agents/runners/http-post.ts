/**
 * The webhook runner's POST, on node:http and node:https rather than `fetch`, because only
 * these let the runner choose the address a connection goes to: with a network policy, a
 * host name is resolved through it when each connection is opened and every address it
 * resolves to is checked, so a name that resolved to an allowed address when the webhook
 * was created and to a denied one now (DNS rebinding) is refused before anything connects.
 * Redirects are never followed (a redirect could lead anywhere).
 */
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { NetworkPolicy, ResolvedAddress } from './network-policy.js';

/** A connection refused by the network policy; its message names the address and the rule. */
export class DeniedAddressError extends Error {
  override readonly name = 'DeniedAddressError';
}

/** One POST: the headers (without content-length, which is set here), the body, the signal that cancels it. */
export interface PostInit {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly signal: AbortSignal;
}

/** POSTs over its own keep-alive connections; see the module comment. */
export interface HttpPoster {
  /** Resolves with the response once its head arrives; its body is read by the caller. */
  post(url: URL, init: PostInit): Promise<IncomingMessage>;
}

/** `lookup` for net.connect that resolves through the policy and refuses a denied address. */
function checkedLookup(policy: NetworkPolicy): LookupFunction {
  return (hostname, options, callback) => {
    const refuse = (error: Error) => callback(error as NodeJS.ErrnoException, '', 0);
    policy.resolve(hostname).then((resolved) => {
      const refused = resolved.map((a) => policy.refusal(hostname, a.address)).find((why) => why !== undefined);
      if (refused !== undefined) return refuse(new DeniedAddressError(refused));
      const wanted = familyOf(options.family);
      const addresses = wanted ? resolved.filter((a) => a.family === wanted) : resolved;
      const [first] = addresses;
      if (!first) {
        const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
        return refuse(error);
      }
      if (options.all) return callback(null, addresses.map(toLookupAddress));
      return callback(null, first.address, first.family);
    }, refuse);
  };
}

function familyOf(family: number | string | undefined): 4 | 6 | undefined {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return undefined;
}

function toLookupAddress(a: ResolvedAddress): { address: string; family: number } {
  return { address: a.address, family: a.family };
}

/**
 * A poster with its own connection pools (keep-alive, as `fetch` has), checking every
 * connection against `policy` when one is given.
 */
export function createHttpPoster(policy?: NetworkPolicy): HttpPoster {
  const lookup = policy ? checkedLookup(policy) : undefined;
  // As Node's global agent: idle sockets are closed after 5 s and do not keep the process alive.
  const options = { keepAlive: true, scheduling: 'lifo' as const, timeout: 5_000, ...(lookup ? { lookup } : {}) };
  const agents = { http: new HttpAgent(options), https: new HttpsAgent(options) };
  return {
    post(url, init) {
      return new Promise((resolve, reject) => {
        // An IP address is connected to as it is, without a lookup: check it here.
        const host = url.hostname.replace(/^\[|\]$/g, '');
        const refused = policy && isIP(host) !== 0 ? policy.refusal(host, host) : undefined;
        if (refused !== undefined) return reject(new DeniedAddressError(refused));
        const https = url.protocol === 'https:';
        const request = (https ? httpsRequest : httpRequest)(
          url,
          {
            method: 'POST',
            headers: { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) },
            agent: https ? agents.https : agents.http,
            signal: init.signal,
          },
          resolve,
        );
        request.on('error', reject);
        request.end(init.body);
      });
    },
  };
}
