/**
 * Loopback addresses: the only ones a server without tokens binds and answers to.
 */
import { BlockList } from 'node:net';
import { inBlockList } from '../agents/index.js';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for `localhost`, 127.0.0.0/8 and ::1 (also as an IPv4-mapped address). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || inBlockList(LOOPBACK, host);
}
