/**
 * Where a webhook subscription created over HTTP may send events. Its creator chooses the
 * URL and the server makes the call from inside the network, so networks no webhook has any
 * business reaching (cloud metadata services by default) are refused: when it is created
 * (its host, or what the host resolves to then), and again on every call, on the address
 * the connection goes to (the webhook runner's network policy), since a name may resolve
 * elsewhere later (DNS rebinding).
 */
import { isIP } from 'node:net';
import { type HostResolver, type NetworkPolicy, createNetworkPolicy } from '../agents/index.js';
import { invalidField } from '../errors.js';

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

/**
 * Checks a webhook URL's addresses against denied networks when the webhook is created; as
 * a {@link NetworkPolicy}, it is also what the webhook runner checks every connection with.
 */
export interface WebhookTargetPolicy extends NetworkPolicy {
  /** @throws AgentbusError `OPTIONS_INVALID` naming `field` when the URL's host is or resolves into a denied network. */
  check(url: string, field: string): Promise<void>;
}

/** Options of {@link createWebhookTargetPolicy}. */
export interface WebhookTargetPolicyOptions {
  /** How host names are resolved, at creation and on every call. @default the system's (dns.lookup) */
  readonly resolve?: HostResolver;
}

/**
 * The policy refusing `deny` (CIDR networks, e.g. `10.0.0.0/8`, `fd00::/8`); `[]` allows
 * every address. Give the same policy to the server (`webhookTargets`) and to the webhook
 * subscriptions (`createWebhookSubscriptions`' `targets`), so that calls are checked as
 * creations are.
 * @throws AgentbusError `OPTIONS_INVALID` naming `server.webhookDeny[i]` for a network that does not parse.
 * @example createWebhookTargetPolicy([...DEFAULT_WEBHOOK_DENY, '10.0.0.0/8', '127.0.0.0/8'])
 */
export function createWebhookTargetPolicy(
  deny: readonly string[] = DEFAULT_WEBHOOK_DENY,
  options: WebhookTargetPolicyOptions = {},
): WebhookTargetPolicy {
  const network = createNetworkPolicy(deny, {
    setting: 'server.webhookDeny',
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
  return {
    resolve: network.resolve,
    refusal: network.refusal,
    async check(url, field) {
      if (deny.length === 0) return;
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      let addresses: readonly string[];
      if (isIP(host) !== 0) addresses = [host];
      else {
        try {
          addresses = (await network.resolve(host)).map((a) => a.address);
        } catch {
          throw invalidField(
            'OPTIONS_INVALID',
            field,
            `${host} does not resolve; a webhook's host must resolve when it is created`,
          );
        }
      }
      for (const address of addresses) {
        const refused = network.refusal(host, address);
        if (refused !== undefined) throw invalidField('OPTIONS_INVALID', field, refused);
      }
    },
  };
}
