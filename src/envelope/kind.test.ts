import { describe, expect, it } from 'vitest';
import { inferKind } from './kind.js';

describe('inferKind', () => {
  it.each([
    ['CreateUserCommand', 'command'],
    ['GetUserQuery', 'query'],
    ['UserNotification', 'notification'],
    ['UserCreatedEvent', 'event'],
    ['TaskCompleted', 'event'],
    ['Command', 'command'],
  ])('infers %s as a %s', (type, kind) => {
    expect(inferKind(type)).toBe(kind);
  });

  it('matches the suffix case-sensitively', () => {
    expect(inferKind('Createcommand')).toBe('event');
    expect(inferKind('CommandIssued')).toBe('event');
  });
});
