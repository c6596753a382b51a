/**
 * The recorder's copies of what this process published: copied when remembered, taken once,
 * bounded (full, it takes nothing more), and forgotten once the recorder is far past them.
 */
import { describe, expect, it } from 'vitest';
import type { AppendItem } from '../../store/event-store.js';
import { LocalCopies } from './local-copies.js';

function published(id: string): AppendItem {
  const envelope = {
    event: { id, type: 'TaskCompletedEvent', correlation_id: id },
    routing: { topic: 'project.tasks' },
    payload: { id },
  } as unknown as AppendItem['envelope'];
  return { envelope, text: JSON.stringify(envelope) };
}

describe('LocalCopies', () => {
  it('returns the published text with a copy of the headers, once', () => {
    const copies = new LocalCopies(10);
    const item = published('a');
    copies.remember(1, item);
    item.envelope.routing.topic = 'changed';
    item.envelope.event.correlation_id = 'changed';
    const taken = copies.take(1);
    expect(taken?.text).toBe(item.text);
    expect(taken?.envelope.routing.topic).toBe('project.tasks');
    expect(taken?.envelope.event.correlation_id).toBe('a');
    expect(copies.take(1)).toBeUndefined();
  });

  it('takes nothing more when full, keeping the oldest for a lagging recorder', () => {
    const copies = new LocalCopies(2);
    copies.remember(1, published('a'));
    copies.remember(2, published('b'));
    copies.remember(3, published('c'));
    expect(copies.size).toBe(2);
    expect(copies.take(1)?.text).toContain('"a"');
    expect(copies.take(3)).toBeUndefined();
  });

  it('forgets entries far behind what the recorder reached', () => {
    const copies = new LocalCopies(3);
    copies.remember(1, published('a'));
    copies.remember(2, published('b'));
    copies.remember(9, published('c'));
    expect(copies.take(8)).toBeUndefined();
    expect(copies.size).toBe(1);
    expect(copies.take(9)?.text).toContain('"c"');
  });
});
