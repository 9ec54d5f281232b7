import { TesseraError } from '../core/errors.js';
import type { ServedResult } from '../serving/online-serving.js';
import type { OnlineFeaturesRequest } from '../serving/types.js';

/** Feast's `POST /get-online-features` body. Request fields for on-demand views may come in either map. */
export interface FeastOnlineRequest {
  features?: string[];
  feature_service?: string;
  entities: Record<string, unknown[]>;
  request_context?: Record<string, unknown[]>;
  full_feature_names?: boolean;
  /** Tessera extension: per-request deadline. */
  deadline_ms?: number;
}

/** Converts Feast's columnar entities into entity rows, checking the columns have one length. */
export function fromFeastRequest(body: FeastOnlineRequest, maxEntities: number): OnlineFeaturesRequest {
  const columns = { ...body.entities, ...(body.request_context ?? {}) };
  const names = Object.keys(columns);
  if (names.length === 0)
    throw new TesseraError('no entities given', {
      field: 'entities',
      expected: '{ "<join_key>": [values…] }',
    });
  const n = (columns[names[0] as string] as unknown[]).length;
  for (const name of names) {
    const len = (columns[name] as unknown[]).length;
    if (len !== n) {
      throw new TesseraError('entity columns have different lengths', {
        field: `entities.${name}`,
        expected: `${n} values (like '${names[0]}')`,
        actual: `${len}`,
      });
    }
  }
  if (n > maxEntities) {
    throw new TesseraError('too many entity rows in one request', {
      field: 'entities',
      expected: `at most ${maxEntities}`,
      actual: String(n),
      hint: 'split the request, or raise serving.max_entities_per_request',
    });
  }
  const rows: Record<string, unknown>[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const row: Record<string, unknown> = {};
    for (const name of names) row[name] = (columns[name] as unknown[])[i];
    rows[i] = row;
  }
  return {
    entities: rows,
    ...(body.features !== undefined ? { features: body.features } : {}),
    ...(body.feature_service !== undefined ? { featureService: body.feature_service } : {}),
    ...(body.full_feature_names !== undefined ? { fullFeatureNames: body.full_feature_names } : {}),
    ...(body.deadline_ms !== undefined ? { deadlineMs: body.deadline_ms } : {}),
  };
}

const EPOCH = '1970-01-01T00:00:00Z';

/**
 * The answer in the shape Feast's Python feature server returns: `metadata.feature_names`, then one `results`
 * entry per feature (join keys first) with `values`, `statuses` and `event_timestamps` across entity rows.
 * Missing timestamps are the epoch, as in Feast. Bytes are base64, timestamps ISO-8601.
 */
export function toFeastResponse(result: ServedResult): string {
  const names = result.featureNames;
  const n = result.rows.length;
  const results = names.map((name, j) => {
    const values = new Array<unknown>(n);
    const statuses = new Array<string>(n);
    const timestamps = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      values[i] = jsonValue((result.rows[i] as Record<string, unknown>)[name]);
      statuses[i] = (result.statuses[i] as readonly string[])[j] as string;
      const ts = (result.eventTimestamps[i] as readonly (Date | null)[])[j];
      timestamps[i] = ts ? ts.toISOString() : EPOCH;
    }
    return { values, statuses, event_timestamps: timestamps };
  });
  const body: Record<string, unknown> = { metadata: { feature_names: names }, results };
  if (result.warnings.length > 0) body['warnings'] = result.warnings;
  return JSON.stringify(body);
}

function jsonValue(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonValue);
  return v ?? null;
}
