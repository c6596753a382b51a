/**
 * JetStream publishes answered on one subscription, against the real server (127.0.0.1:4222,
 * or NATS_URL): acknowledgements and duplicates, a stream's refusal, no stream at all, an
 * answer that never comes, and closing with publishes in flight. Each case has a stream of
 * its own, deleted afterwards. With CI=true a server that is down fails the run.
 */
import { randomBytes } from 'node:crypto';
import { DiscardPolicy, type JetStreamManager, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect, createInbox, headers } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from './publisher.js';
import { NATS_URL, natsForSuite } from '../../../test/support/nats.js';

const up = await natsForSuite('this suite');

describe.skipIf(!up)('JetStreamPublisher', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const streams: string[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
    jsm = await jetstreamManager(nc);
  });
  afterAll(async () => {
    for (const name of streams) await jsm.streams.delete(name).catch(() => {});
    await nc.close();
  });

  /** A stream of its own; returns its subject prefix (the name is that in capitals). */
  async function stream(extra: { max_msgs?: number; discard?: DiscardPolicy } = {}): Promise<string> {
    const prefix = `ab_pub_${randomBytes(4).toString('hex')}`;
    const name = prefix.toUpperCase();
    await jsm.streams.add({ name, subjects: [`${prefix}.>`], storage: StorageType.Memory, ...extra });
    streams.push(name);
    return prefix;
  }

  const publisher = (timeoutMs = 5_000, retry: { retries?: number; delayMs?: number } = { retries: 0 }) =>
    new JetStreamPublisher(nc, createInbox(), headers, timeoutMs, retry);

  it('resolves with the stream and sequence, and names a repeated message id a duplicate of the first', async () => {
    const prefix = await stream();
    const p = publisher();
    const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => p.publish(`${prefix}.x`, `{"n":${i}}`, `id-${i}`)));
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(acks.every((a) => !a.duplicate && a.stream === prefix.toUpperCase())).toBe(true);
    const again = await p.publish(`${prefix}.x`, '{"n":"again"}', 'id-7');
    expect(again).toEqual({ stream: prefix.toUpperCase(), seq: 8, duplicate: true });
    p.close();
  });

  it('sends the extra headers with the message', async () => {
    const prefix = await stream();
    const p = publisher();
    const { seq } = await p.publish(`${prefix}.x`, 'body', 'id-h', { 'Agentbus-Deliver-To': 'billing' });
    const stored = await jsm.streams.getMessage(prefix.toUpperCase(), { seq });
    expect(stored?.header.get('Agentbus-Deliver-To')).toBe('billing');
    expect(stored?.header.get('Nats-Msg-Id')).toBe('id-h');
    p.close();
  });

  it("rejects with the stream's reason when the stream refuses the message", async () => {
    const prefix = await stream({ max_msgs: 1, discard: DiscardPolicy.New });
    const p = publisher();
    await p.publish(`${prefix}.x`, 'first', 'id-1');
    await expect(p.publish(`${prefix}.x`, 'second', 'id-2')).rejects.toThrow(/JetStream refused the publish: .*maximum messages/);
    p.close();
  });

  it('rejects when no stream takes the subject', async () => {
    const p = publisher();
    await expect(p.publish(`ab-nostream-${randomBytes(4).toString('hex')}.x`, 'x', 'id')).rejects.toThrow(/no JetStream stream/);
    p.close();
  });

  it('sends again after a 503, with the same message id, until a stream takes the subject', async () => {
    const prefix = `ab_pub_${randomBytes(4).toString('hex')}`;
    const p = publisher(5_000, { retries: 2, delayMs: 300 });
    const ack = p.publish(`${prefix}.x`, 'late', 'id-late');
    // Sent after the publish on the same connection, so the first try meets no stream (503).
    await jsm.streams.add({ name: prefix.toUpperCase(), subjects: [`${prefix}.>`], storage: StorageType.Memory });
    streams.push(prefix.toUpperCase());
    await expect(ack).resolves.toEqual({ stream: prefix.toUpperCase(), seq: 1, duplicate: false });
    const stored = await jsm.streams.getMessage(prefix.toUpperCase(), { seq: 1 });
    expect(stored?.header.get('Nats-Msg-Id')).toBe('id-late');
    p.close();
  });

  it('gives up after its retries when no stream ever takes the subject', async () => {
    const p = publisher(5_000, { retries: 2, delayMs: 10 });
    await expect(p.publish(`ab-nostream-${randomBytes(4).toString('hex')}.x`, 'x', 'id')).rejects.toThrow(
      /no JetStream stream .*\(3 attempts\)/,
    );
    p.close();
  });

  it('sends again when no answer comes in time, then gives up', async () => {
    const silent = `ab-silent-${randomBytes(4).toString('hex')}`;
    const ids: Array<string | undefined> = [];
    const sub = nc.subscribe(silent, { callback: (_e, msg) => void ids.push(msg.headers?.get('Nats-Msg-Id')) });
    await nc.flush();
    const p = publisher(100, { retries: 2 });
    await expect(p.publish(silent, 'x', 'id-silent')).rejects.toThrow(/did not answer the publish within 100 ms \(3 attempts\)/);
    expect(ids).toEqual(['id-silent', 'id-silent', 'id-silent']);
    sub.unsubscribe();
    p.close();
  });

  it('fails a publish pausing before its resend when closed', async () => {
    const p = publisher(5_000, { retries: 2, delayMs: 60_000 });
    const pending = p.publish(`ab-nostream-${randomBytes(4).toString('hex')}.x`, 'x', 'id');
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 50)); // the 503 has come back: it pauses
    p.close(new Error('transport closed'));
    await expect(pending).rejects.toThrow('transport closed');
  });

  it('gives up on an answer that does not come, and later publishes still work', async () => {
    const silent = `ab-silent-${randomBytes(4).toString('hex')}`;
    const sub = nc.subscribe(silent, { callback: () => {} }); // a responder that never answers
    await nc.flush();
    const prefix = await stream();
    const p = publisher(200);
    await expect(p.publish(silent, 'x', 'id')).rejects.toThrow(/did not answer the publish within 200 ms/);
    await expect(p.publish(`${prefix}.x`, 'y', 'id-after')).resolves.toMatchObject({ seq: 1 });
    sub.unsubscribe();
    p.close();
  });

  it('fails the publishes in flight when closed, and any later one', async () => {
    const silent = `ab-silent-${randomBytes(4).toString('hex')}`;
    const sub = nc.subscribe(silent, { callback: () => {} });
    await nc.flush();
    const p = publisher();
    const pending = p.publish(silent, 'x', 'id');
    p.close(new Error('transport closed'));
    await expect(pending).rejects.toThrow('transport closed');
    await expect(p.publish(silent, 'x', 'id-2')).rejects.toThrow('transport closed');
    sub.unsubscribe();
  });
});
