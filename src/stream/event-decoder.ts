import { TesseraError } from '../core/errors.js';
import type { JoinKey } from '../definitions/entity.js';
import type { ScalarType } from '../definitions/value-types.js';

/** What a stream event of one source must look like: keys, event time, and typed value columns. */
export interface EventSchema {
  readonly joinKeys: readonly JoinKey[];
  readonly timestampField: string;
  /** Value columns; `any` accepts a string, number, boolean or null as is (row-filter columns). */
  readonly columns: readonly { readonly name: string; readonly type: ScalarType | 'any' }[];
}

/** A decoded event: its event time (epoch ms) and its row (keys, timestamp as Date, columns). */
export interface DecodedEvent {
  readonly ts: number;
  readonly row: Readonly<Record<string, unknown>>;
}

export type DecodeResult =
  | { readonly ok: true; readonly event: DecodedEvent }
  | { readonly ok: false; readonly reason: string; readonly field?: string };

/**
 * Decodes one record's JSON text into an event, checking every field against the schema. Never throws: a bad
 * record gets a reason (naming the field and what was expected) for the dead-letter destination.
 * Accepted forms: timestamps as ISO-8601 text or epoch milliseconds; int32/int64 as integral numbers (int64 also
 * as a decimal string within ±2^53); floats as numbers; float32 values are rounded to float32, as the lake
 * stores them, so that stream and batch aggregate the same value.
 *
 * @example decodeEvent('{"user_id":1,"ts":"2024-05-01T00:00:00Z","amount":9.5}', schema)
 */
export function decodeEvent(text: string, schema: EventSchema): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `not JSON: ${(e as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, reason: 'expected a JSON object' };
  }
  const input = parsed as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const k of schema.joinKeys) {
    const v = convert(input[k.name], k.type);
    if (v === null || v === BAD)
      return bad(k.name, `join key '${k.name}' must be a ${k.type}`, input[k.name]);
    row[k.name] = v;
  }
  const ts = convert(input[schema.timestampField], 'timestamp');
  if (ts === null || ts === BAD) {
    return bad(
      schema.timestampField,
      `event time '${schema.timestampField}' must be ISO-8601 text or epoch milliseconds`,
      input[schema.timestampField],
    );
  }
  row[schema.timestampField] = ts;
  for (const c of schema.columns) {
    if (c.name in row) continue;
    const raw = input[c.name];
    const v = c.type === 'any' ? anyScalar(raw) : convert(raw, c.type);
    if (v === BAD)
      return bad(
        c.name,
        `column '${c.name}' must be ${c.type === 'any' ? 'a scalar' : `a ${c.type}`} or null`,
        raw,
      );
    row[c.name] = v;
  }
  return { ok: true, event: { ts: (ts as Date).getTime(), row } };
}

const BAD = Symbol('bad');

function bad(field: string, reason: string, actual: unknown): DecodeResult {
  const shown = actual === undefined ? 'missing' : JSON.stringify(actual)?.slice(0, 80);
  return { ok: false, field, reason: `${reason}, got ${shown}` };
}

function anyScalar(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))
    ? v
    : BAD;
}

function convert(v: unknown, type: ScalarType): unknown {
  if (v === undefined || v === null) return null;
  switch (type) {
    case 'int32':
      return typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 2 ** 31 ? v : BAD;
    case 'int64':
      if (typeof v === 'number') return Number.isSafeInteger(v) ? v : BAD;
      if (typeof v === 'string' && /^-?\d{1,16}$/.test(v) && Number.isSafeInteger(Number(v)))
        return Number(v);
      return BAD;
    case 'float32':
      return typeof v === 'number' && Number.isFinite(v) ? Math.fround(v) : BAD;
    case 'float64':
      return typeof v === 'number' ? v : BAD;
    case 'bool':
      return typeof v === 'boolean' ? v : BAD;
    case 'string':
      return typeof v === 'string' ? v : BAD;
    case 'timestamp': {
      const d =
        typeof v === 'number' && Number.isFinite(v)
          ? new Date(Math.trunc(v))
          : typeof v === 'string' && /^\d{4}-\d\d-\d\d/.test(v)
            ? new Date(v)
            : undefined;
      return d === undefined || Number.isNaN(d.getTime()) ? BAD : d;
    }
    case 'bytes':
      return BAD;
  }
}

/**
 * The event schema of a source for the stream engine: the join keys of its aggregation views (they must share
 * them: the stream is partitioned by that key), its timestamp, and the columns the views aggregate (typed) or
 * filter on (`any`).
 */
export function eventSchemaOf(
  source: { readonly name: string; readonly timestampField: string },
  views: readonly {
    readonly joinKeys: readonly JoinKey[];
    readonly view: {
      readonly name: string;
      readonly aggregations: readonly { readonly column?: string; readonly inputType?: ScalarType }[];
      readonly where: readonly { readonly column: string }[];
    };
  }[],
): EventSchema {
  const first = views[0];
  if (first === undefined) {
    throw new TesseraError(`no online aggregation view reads source '${source.name}'`, {
      field: 'source',
      hint: 'define an aggregationView over this source, with online: true',
    });
  }
  const keysOf = (v: (typeof views)[number]) => v.joinKeys.map((k) => `${k.name}:${k.type}`).join(',');
  const differing = views.find((v) => keysOf(v) !== keysOf(first));
  if (differing) {
    throw new TesseraError(`aggregation views over stream '${source.name}' must share join keys`, {
      field: differing.view.name,
      hint: 'the stream is partitioned by one entity key; define a source per entity',
    });
  }
  const columns = new Map<string, ScalarType | 'any'>();
  for (const v of views) {
    for (const a of v.view.aggregations) if (a.column && a.inputType) columns.set(a.column, a.inputType);
    for (const c of v.view.where) if (!columns.has(c.column)) columns.set(c.column, 'any');
  }
  return {
    joinKeys: first.joinKeys,
    timestampField: source.timestampField,
    columns: [...columns].map(([name, type]) => ({ name, type })),
  };
}
