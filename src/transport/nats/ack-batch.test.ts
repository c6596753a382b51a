/**
 * Acks are queued and sent together once per turn of the event loop; an urgent one (a lease
 * about to end) goes at once; flush sends what is queued.
 */
import type { Msg } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { AckBatch } from './ack-batch.js';

function message(sent: string[], name: string): Msg {
  return {
    respond: (data: Uint8Array) => {
      sent.push(`${name} ${new TextDecoder().decode(data)}`);
      return true;
    },
  } as unknown as Msg;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('AckBatch', () => {
  it('sends the acks of one turn together, after it', async () => {
    const sent: string[] = [];
    const acks = new AckBatch();
    acks.ack(message(sent, 'a'));
    await Promise.resolve();
    acks.ack(message(sent, 'b'));
    expect(sent).toEqual([]);
    await turn();
    expect(sent).toEqual(['a +ACK', 'b +ACK']);
  });

  it('sends an urgent ack at once, and flush sends the queue at once', () => {
    const sent: string[] = [];
    const acks = new AckBatch();
    acks.ack(message(sent, 'queued'));
    acks.ack(message(sent, 'urgent'), true);
    expect(sent).toEqual(['urgent +ACK']);
    acks.flush();
    expect(sent).toEqual(['urgent +ACK', 'queued +ACK']);
  });

  it('keeps sending the rest when one send fails (closed connection)', async () => {
    const sent: string[] = [];
    const acks = new AckBatch();
    acks.ack({
      respond: () => {
        throw new Error('closed');
      },
    } as unknown as Msg);
    acks.ack(message(sent, 'next'));
    await turn();
    expect(sent).toEqual(['next +ACK']);
  });
});
