import { describe, expect, it } from 'vitest';
import { formatClockMillis, formatSeedJson, formatTimeColumn } from './output.js';
import { displayWidth, formatTable } from './table.js';

describe('formatTable', () => {
  it("pads every column to its widest cell, with the seed's |---| separator", () => {
    expect(
      formatTable(
        ['Time', 'Event', 'Agent'],
        [
          ['10:00', 'FeatureStarted', '/orchestrator'],
          ['10:05', 'DesignStarted', '/backend-architect'],
        ],
      ),
    ).toBe(
      [
        '| Time  | Event          | Agent              |',
        '|-------|----------------|--------------------|',
        '| 10:00 | FeatureStarted | /orchestrator      |',
        '| 10:05 | DesignStarted  | /backend-architect |',
      ].join('\n'),
    );
  });

  it('escapes pipes and flattens line breaks so a cell cannot break the row', () => {
    expect(formatTable(['A'], [['x|y\nz']]).split('\n')[2]).toBe('| x\\|y z |');
  });

  it("lines up emoji cells as a terminal shows them: ✅ and ⏳ take two columns, like the seed's status table", () => {
    expect(
      formatTable(
        ['Event', 'Status', 'Received At'],
        [
          ['APIDesignCompleted', '✅ Received', '10:30'],
          ['TestPlanCompleted', '⏳ Waiting', '-'],
        ],
      ),
    ).toBe(
      [
        '| Event              | Status      | Received At |',
        '|--------------------|-------------|-------------|',
        '| APIDesignCompleted | ✅ Received | 10:30       |',
        '| TestPlanCompleted  | ⏳ Waiting  | -           |',
      ].join('\n'),
    );
    expect(displayWidth('🟢 Healthy')).toBe(10);
    expect(displayWidth('✖ failed')).toBe(8);
    expect(displayWidth('e\u0301')).toBe(1);
  });

  it('prints only the header and separator when there are no rows, and fills short rows', () => {
    expect(formatTable(['Seq', 'Time'], [])).toBe('| Seq | Time |\n|-----|------|');
    expect(formatTable(['Seq', 'Time'], [['1']]).split('\n')[2]).toBe('| 1   |      |');
  });
});

describe('time formats', () => {
  it('shows HH:MM:SS (UTC) when all times fall on one day, full dates otherwise', () => {
    expect(formatTimeColumn(['2025-11-29T14:30:00Z', '2025-11-29T16:30:00+02:00'])).toEqual(['14:30:00', '14:30:00']);
    expect(formatTimeColumn(['2025-11-29T14:30:00Z', '2025-11-30T00:00:00Z'])).toEqual([
      '2025-11-29 14:30:00',
      '2025-11-30 00:00:00',
    ]);
  });

  it('shows milliseconds for timelines that run in milliseconds', () => {
    expect(formatClockMillis('2025-11-29T14:30:00.042Z')).toBe('14:30:00.042');
  });
});

describe('formatSeedJson', () => {
  it('lays out the saga coordinator JSON as the seed does: small records of a list on one line', () => {
    const saga = {
      saga_id: 'deploy-feature-xyz',
      current_step: 3,
      status: 'in_progress',
      completed_steps: [
        { step: 1, event: 'ArtifactBuilt' },
        { step: 2, event: 'TestsPassed' },
      ],
      compensation_stack: [],
    };
    expect(formatSeedJson(saga)).toBe(
      [
        '{',
        '  "saga_id": "deploy-feature-xyz",',
        '  "current_step": 3,',
        '  "status": "in_progress",',
        '  "completed_steps": [',
        '    { "step": 1, "event": "ArtifactBuilt" },',
        '    { "step": 2, "event": "TestsPassed" }',
        '  ],',
        '  "compensation_stack": []',
        '}',
      ].join('\n'),
    );
    expect(JSON.parse(formatSeedJson(saga))).toEqual(saga);
  });

  it('keeps nested records indented, and strings escaped', () => {
    const value = { a: [{ b: { c: 1 } }, 'x"y', null], d: {} };
    expect(JSON.parse(formatSeedJson(value))).toEqual(value);
    expect(formatSeedJson(value)).toContain('    {\n      "b": {');
  });
});
