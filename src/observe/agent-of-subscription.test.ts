import { describe, expect, it } from 'vitest';
import { aggregatorSource } from '../workflows/aggregator.js';
import { sagaSource } from '../workflows/saga.js';
import { agentOfSubscription } from './status.js';

describe('agentOfSubscription', () => {
  it('takes the agent of the runtime subscription names', () => {
    expect(agentOfSubscription('/frontend-specialist:tasks')).toBe('/frontend-specialist');
    expect(agentOfSubscription('/frontend-specialist#2')).toBe('/frontend-specialist');
    expect(agentOfSubscription('billing-worker')).toBe('billing-worker');
  });

  it("gives a saga's or aggregator's subscription the source it publishes under, so it makes one row", () => {
    expect(agentOfSubscription('saga:deploy-feature')).toBe(sagaSource('deploy-feature'));
    expect(agentOfSubscription('aggregator:phase1-complete')).toBe(aggregatorSource('phase1-complete'));
    expect(agentOfSubscription('aggregator:phase1-complete')).toBe('/agentbus/aggregators/phase1-complete');
  });
});
