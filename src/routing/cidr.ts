/**
 * EventBridge `cidr` values: an IPv4 or IPv6 block (`10.0.0.0/24`, `2001:db8::/32`), or a
 * single address. An IPv4 address never matches an IPv6 block and vice versa.
 *
 * Pure: no I/O, no clock.
 */
import { isIP } from 'node:net';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Parses a dotted IPv4 address into 4 bytes. */
function parseIPv4(text: string): number[] | undefined {
  const m = IPV4.exec(text);
  if (m === null) return undefined;
  const bytes = m.slice(1, 5).map(Number);
  return bytes.every((b) => b <= 255) ? bytes : undefined;
}

/** Parses the groups on one side of `::` into 16-bit words. */
function parseGroups(text: string, allowIPv4Tail: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const words: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    if (allowIPv4Tail && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIPv4(part);
      if (v4 === undefined) return undefined;
      words.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    } else if (HEX_GROUP.test(part)) {
      words.push(Number.parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return words;
}

/** Parses an IPv6 address (with `::` and an optional IPv4 tail) into 16 bytes. */
function parseIPv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const [head = '', tail] = halves;
  const left = parseGroups(head, tail === undefined);
  const right = tail === undefined ? [] : parseGroups(tail, true);
  if (left === undefined || right === undefined) return undefined;
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const words = [...left, ...new Array<number>(tail === undefined ? 0 : missing).fill(0), ...right];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/** Parses an IPv4 or IPv6 address into its bytes (4 or 16), or `undefined`. */
export function parseIp(text: string): number[] | undefined {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

/**
 * Compiles a CIDR block into a test on address strings, or returns `undefined` when the
 * block is not a valid address with an optional `/prefix-length`.
 */
export function compileCidr(block: string): ((address: string) => boolean) | undefined {
  const slash = block.indexOf('/');
  const base = parseIp(slash === -1 ? block : block.slice(0, slash));
  if (base === undefined) return undefined;
  const maxBits = base.length * 8;
  const bitsText = slash === -1 ? String(maxBits) : block.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > maxBits) return undefined;
  const bits = Number(bitsText);
  return (address) => {
    const ip = parseIp(address);
    if (ip === undefined || ip.length !== base.length) return false;
    for (let i = 0, left = bits; left > 0; i++, left -= 8) {
      const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
      if (((ip[i] ?? 0) & mask) !== ((base[i] ?? 0) & mask)) return false;
    }
    return true;
  };
}

/** A network as Node's `BlockList.addSubnet` takes it. */
export interface Network {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/**
 * Parses a network written `a.b.c.d/n` or `x::y/n` (a prefix length is required and within
 * its family's range), as settings such as `server.webhookDeny` take them; `undefined` for
 * anything else. Addresses are what `net.isIP` accepts (no IPv4 leading zeros), unlike the
 * filters' `cidr` above, which follows EventBridge.
 */
export function parseNetwork(text: string): Network | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const family = match?.[1] ? isIP(match[1]) : 0;
  if (!match?.[1] || family === 0) return undefined;
  const prefix = Number(match[2]);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  return { address: match[1], prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}
