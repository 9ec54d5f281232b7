import type { FastifyInstance } from 'fastify';
import type { FeatureStore } from '../feature-store.js';

const listQuery = {
  type: 'object',
  properties: {
    subject: { type: 'string', minLength: 1 },
    failed: { type: 'string', enum: ['true', 'false', '1', '0'] },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
  },
  additionalProperties: false,
} as const;

/**
 * Validation history over HTTP: `GET /validations` (newest first; `?subject=orders&failed=true&limit=20`) and
 * `GET /validations/:id` (one run in full, 404 when unknown). Read-only: validations run from the CLI, jobs and
 * the SDK.
 *
 * @example registerValidationRoutes(app, store); // curl localhost:6566/validations?failed=true
 */
export function registerValidationRoutes(app: FastifyInstance, store: FeatureStore): void {
  app.get('/validations', { schema: { querystring: listQuery } }, async (req) => {
    const q = req.query as { subject?: string; failed?: string; limit?: string };
    const runs = await store.quality.history({
      ...(q.subject !== undefined ? { subject: q.subject } : {}),
      ...(q.failed === 'true' || q.failed === '1' ? { failedOnly: true } : {}),
      ...(q.limit !== undefined ? { limit: Number(q.limit) } : {}),
    });
    return { runs };
  });
  app.get('/validations/:id', async (req) => store.quality.run((req.params as { id: string }).id));
}
