import { encodeEntityKey } from '../core/entity-key.js';
import { TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import { type Feature, type FeatureView, sourceColumn } from '../definitions/feature-view.js';
import { joinKeysOf } from '../definitions/resolve.js';
import type { Source } from '../definitions/source.js';
import { elementType, type ScalarType, type ValueType } from '../definitions/value-types.js';
import type { OnlineRow } from '../online/online-store.js';

/**
 * Checks pushed rows against a view's schema and turns them into online rows. Every problem names the row
 * index and field; nothing is coerced silently except lossless conversions (ISO strings and epoch numbers
 * to timestamps, integral numbers for int types).
 *
 * @example toOnlineRows(state, 'user_stats', [{ user_id: 1, event_ts: '2024-05-01T00:00:00Z', clicks: 3 }])
 */
export function toOnlineRows(
  state: RegistryState,
  viewName: string,
  rows: readonly Readonly<Record<string, unknown>>[],
): { view: FeatureView; source: Source; rows: OnlineRow[] } {
  const view = state.featureViews.find((v) => v.name === viewName);
  if (!view) {
    throw new TesseraError(
      `unknown feature view '${viewName}'`,
      {
        field: 'view',
        hint: `known views: ${state.featureViews.map((v) => v.name).join(', ') || 'none'}`,
      },
      'NOT_FOUND',
    );
  }
  const source = state.sources.find((s) => s.name === view.source);
  if (!source) throw new TesseraError(`feature view '${viewName}' has no source`, {}, 'NOT_FOUND');
  const joinKeys = joinKeysOf(state, view);
  const out: OnlineRow[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as Readonly<Record<string, unknown>>;
    const at = (field: string) => ({ row: i, field });
    let entityKey: string;
    try {
      entityKey = encodeEntityKey(joinKeys, row);
    } catch (e) {
      if (e instanceof TesseraError) throw e.at({ row: i });
      throw e;
    }
    const eventTs = toEpochMs(row[source.timestampField], at(source.timestampField), true) as number;
    const createdTs = source.createdTimestampField
      ? (toEpochMs(row[source.createdTimestampField], at(source.createdTimestampField), false) ?? 0)
      : 0;
    const values: Record<string, unknown> = {};
    for (const f of view.features) values[f.name] = checkValue(f, row[sourceColumn(f)], i);
    out[i] = { entityKey, eventTs, createdTs, values };
  }
  return { view, source, rows: out };
}

function toEpochMs(v: unknown, loc: { row: number; field: string }, required: boolean): number | undefined {
  if (v === undefined || v === null) {
    if (!required) return undefined;
    throw new TesseraError('missing timestamp', {
      ...loc,
      expected: 'an ISO-8601 string, a Date or epoch milliseconds',
    });
  }
  const ms =
    v instanceof Date
      ? v.getTime()
      : typeof v === 'number'
        ? v
        : typeof v === 'string'
          ? Date.parse(v)
          : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new TesseraError('invalid timestamp', {
      ...loc,
      expected: 'an ISO-8601 string, a Date or epoch milliseconds',
      actual: JSON.stringify(v),
    });
  }
  return ms;
}

function checkValue(f: Feature, v: unknown, row: number): unknown {
  if (v === undefined || v === null) return null;
  const el = elementType(f.type);
  if (el !== undefined) {
    if (!Array.isArray(v)) throw badValue(f, v, row);
    return v.map((x) => (x === null ? null : checkScalar(el, x, f, row)));
  }
  return checkScalar(f.type as ScalarType, v, f, row);
}

function checkScalar(t: ScalarType, v: unknown, f: Feature, row: number): unknown {
  switch (t) {
    case 'int32':
    case 'int64':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
      if (
        typeof v === 'bigint' &&
        v >= BigInt(Number.MIN_SAFE_INTEGER) &&
        v <= BigInt(Number.MAX_SAFE_INTEGER)
      )
        return Number(v);
      throw badValue(f, v, row);
    case 'float32':
    case 'float64':
      if (typeof v === 'number') return v;
      throw badValue(f, v, row);
    case 'bool':
      if (typeof v === 'boolean') return v;
      throw badValue(f, v, row);
    case 'string':
      if (typeof v === 'string') return v;
      throw badValue(f, v, row);
    case 'bytes':
      if (v instanceof Uint8Array) return v;
      if (typeof v === 'string') return Buffer.from(v, 'base64');
      throw badValue(f, v, row);
    case 'timestamp': {
      const ms =
        v instanceof Date
          ? v.getTime()
          : typeof v === 'string'
            ? Date.parse(v)
            : typeof v === 'number'
              ? v
              : Number.NaN;
      if (!Number.isFinite(ms)) throw badValue(f, v, row);
      return new Date(ms);
    }
  }
}

const badValue = (f: Feature, v: unknown, row: number) =>
  new TesseraError('value does not match the feature type', {
    row,
    field: f.name,
    expected: describeType(f.type),
    actual: typeof v === 'object' ? JSON.stringify(v) : `${typeof v} ${String(v)}`,
  });

function describeType(t: ValueType): string {
  if (t === 'int32' || t === 'int64') return `${t} (an integer within ±2^53)`;
  if (t === 'bytes') return 'bytes (Uint8Array or base64 string)';
  if (t === 'timestamp') return 'timestamp (ISO-8601 string, Date or epoch ms)';
  return t;
}
