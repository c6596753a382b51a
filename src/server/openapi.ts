/**
 * The OpenAPI 3.1 description served at `/openapi.json`, written by hand next to the routes
 * it describes. A test checks that every registered route appears here.
 */

/** A dashboard page or fragment as listed in the OpenAPI document. */
export interface PageRoute {
  readonly method: 'get' | 'post';
  /** Hono path, e.g. `/timeline/:correlation`. */
  readonly path: string;
  readonly summary: string;
  /** Query parameters it reads (OpenAPI parameter objects). */
  readonly query?: readonly unknown[];
}

type Operation = Record<string, unknown>;

const problemRef = { $ref: '#/components/responses/Problem' };
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const ok = (description: string, schema: unknown = { type: 'object' }) => ({ description, ...json(schema) });
const param = (name: string, where: 'query' | 'path', description: string, schema: unknown = { type: 'string' }) => ({
  name,
  in: where,
  required: where === 'path',
  description,
  schema,
});

function op(
  tag: string,
  summary: string,
  extra: Operation = {},
  success: Record<string, unknown> = { 200: ok('OK') },
): Operation {
  return {
    tags: [tag],
    summary,
    ...extra,
    responses: { ...success, 400: problemRef, 401: problemRef, 403: problemRef, default: problemRef },
  };
}

const HISTORY_PARAMS = [
  param('topic', 'query', 'Topic pattern (NATS wildcards: project.*, project.>)'),
  param('type', 'query', 'Event type'),
  param('correlation_id', 'query', 'Correlation id'),
  param('causation_id', 'query', 'Causation id'),
  param('since', 'query', 'RFC 3339: events at or after', { type: 'string', format: 'date-time' }),
  param('until', 'query', 'RFC 3339: events before', { type: 'string', format: 'date-time' }),
  param('from_seq', 'query', 'Lowest position, inclusive', { type: 'integer', minimum: 1 }),
  param('to_seq', 'query', 'Highest position, inclusive', { type: 'integer', minimum: 1 }),
  param('limit', 'query', 'At most this many (default 100, max 1000)', { type: 'integer', minimum: 1, maximum: 1000 }),
  param('direction', 'query', 'forward (oldest first) or backward', { enum: ['forward', 'backward'] }),
];

const NAME = param('name', 'path', 'Subscription name, percent-encoded (%2Fdeployer)');
/** The window of the status throughput and of the topics' events and publishers. */
export const WINDOW = param(
  'window',
  'query',
  'The recent window counted (throughput bars; topics: events and publishers): the last 15m, 1h, 24h... (whole minutes, 1m to 24h; default 1h)',
  { type: 'string', pattern: '^[0-9hm]+$' },
);
const DLQ_ID = param('id', 'path', 'Dead-letter id', { type: 'integer', minimum: 1 });
const SAGA_PATH = [
  param('saga', 'path', 'Saga definition name, percent-encoded when it holds /'),
  param('id', 'path', 'saga_id (its correlation id), percent-encoded'),
];

const API: Record<string, Record<string, Operation>> = {
  '/v1/events': {
    post: op(
      'events',
      'Publish: the seed envelope or an array of them (application/json), or CloudEvents (structured, batch, binary with ce-* headers)',
      {
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  { $ref: '#/components/schemas/Envelope' },
                  { type: 'array', items: { $ref: '#/components/schemas/Envelope' } },
                ],
              },
            },
            'application/cloudevents+json': { schema: { type: 'object' } },
            'application/cloudevents-batch+json': { schema: { type: 'array', items: { type: 'object' } } },
          },
        },
      },
      {
        201: ok('Stored envelope (or array, for an array or batch)', { $ref: '#/components/schemas/Envelope' }),
        409: problemRef,
        413: problemRef,
        415: problemRef,
        422: problemRef,
        429: problemRef,
      },
    ),
    get: op(
      'events',
      'History query, oldest first (or newest first with direction=backward)',
      { parameters: HISTORY_PARAMS },
      {
        200: ok('{ events: [{ seq, stored_at, envelope }], next_from_seq? }'),
      },
    ),
  },
  '/v1/events/stream': {
    get: op(
      'events',
      'Live tail as server-sent events; SSE id = position, resume with Last-Event-ID',
      {
        parameters: [
          param('topic', 'query', 'Topic pattern (default >)'),
          param('filter', 'query', 'Compact filter, e.g. type=TaskCompletedEvent and payload.status=completed'),
          param('from', 'query', 'earliest, latest (default) or a position'),
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
        ],
      },
      {
        200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        429: problemRef,
        503: problemRef,
      },
    ),
  },
  '/v1/events/{id}': {
    get: op(
      'events',
      'One event by id; one of a topic the token may not read is 404, as a missing one',
      { parameters: [param('id', 'path', 'Event id')] },
      { 200: ok('{ seq, stored_at, envelope }'), 404: problemRef },
    ),
  },
  '/v1/subscriptions': {
    get: op('subscriptions', 'Durable subscriptions whose whole pattern the token may read (admin: all)'),
    post: op(
      'subscriptions',
      'Create a webhook subscription (admin)',
      { requestBody: { required: true, ...json({ $ref: '#/components/schemas/WebhookSubscription' }) } },
      { 201: ok('The subscription'), 409: problemRef, 501: problemRef },
    ),
  },
  '/v1/subscriptions/{name}': {
    get: op(
      'subscriptions',
      'One subscription; one the token may not see is 404, as a missing one',
      { parameters: [NAME] },
      { 200: ok('The subscription'), 404: problemRef },
    ),
    delete: op(
      'subscriptions',
      'Delete a subscription (admin)',
      { parameters: [NAME] },
      { 204: { description: 'Deleted' }, 404: problemRef },
    ),
  },
  '/v1/subscriptions/{name}/pause': {
    post: op('subscriptions', 'Pause (admin): keeps the position, delivers nothing', { parameters: [NAME] }),
  },
  '/v1/subscriptions/{name}/resume': { post: op('subscriptions', 'Resume (admin)', { parameters: [NAME] }) },
  '/v1/subscriptions/{name}/reset': {
    post: op('subscriptions', 'Move the position (admin): body { to: earliest | latest | position | RFC 3339 }', {
      parameters: [NAME],
      requestBody: {
        required: true,
        ...json({
          type: 'object',
          required: ['to'],
          additionalProperties: false,
          properties: { to: { oneOf: [{ type: 'string' }, { type: 'integer' }] } },
        }),
      },
    }),
  },
  '/v1/dlq': {
    get: op('dlq', 'Dead letters (admin)', {
      parameters: [
        param('subscription', 'query', 'Only this subscription'),
        param('status', 'query', 'open (default), replayed, archived, all'),
        param('correlation_id', 'query', "Only dead letters of this correlation's events (1-255 characters)", {
          type: 'string',
          minLength: 1,
          maxLength: 255,
        }),
        param('limit', 'query', 'At most this many (default 500)', { type: 'integer' }),
      ],
    }),
    delete: op('dlq', 'Purge replayed and archived dead letters, or those of status (admin)', {
      parameters: [
        param('subscription', 'query', 'Only this subscription'),
        param('status', 'query', 'open, replayed, archived, all'),
      ],
    }),
  },
  '/v1/dlq/groups': {
    get: op('dlq', 'Open dead letters grouped by error fingerprint (admin)', {
      parameters: [param('subscription', 'query', 'Only this subscription')],
    }),
  },
  '/v1/dlq/replay': {
    post: op('dlq', 'Replay several: body { ids: [..], skip_replayed? } or { all: true, subscription? }, not both (admin)', {
      requestBody: json({
        type: 'object',
        additionalProperties: false,
        properties: {
          ids: { type: 'array', items: { type: 'integer' } },
          all: { type: 'boolean' },
          subscription: { type: 'string' },
          skip_replayed: { type: 'boolean', description: 'with ids: leave out those already replayed' },
        },
      }),
    }),
  },
  '/v1/dlq/{id}': {
    get: op(
      'dlq',
      'One dead letter with its event and its failed attempts, oldest first (the last 20) (admin)',
      { parameters: [DLQ_ID] },
      {
        200: ok('The dead letter', {
          type: 'object',
          properties: {
            attempts: {
              type: 'array',
              description: 'Empty for dead letters written before attempts were kept',
              items: {
                type: 'object',
                required: ['attempt', 'at', 'reason', 'error'],
                properties: {
                  attempt: { type: 'integer', minimum: 1, description: 'Which delivery failed (1: the first)' },
                  at: { type: 'string', format: 'date-time' },
                  reason: { type: 'string', description: 'timeout, temporary_failure, invalid_payload, ... or a custom code' },
                  error: { type: 'string', description: 'The message, at most 500 characters' },
                  delay_ms: { type: 'integer', description: 'Delay chosen before the next attempt; absent for the last' },
                },
              },
            },
          },
        }),
        404: problemRef,
      },
    ),
  },
  '/v1/dlq/{id}/replay': {
    post: op(
      'dlq',
      'Replay, optionally with a corrected payload: fix and replay (admin)',
      {
        parameters: [DLQ_ID],
        requestBody: json({ type: 'object', additionalProperties: false, properties: { payload: {} } }),
      },
      { 200: ok('The dead letter, now replayed'), 404: problemRef, 409: problemRef },
    ),
  },
  '/v1/dlq/{id}/archive': {
    post: op('dlq', 'Archive with a note (admin)', {
      parameters: [DLQ_ID],
      requestBody: {
        required: true,
        ...json({ type: 'object', required: ['note'], additionalProperties: false, properties: { note: { type: 'string' } } }),
      },
    }),
  },
  '/v1/timers': {
    get: op(
      'timers',
      'Durable timers not fired yet, earliest first: delayed events and the timeouts of aggregators, saga steps and approvals (admin)',
      {
        parameters: [
          param('limit', 'query', 'At most this many (default 100, max 1000)', { type: 'integer', minimum: 1, maximum: 1000 }),
        ],
      },
      {
        200: ok('{ timers: [{ id, due_at, kind, event_id, type, topic, correlation_id, source, envelope }], more }'),
      },
    ),
  },
  '/v1/timers/{id}': {
    delete: op(
      'timers',
      "Cancel a timer: its event is never appended. A workflow's timeout only with force=true (admin)",
      {
        parameters: [
          param('id', 'path', 'Timer id, percent-encoded (001764428400000%2Fevt-...)'),
          param('force', 'query', 'true: cancel the timeout of an aggregator, saga step or approval too', {
            enum: ['true', 'false'],
          }),
        ],
      },
      { 204: { description: 'Cancelled' }, 404: problemRef, 409: problemRef },
    ),
  },
  '/v1/status': {
    get: op(
      'status',
      'Overview: the seed dashboard as JSON (throughput over a window, topics, agents, health)',
      { parameters: [WINDOW] },
      { 200: ok('Status'), 501: problemRef },
    ),
  },
  '/v1/topics': {
    get: op(
      'status',
      "The seed's Pub/Sub Configuration: per topic its events in the window, publishers, subscribers and lag",
      {
        parameters: [WINDOW, param('include_system', 'query', 'true to include system.* topics (heartbeats, error notices)')],
      },
      { 200: ok('Topics') },
    ),
  },
  '/v1/agents': { get: op('status', 'Agents and their health', {}, { 200: ok('Agents'), 501: problemRef }) },
  '/v1/sagas': {
    get: op(
      'sagas',
      'Saga instances with their state: { sagas: [...] }; input only for a token that may read the saga topic, or admin',
      {
        parameters: [
          param('status', 'query', 'Only this status', { enum: ['in_progress', 'completed', 'compensated', 'failed'] }),
          param('saga', 'query', 'Only this saga definition'),
          param('saga_id', 'query', 'Only this saga_id'),
        ],
      },
      { 200: ok('Sagas'), 501: problemRef },
    ),
  },
  '/v1/sagas/{saga}/{id}': {
    get: op(
      'sagas',
      "One saga instance: the seed's saga coordinator JSON plus saga, compensated, failure, started_at, updated_at, and input for a token that may read the saga topic, or admin",
      { parameters: SAGA_PATH },
      { 200: ok('The saga instance'), 404: problemRef },
    ),
  },
  '/v1/sagas/{saga}/{id}/cancel': {
    post: op(
      'sagas',
      'Ask a running saga to stop: publishes SagaCancelRequested; its runner publishes the stacked compensations (admin)',
      {
        parameters: SAGA_PATH,
        requestBody: json({
          type: 'object',
          additionalProperties: false,
          properties: { reason: { type: 'string', maxLength: 2000 } },
        }),
      },
      {
        202: ok('{ instance, request, repeated }: the request is durable; the saga is compensated when its runner handles it'),
        404: problemRef,
        409: problemRef,
      },
    ),
  },
  '/v1/aggregators': {
    get: op(
      'status',
      'Aggregator instances with their status; collected envelopes only on topics the token may read',
      {},
      { 200: ok('Aggregators'), 501: problemRef },
    ),
  },
  '/v1/timeline/{correlation}': {
    get: op(
      'status',
      'Correlation timeline and causation tree',
      { parameters: [param('correlation', 'path', 'Correlation id')] },
      { 200: ok('Timeline'), 501: problemRef },
    ),
  },
  '/healthz': { get: op('status', 'Health: { status, head }', {}, { 200: ok('Healthy'), 503: ok('Store unavailable') }) },
  '/metrics': {
    get: op(
      'status',
      'Prometheus metrics (metrics or admin scope)',
      {},
      { 200: { description: 'Prometheus text', content: { 'text/plain': { schema: { type: 'string' } } } }, 501: problemRef },
    ),
  },
  '/openapi.json': { get: op('status', 'This document') },
};

const COMPONENTS = {
  securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
  responses: {
    Problem: {
      description: 'RFC 9457 problem details with the AgentbusError code',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    },
  },
  schemas: {
    Problem: {
      type: 'object',
      required: ['type', 'title', 'status', 'detail', 'code'],
      properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'integer' },
        detail: { type: 'string' },
        code: {
          type: 'string',
          description: 'AgentbusError code: ENVELOPE_INVALID, TOPIC_INVALID, FILTER_SYNTAX, UNAUTHORIZED, NOT_FOUND, ...',
        },
        field: { type: 'string', description: 'Dotted path of the refused field' },
      },
    },
    Envelope: {
      type: 'object',
      required: ['event', 'routing'],
      properties: {
        event: {
          type: 'object',
          required: ['type'],
          properties: {
            id: { type: 'string' },
            type: { type: 'string' },
            source: { type: 'string' },
            timestamp: { type: 'string', format: 'date-time' },
            version: { type: 'string' },
            correlation_id: { type: 'string' },
            causation_id: { type: ['string', 'null'] },
            kind: { enum: ['command', 'event', 'query', 'notification'] },
          },
        },
        payload: {},
        routing: {
          type: 'object',
          required: ['topic'],
          properties: {
            topic: { type: 'string' },
            partition_key: { type: 'string' },
            priority: { enum: ['high', 'normal', 'low'] },
          },
        },
      },
    },
    WebhookSubscription: {
      type: 'object',
      required: ['name', 'topic', 'webhook'],
      properties: {
        name: { type: 'string' },
        topic: { type: 'string' },
        filter: {},
        start: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
        retry: { type: 'object' },
        webhook: {
          type: 'object',
          required: ['url'],
          properties: {
            url: { type: 'string', format: 'uri' },
            secret: { type: 'string', minLength: 16, description: 'HMAC-SHA256 signing secret; never shown again' },
            headers: { type: 'object', additionalProperties: { type: 'string' } },
            timeout: { type: 'string' },
          },
        },
      },
    },
  },
};

/** `/x/:id` -> `/x/{id}`. */
export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The OpenAPI document: the API plus the dashboard's pages and fragments. */
export function buildOpenApi(pages: readonly PageRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, Operation>> = structuredClone(API);
  for (const page of pages) {
    const path = toOpenApiPath(page.path);
    const params = [
      ...[...page.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => param(m[1] as string, 'path', m[1] as string)),
      ...(page.query ?? []),
    ];
    paths[path] = {
      ...paths[path],
      [page.method]: {
        tags: ['dashboard'],
        summary: page.summary,
        ...(params.length ? { parameters: params } : {}),
        responses: {
          200: { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } },
          default: problemRef,
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'agentbus HTTP API',
      version: '1',
      description:
        'Publish, query and follow events; manage subscriptions and the dead-letter queue. Errors are application/problem+json.',
    },
    security: [{ bearer: [] }],
    paths,
    components: COMPONENTS,
  };
}
