/**
 * The puller's close, against a stand-in connection: a message the server sent just before
 * it processed the unsubscribe (it arrives while the subscription drains) is given back at
 * once, as are buffered ones; nothing is left to come back after ack_wait. A close never
 * waits for a server that is away or silent, nor does an aborted fetch. And its renewal after
 * a reconnect. The real server is exercised in test/conformance/nats.test.ts and
 * test/outage/nats-outage.test.ts.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { type Pulled, Puller } from './puller.js';

type Callback = (error: Error | null, msg: Msg) => void;

/**
 * A connection that records pull requests and lets the test play the server; with
 * `silent`, a drain is never confirmed (a server that stopped answering).
 */
function standIn(onDrain: (deliver: (msg: Msg) => void) => void = () => {}, silent = false) {
  let callback: Callback = () => {};
  const requests: Array<{ subject: string; body: unknown; reply: string }> = [];
  let drained = false;
  let unsubscribed = false;
  const nc = {
    subscribe: (_subject: string, options: { callback: Callback }) => {
      callback = options.callback;
      return {
        drain: async () => {
          onDrain((msg) => callback(null, msg));
          drained = true;
          if (silent) await new Promise(() => {});
        },
        unsubscribe: () => {
          unsubscribed = true;
        },
      };
    },
    publish: (subject: string, body: string, options: { reply: string }) => {
      requests.push({ subject, body: JSON.parse(body), reply: options.reply });
    },
  } as unknown as NatsConnection;
  return {
    nc,
    requests,
    deliver: (msg: Msg) => callback(null, msg),
    drained: () => drained,
    unsubscribed: () => unsubscribed,
  };
}

const data = (seq: number) => ({ subject: '_INBOX.x.1', reply: `$JS.ACK.S.d.1.${seq}.${seq}.1700000000000000000.0` }) as Msg;
const status = (subject: string, code: number) => ({ subject, reply: '', headers: { code, description: '' } }) as unknown as Msg;

describe('Puller.close', () => {
  it('gives back a message that arrives while the subscription drains', async () => {
    const late = data(7);
    const server = standIn((deliver) => deliver(late));
    const puller = new Puller(server.nc, '_INBOX.x', 'S', 'd', 1_000);
    const abort = new AbortController();
    const pulling = puller.pull(5, abort.signal);
    // no_wait finds nothing (404), so a long poll for one message goes out and waits.
    server.deliver(status(`_INBOX.x.${server.requests.length}`, 404));
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.requests.map((r) => r.body)).toEqual([
      { batch: 5, no_wait: true },
      { batch: 1, expires: 1_000_000_000 },
    ]);
    abort.abort();
    expect(await pulling).toEqual([]);
    const givenBack: Pulled[] = [];
    await puller.close((p) => {
      givenBack.push(p);
    });
    expect(server.drained()).toBe(true);
    expect(givenBack.map((p) => p.msg)).toEqual([late]);
  });

  it('gives back buffered messages and waits for each give-back', async () => {
    const server = standIn();
    const puller = new Puller(server.nc, '_INBOX.x', 'S', 'd', 1_000);
    const abort = new AbortController();
    const pulling = puller.pull(1, abort.signal);
    server.deliver(status(`_INBOX.x.${server.requests.length}`, 404));
    await new Promise((resolve) => setImmediate(resolve));
    abort.abort();
    await pulling;
    server.deliver(data(3)); // the long poll's answer, after its fetch was aborted: buffered
    expect(puller.buffered).toBe(1);
    let finished = 0;
    await puller.close(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      finished++;
    });
    expect(finished).toBe(1);
    expect(puller.buffered).toBe(0);
  });

  it('a fetch waiting for an answer when the member closes returns nothing', async () => {
    const server = standIn();
    const puller = new Puller(server.nc, '_INBOX.x', 'S', 'd', 1_000);
    const pulling = puller.pull(5); // its no_wait request is never answered
    await puller.close(() => {});
    expect(await pulling).toEqual([]);
  });

  it('with the connection down, unsubscribes and gives back without draining (a drain would wait for a reconnect)', async () => {
    const server = standIn((deliver) => deliver(data(9)));
    const puller = new Puller(server.nc, '_INBOX.x', 'S', 'd', 1_000, () => false);
    const abort = new AbortController();
    const pulling = puller.pull(1, abort.signal);
    server.deliver(status(`_INBOX.x.${server.requests.length}`, 404));
    await new Promise((resolve) => setImmediate(resolve));
    abort.abort();
    await pulling;
    server.deliver(data(3)); // buffered before the connection went
    const givenBack: Pulled[] = [];
    await puller.close((p) => void givenBack.push(p));
    expect(server.drained()).toBe(false);
    expect(server.unsubscribed()).toBe(true);
    expect(givenBack.map((p) => p.msg)).toEqual([data(3)]);
  });

  it('stops waiting for a drain the server never confirms', async () => {
    const server = standIn(() => {}, true);
    const puller = new Puller(server.nc, '_INBOX.x', 'S', 'd', 1_000);
    await puller.close(() => {});
    expect(server.drained()).toBe(true);
  });

  it('a failing give-back does not fail close (the server redelivers after ack_wait)', async () => {
    const server = standIn((deliver) => deliver(data(9)));
    const puller = new Puller(server.nc, '_INBOX.x', 'S', 'd', 1_000);
    await expect(
      puller.close(() => {
        throw new Error('store gone');
      }),
    ).resolves.toBeUndefined();
  });
});

describe('Puller.pull', () => {
  it('an abort while its no_wait request is unanswered returns [] at once (no answer comes while the connection is down)', async () => {
    const server = standIn();
    const puller = new Puller(server.nc, '_INBOX.x', 'S', 'd', 1_000);
    const abort = new AbortController();
    const pulling = puller.pull(5, abort.signal);
    expect(server.requests.map((r) => r.body)).toEqual([{ batch: 5, no_wait: true }]);
    abort.abort();
    const turn = new Promise((resolve) => setImmediate(() => resolve('still waiting')));
    expect(await Promise.race([pulling, turn])).toEqual([]);
    // An answer that comes after all is kept for the next fetch.
    server.deliver(data(5));
    expect(puller.buffered).toBe(1);
    await puller.close(() => {});
  });
});

describe('Puller.renew', () => {
  it('after a reconnect, a fetch waiting on its long poll asks afresh at once', async () => {
    const server = standIn();
    // A long poll of a minute: without renew the fetch would wait a minute and five seconds.
    const puller = new Puller(server.nc, '_INBOX.x', 'S', 'd', 60_000);
    const pulling = puller.pull(5);
    server.deliver(status(`_INBOX.x.${server.requests.length}`, 404));
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.requests.map((r) => r.body)).toEqual([
      { batch: 5, no_wait: true },
      { batch: 1, expires: 60_000_000_000 },
    ]);
    // The server restarted: the long poll died with it.
    puller.renew();
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.requests.map((r) => r.body).slice(2)).toEqual([{ batch: 5, no_wait: true }]);
    const fresh = server.requests.at(-1)?.reply as string;
    server.deliver({ ...data(4), subject: fresh } as Msg);
    server.deliver(status(fresh, 408)); // the no_wait request's end: one message was all there was
    expect((await pulling).map((p) => p.msg.reply)).toEqual([data(4).reply]);
    await puller.close(() => {});
  });
});
