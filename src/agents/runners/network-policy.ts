/**
 * Networks a webhook may not reach, checked on the address each connection actually goes to.
 * A check of the URL's host when a webhook is created is not enough: the name may resolve
 * elsewhere by the time it is called (DNS rebinding), so the webhook runner resolves names
 * through the policy and connects only to addresses it accepts.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { invalidField } from '../../errors.js';
import { parseNetwork } from '../../routing/cidr.js';

/** One address a host name resolves to. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name (never an IP address) to its addresses, as `dns.lookup` with `all` does. */
export type HostResolver = (host: string) => Promise<readonly ResolvedAddress[]>;

/** The operating system's resolver (`dns.lookup`: hosts file, then DNS), in its own order. */
export const systemResolver: HostResolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** Where a webhook may connect, and how its host names are resolved. */
export interface NetworkPolicy {
  /** Resolves the host names of the calls (and of the checks when webhooks are created). */
  readonly resolve: HostResolver;
  /**
   * Why a connection to `address` is refused, naming the address and the rule (`host` is the
   * name it was reached through, or the address itself); undefined when it is allowed.
   */
  refusal(host: string, address: string): string | undefined;
}

/** Options of {@link createNetworkPolicy}. */
export interface NetworkPolicyOptions {
  /** The setting the networks come from, named in refusals and errors. @default "webhookDeny" */
  readonly setting?: string;
  /** @default systemResolver */
  readonly resolve?: HostResolver;
}

/**
 * True when `address` (an IP address, IPv6 with or without brackets) is in `list`; an
 * IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) is checked as its IPv4 address. False
 * for anything that is not an IP address.
 */
export function inBlockList(list: BlockList, address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1]) return list.check(mapped[1], 'ipv4');
  const family = isIP(bare);
  if (family === 0) return false;
  return list.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The policy refusing the networks of `deny` (CIDR, e.g. `10.0.0.0/8`, `fd00::/8`); `[]`
 * allows every address.
 * @throws AgentbusError `OPTIONS_INVALID` naming `<setting>[i]` for a network that does not parse.
 * @example createNetworkPolicy(['169.254.0.0/16', '10.0.0.0/8'], { setting: 'server.webhookDeny' })
 */
export function createNetworkPolicy(deny: readonly string[], options: NetworkPolicyOptions = {}): NetworkPolicy {
  const setting = options.setting ?? 'webhookDeny';
  // One list per rule, so that a refusal names the rule that matched.
  const rules = deny.map((network, index) => {
    const parsed = parseNetwork(network);
    if (!parsed) throw invalidField('OPTIONS_INVALID', `${setting}[${index}]`, 'must be a network like 10.0.0.0/8 or fd00::/8');
    const list = new BlockList();
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    return { network, list };
  });
  return {
    resolve: options.resolve ?? systemResolver,
    refusal(host, address) {
      const rule = rules.find((r) => inBlockList(r.list, address));
      if (!rule) return undefined;
      const subject = host === address ? address : `${host} resolves to ${address}, which`;
      return `${subject} is in a network webhooks may not reach (${setting}: ${rule.network})`;
    },
  };
}
