import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../core/errors.js';
import { parseTime } from '../core/parse-time.js';
import type { FeatureStore } from '../feature-store.js';
import type { CurrentRequest } from '../monitoring/data-monitor.js';
import type { ProfileStore } from '../monitoring/profile-store.js';
import {
  monitorOf,
  notFoundProfile,
  parseReference,
  profileStoreOf,
  timeWindow,
} from '../monitoring/repo-monitoring.js';

const profileQuery = {
  type: 'object',
  properties: { version: { type: 'string', pattern: '^[0-9]{1,9}$' } },
  additionalProperties: false,
} as const;

const driftQuery = {
  type: 'object',
  required: ['reference'],
  properties: {
    reference: { type: 'string', minLength: 1 },
    source: { type: 'string', minLength: 1 },
    feature_service: { type: 'string', minLength: 1 },
    since: { type: 'string', minLength: 1 },
    start: { type: 'string', minLength: 1 },
    end: { type: 'string', minLength: 1 },
  },
  additionalProperties: false,
} as const;

/**
 * Reference profiles and drift over HTTP, read-only like `/validations`: `GET /profiles` (every saved name with
 * its newest version), `GET /profiles/:name[?version=N]` (one profile in full, 404 when unknown), and
 * `GET /drift?reference=name[@v]` — what `tessera monitor --json` reports, against the serving logs or, with
 * `source=`, a source window (`since=1d`, or `start=`/`end=` ISO times). A breach is a 200 with
 * `breached: true`: the request succeeded, the data did not.
 *
 * @example registerMonitoringRoutes(app, store); // curl 'localhost:6566/drift?reference=orders_q1&since=1d'
 */
export function registerMonitoringRoutes(app: FastifyInstance, store: FeatureStore): void {
  let profiles: ProfileStore | undefined;
  const profileStore = () => {
    profiles ??= profileStoreOf(store.config);
    return profiles;
  };
  app.addHook('onClose', async () => profiles?.close());

  app.get('/profiles', async () => ({ profiles: await profileStore().list(store.config.project) }));

  app.get('/profiles/:name', { schema: { querystring: profileQuery } }, async (req) => {
    const { name } = req.params as { name: string };
    const { version } = req.query as { version?: string };
    const ref = parseReference(version === undefined ? name : `${name}@${version}`, 'name');
    const stored = await profileStore().get(store.config.project, ref.name, ref.version);
    if (!stored) throw notFoundProfile(ref, await profileStore().list(store.config.project));
    return stored;
  });

  app.get('/drift', { schema: { querystring: driftQuery } }, async (req) => {
    const q = req.query as {
      reference: string;
      source?: string;
      feature_service?: string;
      since?: string;
      start?: string;
      end?: string;
    };
    if (q.source !== undefined && q.feature_service !== undefined) {
      throw new TesseraError('give source or feature_service, not both', { field: 'feature_service' });
    }
    const ref = parseReference(q.reference, 'reference');
    const window = timeWindow(q, parseTime, (option) => option);
    const current: CurrentRequest =
      q.source !== undefined
        ? { kind: 'source', source: q.source, ...(window ? { window } : {}) }
        : {
            kind: 'logs',
            ...(window ? { window } : {}),
            ...(q.feature_service !== undefined ? { featureService: q.feature_service } : {}),
          };
    const stored = await profileStore().get(store.config.project, ref.name, ref.version);
    if (!stored) throw notFoundProfile(ref, await profileStore().list(store.config.project));
    await store.refresh();
    const monitor = monitorOf(store);
    try {
      return await monitor.compare(stored, current);
    } finally {
      await monitor.close();
    }
  });
}
