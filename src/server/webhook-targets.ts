/**
 * Where a webhook subscription created over HTTP may send events. Its creator chooses the
 * URL and the server makes the call from inside the network, so networks no webhook has any
 * business reaching (cloud metadata services by default) are refused when it is created.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { invalidField } from '../errors.js';
import { inBlockList } from './loopback.js';

/**
 * Networks refused by default: link-local (169.254.169.254 and its kin serve cloud
 * credentials), AWS's IPv6 metadata address, Alibaba's metadata address, and "this network".
 */
export const DEFAULT_WEBHOOK_DENY: readonly string[] = [
  '169.254.0.0/16',
  'fe80::/10',
  'fd00:ec2::254/128',
  '100.100.100.200/32',
  '0.0.0.0/8',
];

/** Checks a webhook URL's addresses against denied networks. */
export interface WebhookTargetPolicy {
  /** @throws AgentbusError `OPTIONS_INVALID` naming `field` when the URL's host is or resolves into a denied network. */
  check(url: string, field: string): Promise<void>;
}

/** True for `a.b.c.d/n` or `x::y/n` with a prefix length in range. */
function parseNetwork(network: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(network);
  const family = match?.[1] ? isIP(match[1]) : 0;
  if (!match?.[1] || family === 0) return undefined;
  const prefix = Number(match[2]);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  return { address: match[1], prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * The policy refusing `deny` (CIDR networks, e.g. `10.0.0.0/8`, `fd00::/8`).
 * @throws AgentbusError `OPTIONS_INVALID` naming `server.webhookDeny[i]` for a network that does not parse.
 * @example createWebhookTargetPolicy([...DEFAULT_WEBHOOK_DENY, '10.0.0.0/8', '127.0.0.0/8'])
 */
export function createWebhookTargetPolicy(deny: readonly string[] = DEFAULT_WEBHOOK_DENY): WebhookTargetPolicy {
  const blocked = new BlockList();
  for (const [index, network] of deny.entries()) {
    const parsed = parseNetwork(network);
    if (!parsed)
      throw invalidField('OPTIONS_INVALID', `server.webhookDeny[${index}]`, 'must be a network like 10.0.0.0/8 or fd00::/8');
    blocked.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return {
    async check(url, field) {
      if (deny.length === 0) return;
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      let addresses: string[];
      if (isIP(host) !== 0) addresses = [host];
      else {
        try {
          addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
        } catch {
          throw invalidField(
            'OPTIONS_INVALID',
            field,
            `${host} does not resolve; a webhook's host must resolve when it is created`,
          );
        }
      }
      const denied = addresses.find((address) => inBlockList(blocked, address));
      if (denied !== undefined) {
        throw invalidField(
          'OPTIONS_INVALID',
          field,
          `${host === denied ? denied : `${host} resolves to ${denied}, which`} is in a network webhooks may not reach (server.webhookDeny)`,
        );
      }
    },
  };
}
