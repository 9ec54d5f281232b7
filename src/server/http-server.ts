import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { TesseraError } from '../core/errors.js';
import type { FeatureStore } from '../feature-store.js';
import { setFreshnessGauges } from '../metrics/freshness-report.js';
import { processMetrics, type TesseraMetrics } from '../metrics/metrics.js';
import { httpRecorder, servingObserver } from '../metrics/serving-metrics.js';
import { BodyWriter, BufferPool } from './body-writer.js';
import { fromFeastRequest, writeFeastResponse } from './feast-json.js';
import { registerMonitoringRoutes } from './monitoring-routes.js';
import { registerValidationRoutes } from './validation-routes.js';

export interface ServerOptions {
  /** API keys accepted as `Authorization: Bearer <key>` or `x-api-key: <key>`; empty = no authentication. */
  readonly apiKeys?: readonly string[];
  readonly bodyLimitBytes?: number;
  readonly maxEntitiesPerRequest?: number;
  /** Fastify logger (pino) level, or false. */
  readonly logLevel?: 'info' | 'warn' | 'error' | false;
  /** Where request and serving metrics go, served at `GET /metrics` (default the process's); false: none. */
  readonly metrics?: TesseraMetrics | false;
}

const pushSchema = {
  type: 'object',
  properties: {
    view: { type: 'string', minLength: 1 },
    push_source_name: { type: 'string', minLength: 1 },
    rows: { type: 'array', items: { type: 'object' } },
    df: { type: 'object', additionalProperties: { type: 'array' } },
    to: { type: 'string', enum: ['online', 'offline', 'online_and_offline'] },
    source: { type: 'string', minLength: 1 },
    events: { type: 'array', items: { type: 'object' } },
  },
  additionalProperties: false,
  oneOf: [{ required: ['rows'] }, { required: ['df'] }, { required: ['source', 'events'] }],
} as const;

/**
 * The HTTP feature server. `POST /get-online-features` speaks Feast's JSON so existing Feast HTTP clients work
 * unchanged; `POST /push` writes rows online and/or offline (or, with `source` and `events`, sends events to a
 * streamed source's topic); `GET /health` (alive) and `GET /ready` (registry
 * loaded and online store answering); `GET /metrics` (Prometheus, docs/monitoring.md).
 *
 * @example
 * const app = await buildServer(store, { apiKeys: ['secret'] });
 * await app.listen({ port: 6566, host: '127.0.0.1' });
 */
export async function buildServer(
  store: FeatureStore,
  options: ServerOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logLevel ? { level: options.logLevel } : false,
    bodyLimit: options.bodyLimitBytes ?? 5 * 1024 * 1024,
    // Validation errors list every problem, with the path of the offending field.
    ajv: { customOptions: { allErrors: true, coerceTypes: false } },
  });
  const keys = (options.apiKeys ?? []).map((k) => Buffer.from(k));
  const maxEntities = options.maxEntitiesPerRequest ?? 10_000;

  if (keys.length > 0) {
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/health') return;
      if (!isAuthorized(req, keys)) {
        await reply.code(401).header('www-authenticate', 'Bearer').send({
          error: 'missing or invalid API key',
          code: 'UNAUTHORIZED',
          hint: 'send Authorization: Bearer <key> or x-api-key: <key>',
        });
      }
    });
  }

  app.setErrorHandler(async (err, _req, reply) => {
    const e = err as Error & { validation?: unknown; statusCode?: number; code?: string };
    if (e.validation) {
      return reply.code(400).send({ error: `invalid request: ${e.message}`, code: 'INVALID_INPUT' });
    }
    if (e instanceof TesseraError) return reply.code(statusOf(e)).send(e.toJSON());
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({ error: e.message, code: e.code ?? 'INVALID_INPUT' });
    }
    reply.log.error(e);
    return reply.code(500).send({ error: `internal error: ${e.message}`, code: 'BACKEND' });
  });

  // Served values sampled for the feature log are written before the server is gone (docs/feature-logging.md).
  app.addHook('onClose', async () => store.featureLogger?.flush());

  app.get('/health', async () => ({ status: 'ok' }));

  const metrics = options.metrics === undefined ? processMetrics() : options.metrics;
  if (metrics !== false) {
    const record = httpRecorder(metrics);
    // A callback hook, not an async one: no promise per request.
    app.addHook('onResponse', (req, reply, done) => {
      record(req.routeOptions.url, req.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
    store.observeServing(servingObserver(metrics, store.online.kind));
    const removeHook = metrics.onScrape(async () => setFreshnessGauges(metrics, await store.freshness()));
    app.addHook('onClose', async () => {
      removeHook();
      store.observeServing(undefined);
    });
    app.get('/metrics', async (_req, reply) => {
      const text = await metrics.scrape();
      return reply.type(metrics.contentType).send(text);
    });
  }

  app.get('/ready', async (_req, reply) => {
    try {
      const state = store.currentState();
      // A real round trip to the online store (a key that never exists), not just a connection check.
      await store.online.read([
        { view: { project: state.project, name: '__ready__', ttlMs: 0 }, entityKeys: ['probe'] },
      ]);
      return { status: 'ready', project: state.project, registryVersion: store.version };
    } catch (e) {
      return reply.code(503).send({ status: 'not ready', error: (e as Error).message });
    }
  });

  // No JSON schema here: fromFeastRequest checks the body in the same pass that converts it, and names the
  // field at fault (a TesseraError, answered 400 by the error handler).
  const bodies = new BufferPool();
  app.post('/get-online-features', async (req, reply) => {
    const request = fromFeastRequest(req.body, maxEntities);
    const { result, log } = await store.serveOnline(request);
    const body = new BodyWriter(bodies);
    writeFeastResponse(result, body);
    const sent = body.send(reply, 'application/json; charset=utf-8');
    log(); // after the answer is written: logging never delays it
    return sent;
  });

  app.post('/push', { schema: { body: pushSchema } }, async (req) => {
    const body = req.body as {
      view?: string;
      push_source_name?: string;
      rows?: Record<string, unknown>[];
      df?: Record<string, unknown[]>;
      to?: 'online' | 'offline' | 'online_and_offline';
      source?: string;
      events?: Record<string, unknown>[];
    };
    if (body.source !== undefined && body.events !== undefined) {
      // Events of a streamed source go to its topic, for the stream engine to aggregate exactly once.
      const sent = await store.pushEvents({ source: body.source, events: body.events });
      return { status: 'ok', source: body.source, ...sent };
    }
    const view = viewFor(store, body.view ?? body.push_source_name);
    const rows = body.rows ?? columnsToRows(body.df ?? {});
    const written = await store.push({ view, rows, ...(body.to ? { to: body.to } : {}) });
    return { status: 'ok', view, ...written };
  });

  registerValidationRoutes(app, store);
  registerMonitoringRoutes(app, store);

  return app;
}

function isAuthorized(req: FastifyRequest, keys: readonly Buffer[]): boolean {
  const header = req.headers.authorization;
  const given = header?.startsWith('Bearer ')
    ? header.slice(7)
    : (req.headers['x-api-key'] as string | undefined);
  if (!given) return false;
  const g = Buffer.from(given);
  return keys.some((k) => k.length === g.length && timingSafeEqual(k, g));
}

function statusOf(e: TesseraError): number {
  switch (e.code) {
    case 'INVALID_INPUT':
    case 'INVALID_DEFINITION':
    case 'SCHEMA_MISMATCH':
      return 400;
    case 'UNAUTHORIZED':
      return 401;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'DEADLINE_EXCEEDED':
      return 504;
    default:
      return 500;
  }
}

/** A push names a view; Feast clients name a push source, which we map to the view reading that source. */
function viewFor(store: FeatureStore, name: string | undefined): string {
  if (name === undefined)
    throw new TesseraError('no view given', { field: 'view', expected: 'the feature view to push to' });
  const state = store.currentState();
  if (state.featureViews.some((v) => v.name === name)) return name;
  const bySource = state.featureViews.filter((v) => v.source === name);
  if (bySource.length === 1) return (bySource[0] as (typeof bySource)[number]).name;
  throw new TesseraError(
    `unknown feature view or source '${name}'`,
    {
      field: 'view',
      hint: `known views: ${state.featureViews.map((v) => v.name).join(', ') || 'none'}`,
    },
    'NOT_FOUND',
  );
}

function columnsToRows(df: Record<string, unknown[]>): Record<string, unknown>[] {
  const names = Object.keys(df);
  const n = names.length === 0 ? 0 : (df[names[0] as string] as unknown[]).length;
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) rows.push(Object.fromEntries(names.map((c) => [c, (df[c] as unknown[])[i]])));
  return rows;
}
