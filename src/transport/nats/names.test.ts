import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../errors.js';
import {
  MAX_DURABLE_LENGTH,
  durableName,
  copyOfAckReply,
  parseAckReply,
  subjectOf,
  subscriptionOfDurable,
  topicOf,
  validateStreamName,
  validateSubjectPrefix,
} from './names.js';

const hash = (text: string) => `hash${text.length}`;
const subscriptionName = fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,200}$/);

describe('NATS name mapping', () => {
  it('maps agent names onto durable names without the characters JetStream forbids', () => {
    expect(durableName('/frontend-specialist', hash)).toBe('_sfrontend-specialist');
    expect(durableName('billing.invoices:v2_a', hash)).toBe('billing_dinvoices_cv2__a');
  });

  it('maps every subscription name reversibly onto a legal durable name', () => {
    fc.assert(
      fc.property(subscriptionName, (name) => {
        const durable = durableName(name, hash);
        expect(durable).not.toMatch(/[.*>/\\\s]/);
        if (durable.length <= MAX_DURABLE_LENGTH && !durable.startsWith('h-')) expect(subscriptionOfDurable(durable)).toBe(name);
      }),
    );
  });

  it('keeps distinct names distinct', () => {
    fc.assert(
      fc.property(subscriptionName, subscriptionName, (a, b) => {
        if (a !== b) expect(durableName(a, hash)).not.toBe(durableName(b, hash));
      }),
      { numRuns: 500 },
    );
    expect(durableName('a_s', hash)).not.toBe(durableName('a/', hash));
  });

  it('hashes names whose escaped form is too long', () => {
    const long = '/'.repeat(150);
    expect(durableName(long, hash)).toBe('h-hash150');
    expect(subscriptionOfDurable('h-hash150')).toBe('h-hash150');
  });

  it('escapes characters outside the name alphabet by code point', () => {
    expect(durableName('a b', hash)).toBe('a_x20_b');
    expect(subscriptionOfDurable('a_x20_b')).toBe('a b');
    expect(subscriptionOfDurable('bad_q')).toBeUndefined();
    expect(subscriptionOfDurable('bad.name')).toBeUndefined();
  });

  it('puts topics under the prefix and takes them back', () => {
    expect(subjectOf('agentbus', 'project.tasks')).toBe('agentbus.project.tasks');
    expect(subjectOf('run1.ab', 'project.>')).toBe('run1.ab.project.>');
    expect(topicOf('agentbus', 'agentbus.project.*')).toBe('project.*');
    expect(topicOf('agentbus', 'other.project')).toBeUndefined();
  });

  it('refuses stream names and prefixes JetStream cannot take, naming the field', () => {
    expect(validateStreamName('AGENTBUS_1')).toBe('AGENTBUS_1');
    for (const bad of ['', 'a.b', 'a b', 'a*', 'x'.repeat(65), 3]) {
      const error = (() => {
        try {
          validateStreamName(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field).toBe('stream');
    }
    expect(validateSubjectPrefix('run-1.agentbus')).toBe('run-1.agentbus');
    for (const bad of ['', 'a.', '.a', 'a.*', 'a.>', 'a b']) expect(() => validateSubjectPrefix(bad)).toThrow(/subjectPrefix/);
  });

  it('reads delivery count, stream sequence and storage time from an ack subject of 2.9 and of later servers', () => {
    expect(parseAckReply('$JS.ACK.S.c.3.17.20.1795485488117446834.4')).toEqual({
      deliveryCount: 3,
      streamSeq: 17,
      storedAt: 1795485488117,
    });
    expect(parseAckReply('$JS.ACK.hub.ACCHASH.S.c.2.5.9.1795485488117446834.0.tok')).toMatchObject({
      deliveryCount: 2,
      streamSeq: 5,
    });
    expect(parseAckReply('_INBOX.abc.1')).toBeUndefined();
    expect(parseAckReply('$JS.ACK.S.c.x.1.1.1.0')).toBeUndefined();
  });

  it('names a stored copy by stream, consumer, sequence and stored time, not by delivery', () => {
    const first = copyOfAckReply('$JS.ACK.S.c.1.17.20.1795485488117446834.4');
    expect(first).toBe('S.c.17.1795485488117446834');
    expect(copyOfAckReply('$JS.ACK.S.c.3.17.25.1795485488117446834.0')).toBe(first);
    expect(copyOfAckReply('$JS.ACK.S.other.1.17.20.1795485488117446834.4')).not.toBe(first);
    expect(copyOfAckReply('$JS.ACK.hub.ACCHASH.S.c.2.5.9.1795485488117446834.0.tok')).toBe('S.c.5.1795485488117446834');
    expect(copyOfAckReply('_INBOX.abc.1')).toBeUndefined();
  });
});
