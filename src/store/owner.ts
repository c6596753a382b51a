/**
 * Identities of consumer-group members, and whether one is gone. A member's id carries its
 * host and process id, so a member on the same host whose process died can have its leases
 * taken over at once instead of after the lease lapses.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

const HOST = hostname();

/** A new member id: `host:pid:random`. */
export function createOwnerId(): string {
  return `${HOST}:${process.pid}:${randomBytes(6).toString('hex')}`;
}

/**
 * True only when `owner` is certainly gone: a process of this host that no longer exists.
 * Anything else (another host, this process, an unparseable id) counts as alive.
 */
export function isOwnerGone(owner: string): boolean {
  const parts = owner.split(':');
  if (parts.length < 3) return false;
  const pid = Number(parts[parts.length - 2]);
  const host = parts.slice(0, -2).join(':');
  if (host !== HOST || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A random lease token (48 bits), unique enough to tell one lease from the next. */
export function newLeaseToken(): number {
  return randomBytes(6).readUIntBE(0, 6);
}
