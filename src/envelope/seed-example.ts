/**
 * The seed's "Standard Event Structure" example envelope, exactly as the spec prints it.
 * Handy for trying things out, and the fixture the tests and the demo share.
 */
/** The seed's example `TaskCompletedEvent` from `/backend-architect`. */
export const SEED_EXAMPLE = {
  event: {
    id: 'evt-20251129-143000-abc123',
    type: 'TaskCompletedEvent',
    source: '/backend-architect',
    timestamp: '2025-11-29T14:30:00Z',
    version: '1.0',
    correlation_id: 'project-xyz-123',
    causation_id: 'evt-previous-id',
  },
  payload: {
    task_id: 'T1',
    task_name: 'API Design',
    status: 'completed',
    result: { endpoints: 12, schemas: 5 },
    metadata: { duration_minutes: 45, quality_score: 0.95 },
  },
  routing: { topic: 'project.tasks', partition_key: 'project-xyz', priority: 'normal' },
} as const;
