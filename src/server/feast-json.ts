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
  // Written straight into a string: building nested arrays and then JSON.stringify doubled the cost for
  // 100 entities × 50 features. Features of one view share an event time per row, so each distinct instant is
  // formatted once.
  const iso = new Map<number, string>();
  let out = `{"metadata":{"feature_names":${JSON.stringify(names)}},"results":[`;
  for (let j = 0; j < names.length; j++) {
    const name = names[j] as string;
    let values = '';
    let statuses = '';
    let timestamps = '';
    for (let i = 0; i < n; i++) {
      const sep = i === 0 ? '' : ',';
      values += sep + jsonText((result.rows[i] as Record<string, unknown>)[name]);
      statuses += `${sep}"${(result.statuses[i] as readonly string[])[j]}"`;
      const ts = (result.eventTimestamps[i] as readonly (Date | null)[])[j];
      let text = EPOCH_JSON;
      if (ts) {
        const ms = ts.getTime();
        const cached = iso.get(ms);
        if (cached === undefined) {
          text = `"${ts.toISOString()}"`;
          iso.set(ms, text);
        } else text = cached;
      }
      timestamps += sep + text;
    }
    out += `${j === 0 ? '' : ','}{"values":[${values}],"statuses":[${statuses}],"event_timestamps":[${timestamps}]}`;
  }
  out += ']';
  if (result.warnings.length > 0) out += `,"warnings":${JSON.stringify(result.warnings)}`;
  return `${out}}`;
}

const EPOCH_JSON = `"${EPOCH}"`;

function jsonText(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return JSON.stringify(jsonValue(v));
}

function jsonValue(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(jsonValue);
  return v ?? null;
}
