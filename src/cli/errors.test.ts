import { describe, expect, it } from 'vitest';
import { formatCommanderError } from './errors.js';

describe('formatCommanderError', () => {
  it("names a refused option's flag first, with the reason and the value given", () => {
    expect(
      formatCommanderError(
        "error: option '--priority <priority>' argument 'bogus' is invalid. Allowed choices are high, normal, low.\n",
      ),
    ).toBe("agentbus: --priority: allowed choices are high, normal, low (got 'bogus')\n");
  });

  it('names a refused argument first, with the reason and the value given', () => {
    expect(
      formatCommanderError(
        "error: command-argument value 'abc' is invalid for argument 'id'. Must be a whole number of at least 1.\n",
      ),
    ).toBe("agentbus: id: must be a whole number of at least 1 (got 'abc')\n");
  });

  it("keeps commander's other messages as one line", () => {
    expect(formatCommanderError("error: unknown option '--x'\n")).toBe("agentbus: unknown option '--x'\n");
    expect(formatCommanderError("error: required option '--topic <topic>' not specified\n")).toBe(
      "agentbus: required option '--topic <topic>' not specified\n",
    );
  });
});
