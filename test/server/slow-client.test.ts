/**
 * A live-stream client that stops reading: the server reads the log at the client's pace
 * (nothing piles up in memory) and disconnects it once one event has waited longer than
 * `slowClientMs`; the client can resume from its Last-Event-ID.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type TestServer, openSse, startTestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ slowClientMs: 1000 });
});
afterAll(async () => {
  await t?.close();
});

it('disconnects a client that stops reading, which then resumes where it was', async () => {
  const { port } = new URL(t.url);
  const socket = connect(Number(port), '127.0.0.1');
  let received = '';
  const firstData = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.on('data', (chunk) => {
    received += chunk.toString('latin1');
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write('GET /v1/events/stream?topic=slow.%3E HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n');
  await firstData;
  for (let i = 0; i < 50 && !received.includes('event: ready'); i++) await new Promise((r) => setTimeout(r, 20));
  socket.pause();

  // About 24 MB of events: far more than the socket buffers hold.
  const blob = 'x'.repeat(200 * 1024);
  for (let batch = 0; batch < 12; batch++) {
    await t.bus.publishBatch(
      Array.from({ length: 10 }, (_, i) => ({ topic: 'slow.big', type: 'BigEvent', payload: { i: batch * 10 + i, blob } })),
    );
  }
  for (let i = 0; i < 600 && !t.logs.some((l) => l.includes('disconnecting a slow client')); i++)
    await new Promise((r) => setTimeout(r, 50));
  expect(t.logs.find((l) => l.includes('disconnecting a slow client'))).toBeDefined();
  socket.resume();
  await closed;

  // Whatever reached the client, it resumes right after the last id it saw.
  const ids = [...received.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  const last = ids.length ? Math.max(...ids) : 0;
  const resumed = await openSse(`${t.url}/v1/events/stream?topic=slow.%3E&from=earliest`, { 'last-event-id': String(last) });
  const next = await resumed.nextEvent();
  resumed.close();
  expect(Number(next.id)).toBe(last + 1);
});
