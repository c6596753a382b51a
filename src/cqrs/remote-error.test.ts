import { describe, expect, it } from 'vitest';
import { AgentbusError, NonRetryableError, isAgentbusError } from '../errors.js';
import { fromRemoteError, toRemoteError } from './remote-error.js';

const roundTrip = (error: unknown) =>
  fromRemoteError(JSON.parse(JSON.stringify(toRemoteError(error))), { kind: 'command', type: 'CreateUserCommand' });

describe('errors across the bus', () => {
  it('keeps the code and details of an AgentbusError', () => {
    const back = roundTrip(new AgentbusError('CONCURRENCY_CONFLICT', 'user exists', { stream: 'user-1' }));
    expect(isAgentbusError(back, 'CONCURRENCY_CONFLICT')).toBe(true);
    expect((back as AgentbusError).details).toEqual({ stream: 'user-1', commandType: 'CreateUserCommand' });
    expect(back.message).toBe('command CreateUserCommand: user exists');
  });

  it('turns a NonRetryableError back into one with its code', () => {
    const back = roundTrip(new NonRetryableError('bad email', { code: 'invalid_email' }));
    expect(back).toBeInstanceOf(NonRetryableError);
    expect((back as NonRetryableError).code).toBe('invalid_email');
  });

  it('reports anything else as HANDLER_FAILED with the error name, and an unknown code too', () => {
    const plain = roundTrip(new RangeError('out of range'));
    expect(isAgentbusError(plain, 'HANDLER_FAILED')).toBe(true);
    expect((plain as AgentbusError).details.errorName).toBe('RangeError');
    expect(isAgentbusError(roundTrip('a string'), 'HANDLER_FAILED')).toBe(true);
    const forged = fromRemoteError(
      { kind: 'agentbus', code: 'MADE_UP', message: 'm', name: 'AgentbusError', details: {} },
      { kind: 'query', type: 'Q' },
    );
    expect(isAgentbusError(forged, 'HANDLER_FAILED')).toBe(true);
  });
});
