/**
 * Loopback addresses (the only ones a server without tokens binds and answers to), and
 * address checks against a `BlockList` that see through IPv4-mapped IPv6 addresses.
 */
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

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

/** True for `localhost`, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || inBlockList(LOOPBACK, host);
}
