import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../errors.js';
import { compilePattern, type EventPattern, matchPattern } from './index.js';

/** The sample event of the EventBridge and Event Ruler documentation. */
const EC2 = {
  version: '0',
  id: 'ddddd4-aaaa-7777-4444-345dd43cc333',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '012345679012',
  time: '2017-10-02T16:24:49Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
  detail: {
    'c-count': 5,
    'd-count': 3,
    'x-limit': 301.8,
    'source-ip': '10.0.0.33',
    'instance-id': 'i-000000aaaaaa00000',
    state: 'running',
  },
};

const EMPLOYEES = {
  employees: [
    { firstName: 'John', lastName: 'Doe' },
    { firstName: 'Anna', lastName: 'Smith' },
    { firstName: 'Peter', lastName: 'Jones' },
  ],
};

type Case = readonly [name: string, pattern: EventPattern, event: unknown, expected: boolean];

/** Cases from the EventBridge content-filtering docs and the Event Ruler README. */
const CASES: readonly Case[] = [
  // exact values, AND across fields, OR within an array
  [
    'exact values across fields',
    {
      'detail-type': ['EC2 Instance State-change Notification'],
      resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000'],
      detail: { state: ['initializing', 'running'] },
    },
    EC2,
    true,
  ],
  ['one field of several does not match', { source: ['aws.ec2'], detail: { state: ['stopped'] } }, EC2, false],
  ['exact match is case-sensitive', { source: ['AWS.EC2'] }, EC2, false],
  ['a field missing from the event', { detail: { missing: ['x'] } }, EC2, false],
  ['an event array intersects the pattern array', { tags: ['b', 'z'] }, { tags: ['a', 'b'] }, true],
  ['an event array without the value', { tags: ['z'] }, { tags: ['a', 'b'] }, false],
  ['empty string', { LastName: [''] }, { LastName: '' }, true],
  ['empty string vs absent', { LastName: [''] }, {}, false],
  ['null', { responseElements: [null] }, { responseElements: null }, true],
  ['null vs absent', { responseElements: [null] }, {}, false],
  ['numbers match numerically (300 vs 3.0e2)', { n: [300] }, JSON.parse('{"n": 3.0e2}'), true],
  ['a number does not match its string', { n: [5] }, { n: '5' }, false],
  ['a string does not match the number', { n: ['5'] }, { n: 5 }, false],
  ['booleans', { ok: [true] }, { ok: true }, true],
  ['boolean vs string', { ok: [true] }, { ok: 'true' }, false],
  // prefix / suffix / equals-ignore-case
  ['prefix', { time: [{ prefix: '2017-10-02' }] }, EC2, true],
  ['prefix, other date', { time: [{ prefix: '2017-10-03' }] }, EC2, false],
  [
    'prefix ignoring case',
    { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } },
    { detail: { service: 'eventbridge' } },
    true,
  ],
  [
    'prefix ignoring case, other prefix',
    { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] },
    { service: 'lambda' },
    false,
  ],
  ['prefix only on strings', { n: [{ prefix: '1' }] }, { n: 12 }, false],
  ['suffix', { FileName: [{ suffix: '.png' }] }, { FileName: 'image.png' }, true],
  ['suffix, other extension', { FileName: [{ suffix: '.png' }] }, { FileName: 'image.jpg' }, false],
  ['suffix ignoring case', { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] }, { FileName: 'IMAGE.PNG' }, true],
  ['equals-ignore-case', { Name: [{ 'equals-ignore-case': 'alice' }] }, { Name: 'ALICE' }, true],
  ['equals-ignore-case, other name', { Name: [{ 'equals-ignore-case': 'alice' }] }, { Name: 'Alicia' }, false],
  // wildcard
  ['wildcard', { source: [{ wildcard: 'Simple*Service' }] }, { source: 'SimpleQueueService' }, true],
  ['wildcard, star matches nothing', { source: [{ wildcard: 'Simple*Service' }] }, { source: 'SimpleService' }, true],
  ['wildcard, no match', { source: [{ wildcard: 'Simple*Service' }] }, { source: 'SimpleQueue' }, false],
  [
    'wildcard with several stars',
    { EventBusArn: [{ wildcard: 'arn:aws:events:us-east-1:*:event-bus/*' }] },
    { EventBusArn: 'arn:aws:events:us-east-1:123456789012:event-bus/default' },
    true,
  ],
  ['wildcard, escaped star is literal', { k: [{ wildcard: 'a\\*b' }] }, { k: 'a*b' }, true],
  ['wildcard, escaped star is not a wildcard', { k: [{ wildcard: 'a\\*b' }] }, { k: 'axb' }, false],
  ['wildcard, escaped backslash', { k: [{ wildcard: 'a\\\\*' }] }, { k: 'a\\bc' }, true],
  // anything-but
  ['anything-but string', { detail: { state: [{ 'anything-but': 'initializing' }] } }, EC2, true],
  ['anything-but the value present', { detail: { state: [{ 'anything-but': 'running' }] } }, EC2, false],
  ['anything-but number', { detail: { 'x-limit': [{ 'anything-but': 123 }] } }, EC2, true],
  ['anything-but list of strings', { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } }, EC2, true],
  ['anything-but list of numbers', { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } }, EC2, true],
  ['anything-but list holding the value', { detail: { 'x-limit': [{ 'anything-but': [301.8] }] } }, EC2, false],
  ['anything-but needs the field', { detail: { missing: [{ 'anything-but': 'x' }] } }, EC2, false],
  ['anything-but prefix', { detail: { state: [{ 'anything-but': { prefix: 'init' } }] } }, EC2, true],
  ['anything-but prefix, value has it', { detail: { state: [{ 'anything-but': { prefix: 'run' } }] } }, EC2, false],
  ['anything-but suffix', { FileName: [{ 'anything-but': { suffix: '.png' } }] }, { FileName: 'a.jpg' }, true],
  ['anything-but suffix, value has it', { FileName: [{ 'anything-but': { suffix: '.png' } }] }, { FileName: 'a.png' }, false],
  [
    'anything-but ignoring case',
    { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] },
    { state: 'INITIALIZING' },
    false,
  ],
  [
    'anything-but ignoring case, other value',
    { state: [{ 'anything-but': { 'equals-ignore-case': ['initializing', 'stopped'] } }] },
    { state: 'Running' },
    true,
  ],
  ['anything-but wildcard', { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] }, { FilePath: '/usr/lib/x.so' }, false],
  [
    'anything-but wildcard, other path',
    { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
    { FilePath: '/usr/bin/x' },
    true,
  ],
  ['anything-but on an array: any other element', { tags: [{ 'anything-but': 'a' }] }, { tags: ['a', 'b'] }, true],
  ['anything-but on an array: only excluded elements', { tags: [{ 'anything-but': 'a' }] }, { tags: ['a', 'a'] }, false],
  // numeric
  [
    'numeric range and equality',
    {
      detail: {
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ numeric: ['=', 3.018e2] }],
      },
    },
    EC2,
    true,
  ],
  ['numeric, outside the range', { detail: { 'c-count': [{ numeric: ['>', 5] }] } }, EC2, false],
  ['numeric, inclusive bound', { detail: { 'c-count': [{ numeric: ['>=', 5] }] } }, EC2, true],
  ['numeric, upper bound first', { detail: { 'c-count': [{ numeric: ['<', 6, '>', 4] }] } }, EC2, true],
  ['numeric only on numbers', { n: [{ numeric: ['>', 0] }] }, { n: '5' }, false],
  ['numeric, one array element in range', { n: [{ numeric: ['>', 10] }] }, { n: [1, 20] }, true],
  // cidr
  ['cidr', { detail: { 'source-ip': [{ cidr: '10.0.0.0/24' }] } }, EC2, true],
  ['cidr, wider block', { detail: { 'source-ip': [{ cidr: '10.0.0.0/8' }] } }, EC2, true],
  ['cidr, other block', { detail: { 'source-ip': [{ cidr: '10.0.1.0/24' }] } }, EC2, false],
  ['cidr, IPv6', { ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:0db8:1::ff' }, true],
  ['cidr, IPv6 other block', { ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db9::1' }, false],
  ['cidr, not an address', { ip: [{ cidr: '10.0.0.0/8' }] }, { ip: 'ten' }, false],
  // exists
  ['exists true', { detail: { 'c-count': [{ exists: true }] } }, EC2, true],
  ['exists true, absent', { detail: { missing: [{ exists: true }] } }, EC2, false],
  ['exists false, absent', { detail: { missing: [{ exists: false }] } }, EC2, true],
  ['exists false, present', { detail: { 'c-count': [{ exists: false }] } }, EC2, false],
  [
    'exists false, intermediate node',
    { detail: { 'c-count': [{ exists: false }] } },
    { detail: { 'c-count': { c1: 100 } } },
    true,
  ],
  [
    'exists true, intermediate node',
    { detail: { 'c-count': [{ exists: true }] } },
    { detail: { 'c-count': { c1: 100 } } },
    false,
  ],
  ['exists false, absent parent', { detail: { 'c-count': [{ exists: false }] } }, {}, true],
  ['exists true, null is a value', { v: [{ exists: true }] }, { v: null }, true],
  ['exists false, empty array', { v: [{ exists: false }] }, { v: [] }, true],
  ['exists false or a value', { v: [{ exists: false }, 'x'] }, { v: 'x' }, true],
  // complex example
  [
    'complex example',
    {
      time: [{ prefix: '2017-10-02' }],
      detail: {
        state: [{ 'anything-but': 'initializing' }],
        'c-count': [{ numeric: ['>', 0, '<=', 5] }],
        'd-count': [{ numeric: ['<', 10] }],
        'x-limit': [{ 'anything-but': [100, 200, 300] }],
        'source-ip': [{ cidr: '10.0.0.0/8' }],
      },
    },
    EC2,
    true,
  ],
  // $or
  [
    '$or, second alternative',
    {
      source: ['aws.cloudwatch'],
      $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
    },
    { source: 'aws.cloudwatch', namespace: 'AWS/EC2' },
    true,
  ],
  [
    '$or, no alternative',
    { source: ['aws.cloudwatch'], $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }] },
    { source: 'aws.cloudwatch', namespace: 'AWS/S3' },
    false,
  ],
  [
    '$or, nested and parallel',
    {
      $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }],
      detail: { $or: [{ source: ['aws.cloudwatch'] }, { 'detail-type': ['CloudWatch Alarm State Change'] }] },
    },
    { metricName: 'CPUUtilization', detail: { 'detail-type': 'CloudWatch Alarm State Change' } },
    true,
  ],
  [
    '$or with an AND inside',
    {
      source: ['aws.cloudwatch'],
      $or: [
        { metricName: ['x'] },
        { metricType: ['MetricType'], namespace: ['AWS/EC2'], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
      ],
    },
    { source: 'aws.cloudwatch', metricType: 'MetricType', namespace: 'AWS/EC2', spaceId: 1000 },
    true,
  ],
  // arrays of objects
  ['array of objects', { employees: { firstName: ['Anna'] } }, EMPLOYEES, true],
  [
    'array consistency: fields from different elements',
    { employees: { firstName: ['Anna'], lastName: ['Jones'] } },
    EMPLOYEES,
    false,
  ],
  ['array consistency: fields from one element', { employees: { firstName: ['Anna'], lastName: ['Smith'] } }, EMPLOYEES, true],
  [
    'multi-level arrays',
    { employees: { firstName: ['Peter'] } },
    { employees: [[{ firstName: 'John' }], [{ firstName: 'Peter' }]] },
    true,
  ],
  ['nested pattern vs a scalar', { detail: { state: ['running'] } }, { detail: 'running' }, false],
  ['field names are own properties only', { constructor: [{ exists: true }] }, {}, false],
];

describe('matchPattern (EventBridge semantics)', () => {
  it.each(CASES)('%s', (_name, pattern, event, expected) => {
    expect(matchPattern(pattern, event)).toBe(expected);
  });

  it('compiles once per pattern object', () => {
    const pattern: EventPattern = { source: ['aws.ec2'] };
    expect(compilePattern(pattern)).toBe(compilePattern(pattern));
  });

  it('filters whole envelopes', () => {
    const envelope = {
      event: { type: 'TaskCompletedEvent', source: '/backend-architect' },
      payload: { status: 'completed', result: { endpoints: 12 } },
      routing: { topic: 'project.tasks', priority: 'normal' },
    };
    const pattern: EventPattern = {
      event: { type: ['TaskCompletedEvent'] },
      routing: { topic: [{ prefix: 'project.' }] },
      payload: { result: { endpoints: [{ numeric: ['>', 10] }] } },
    };
    expect(matchPattern(pattern, envelope)).toBe(true);
  });
});

/** Runtime-invalid patterns, as they may come from a config file. */
const INVALID: readonly [description: string, pattern: unknown, field: string, reason: RegExp][] = [
  ['a bare scalar leaf', { payload: { severity: 'high' } }, 'filter.payload.severity', /write \["high"\] to match it exactly/],
  ['an empty array', { source: [] }, 'filter.source', /empty array/],
  ['an empty object', {}, 'filter', /empty object/],
  ['an unknown operator', { source: [{ contains: 'x' }] }, 'filter.source[0]', /unknown operator 'contains'/],
  ['two operators in one object', { source: [{ prefix: 'a', suffix: 'b' }] }, 'filter.source[0]', /exactly one operator/],
  ['a nested array leaf', { source: [['a']] }, 'filter.source[0]', /got an array/],
  ['consecutive wildcards', { source: [{ wildcard: 'a**b' }] }, 'filter.source[0].wildcard', /consecutive wildcards/],
  ['a bad escape in a wildcard', { source: [{ wildcard: 'a\\b' }] }, 'filter.source[0].wildcard', /backslash may only escape/],
  ['two lower bounds', { n: [{ numeric: ['>', 1, '>=', 2] }] }, 'filter.n[0].numeric', /one lower bound/],
  ['an empty range', { n: [{ numeric: ['>', 5, '<', 5] }] }, 'filter.n[0].numeric', /empty range/],
  ['a non-number bound', { n: [{ numeric: ['>', '5'] }] }, 'filter.n[0].numeric[1]', /finite number/],
  ['an unknown numeric operator', { n: [{ numeric: ['!=', 5] }] }, 'filter.n[0].numeric[0]', /unknown numeric operator/],
  ['equality with a bound', { n: [{ numeric: ['=', 5, '<', 6] }] }, 'filter.n[0].numeric', /'=' alone/],
  ['a non-boolean exists', { n: [{ exists: 'yes' }] }, 'filter.n[0].exists', /true or false/],
  ['an invalid cidr', { ip: [{ cidr: '10.0.0.0/33' }] }, 'filter.ip[0].cidr', /IPv4 or IPv6/],
  ['an empty anything-but list', { s: [{ 'anything-but': [] }] }, 'filter.s[0].anything-but', /empty array/],
  [
    'anything-but numeric',
    { s: [{ 'anything-but': { numeric: ['>', 1] } }] },
    'filter.s[0].anything-but',
    /takes exactly one of/,
  ],
  ['prefix with a number', { s: [{ prefix: 1 }] }, 'filter.s[0].prefix', /string or \{"equals-ignore-case"/],
  ['an empty $or', { $or: [] }, 'filter.$or', /non-empty array/],
  ['a $or of non-objects', { $or: [['a']] }, 'filter.$or[0]', /pattern object/],
  ['a non-object pattern', 'type=x', 'filter', /pattern object/],
];

describe('compilePattern validation', () => {
  it.each(INVALID)('refuses %s with FILTER_SYNTAX naming the path', (_d, pattern, field, reason) => {
    try {
      // The pattern stands for JSON read from a file, so its static type is unknown.
      compilePattern(pattern as EventPattern);
      expect.unreachable();
    } catch (e) {
      expect(isAgentbusError(e, 'FILTER_SYNTAX')).toBe(true);
      if (!isAgentbusError(e)) return;
      expect(e.details.field).toBe(field);
      expect(e.details.reason).toMatch(reason);
      expect(e.message.startsWith(`${field}: `)).toBe(true);
    }
  });
});
