import { definitionError, type TesseraError } from '../core/errors.js';
import type { AggregationView } from './aggregation-view.js';
import { allDefinitions, type RegistryState } from './definition.js';
import { type FeatureView, sourceColumn } from './feature-view.js';
import { parseRef } from './resolve.js';
import type { Source } from './source.js';
import { elementType, type ValueType } from './value-types.js';

/**
 * Checks that definitions refer to each other correctly. Returns every problem found (not just the first),
 * each naming the definition, the field and, when known, the file it came from.
 *
 * @example const errors = validateState(repo.state, repo.origins); if (errors.length) throw …
 */
export function validateState(
  state: RegistryState,
  origins: ReadonlyMap<string, string> = new Map(),
): TesseraError[] {
  const errors: TesseraError[] = [];
  const fail = (
    kind: string,
    name: string,
    message: string,
    field: string,
    extra: { expected?: string; hint?: string } = {},
  ) => {
    const file = origins.get(`${kind}/${name}`);
    errors.push(definitionError(message, { ...(file ? { file } : {}), field, ...extra }));
  };

  // Names are unique per kind; views and on-demand views also share one namespace (feature references).
  const seen = new Map<string, string>();
  for (const d of allDefinitions(state)) {
    const ns = d.kind === 'OnDemandFeatureView' || d.kind === 'AggregationView' ? 'FeatureView' : d.kind;
    const key = `${ns}/${d.name}`;
    if (seen.has(key)) fail(d.kind, d.name, `duplicate name '${d.name}' (also a ${seen.get(key)})`, 'name');
    seen.set(key, d.kind);
  }

  const entities = new Map(state.entities.map((e) => [e.name, e]));
  const sources = new Map(state.sources.map((s) => [s.name, s]));
  const views = new Map<string, FeatureView | AggregationView>(
    [...state.featureViews, ...state.aggregationViews].map((v) => [v.name, v]),
  );

  for (const v of [...state.featureViews, ...state.aggregationViews]) {
    const keyNames = new Set<string>();
    for (const e of v.entities) {
      const ent = entities.get(e);
      if (!ent) {
        fail(v.kind, v.name, `${what(v)} '${v.name}' uses unknown entity '${e}'`, 'entities', {
          hint: `known entities: ${[...entities.keys()].join(', ') || 'none'}`,
        });
        continue;
      }
      for (const k of ent.joinKeys) {
        if (keyNames.has(k.name))
          fail(v.kind, v.name, `join key '${k.name}' appears in two entities of '${v.name}'`, 'entities');
        keyNames.add(k.name);
      }
    }
    if (!sources.has(v.source)) {
      fail(v.kind, v.name, `${what(v)} '${v.name}' uses unknown source '${v.source}'`, 'source', {
        hint: `known sources: ${[...sources.keys()].join(', ') || 'none'}`,
      });
    }
    const names = new Set<string>();
    for (const f of v.features) {
      if (names.has(f.name))
        fail(v.kind, v.name, `duplicate feature '${f.name}' in '${v.name}'`, `schema.${f.name}`);
      if (keyNames.has(f.name))
        fail(
          v.kind,
          v.name,
          `feature '${f.name}' of '${v.name}' has the name of a join key`,
          `schema.${f.name}`,
        );
      names.add(f.name);
    }
    if (v.kind === 'FeatureView' && (!Number.isFinite(v.ttlMs) || v.ttlMs < 0))
      fail('FeatureView', v.name, `invalid ttl in '${v.name}'`, 'ttl', { expected: 'a duration ≥ 0' });
  }

  const featureExists = (ref: string): boolean => {
    const { view, feature } = parseRef(ref);
    const target = views.get(view) ?? state.onDemandFeatureViews.find((o) => o.name === view);
    return target !== undefined && (feature === '*' || target.features.some((f) => f.name === feature));
  };

  for (const od of state.onDemandFeatureViews) {
    const inputNames = new Set<string>();
    for (const input of od.inputs) {
      const { view, feature } = parseRef(input);
      if (!views.has(view) || !featureExists(input) || feature === '*') {
        fail(
          'OnDemandFeatureView',
          od.name,
          `on-demand view '${od.name}' reads unknown feature '${input}'`,
          'inputs',
          {
            expected: 'a view:feature reference to a feature view',
          },
        );
      }
      if (inputNames.has(feature))
        fail('OnDemandFeatureView', od.name, `two inputs of '${od.name}' are named '${feature}'`, 'inputs');
      inputNames.add(feature);
    }
    for (const r of od.requestSchema) {
      if (inputNames.has(r.name))
        fail(
          'OnDemandFeatureView',
          od.name,
          `request field '${r.name}' of '${od.name}' has the name of an input feature`,
          'request',
        );
    }
    if (!od.transformRef)
      fail(
        'OnDemandFeatureView',
        od.name,
        `on-demand view '${od.name}' has no transform reference`,
        'transform',
      );
  }

  for (const svc of state.featureServices) {
    for (const ref of svc.features) {
      if (!featureExists(ref)) {
        fail(
          'FeatureService',
          svc.name,
          `feature service '${svc.name}' selects unknown feature '${ref}'`,
          'features',
          {
            expected: 'view:feature or view:* of an existing view',
          },
        );
      }
    }
  }
  return errors;
}

const what = (v: FeatureView | AggregationView): string =>
  v.kind === 'FeatureView' ? 'feature view' : 'aggregation view';

/** Columns of a source as read from the data. */
export interface ColumnType {
  readonly name: string;
  readonly type: string;
}

/**
 * Checks a feature view against the columns actually present in its source: timestamp columns, join keys and
 * every feature column must exist with a compatible type. Errors name the source's file or table.
 */
export function validateViewAgainstSource(
  state: RegistryState,
  view: FeatureView | AggregationView,
  source: Source,
  columns: readonly ColumnType[],
): TesseraError[] {
  const where = source.type === 'postgres' ? (source.table ?? 'query') : source.path;
  const byName = new Map(columns.map((c) => [c.name, c.type]));
  const errors: TesseraError[] = [];
  const check = (column: string, type: ValueType | 'timestamp-like', what: string) => {
    const actual = byName.get(column);
    if (actual === undefined) {
      errors.push(
        definitionError(`${what} column '${column}' is missing from source '${source.name}'`, {
          file: where,
          field: column,
          hint: `columns present: ${columns.map((c) => c.name).join(', ')}`,
        }),
      );
      return;
    }
    const ok = type === 'timestamp-like' ? isTimestampLike(actual) : isCompatible(type, actual);
    if (!ok) {
      errors.push(
        definitionError(`${what} column '${column}' of source '${source.name}' has an incompatible type`, {
          file: where,
          field: column,
          expected: type === 'timestamp-like' ? 'a timestamp or date' : `a column readable as ${type}`,
          actual: actual,
        }),
      );
    }
  };
  check(source.timestampField, 'timestamp-like', 'timestamp');
  if (source.createdTimestampField)
    check(source.createdTimestampField, 'timestamp-like', 'created-timestamp');
  for (const e of view.entities) {
    for (const k of state.entities.find((x) => x.name === e)?.joinKeys ?? [])
      check(k.name, k.type, 'join key');
  }
  if (view.kind === 'FeatureView') {
    for (const f of view.features) check(sourceColumn(f), f.type, `feature '${f.name}'`);
  } else {
    for (const a of view.aggregations) {
      if (a.column !== undefined && a.inputType !== undefined)
        check(a.column, a.inputType, `aggregation '${a.name}'`);
    }
    for (const c of view.where) {
      const actual = byName.get(c.column);
      if (actual === undefined) {
        check(c.column, 'string', 'row filter');
        continue;
      }
      const values = c.value === undefined ? [] : Array.isArray(c.value) ? c.value : [c.value];
      const want = isCompatible('float64', actual)
        ? 'number'
        : isCompatible('bool', actual)
          ? 'boolean'
          : isCompatible('string', actual)
            ? 'string'
            : undefined;
      const bad = values.find((v) => typeof v !== want);
      if (want === undefined || bad !== undefined) {
        errors.push(
          definitionError(
            `row filter on '${c.column}' of source '${source.name}' compares values of another type`,
            {
              file: where,
              field: c.column,
              expected:
                want === undefined
                  ? 'a numeric, boolean or string column'
                  : `${want} values for a ${actual} column`,
              actual: bad === undefined ? actual : JSON.stringify(bad),
            },
          ),
        );
      }
    }
  }
  return errors;
}

const INTS = ['TINYINT', 'SMALLINT', 'INTEGER', 'UTINYINT', 'USMALLINT', 'INT2', 'INT4', 'INT1'];
const BIG_INTS = [...INTS, 'BIGINT', 'UINTEGER', 'INT8', 'HUGEINT'];
const FLOATS = [...BIG_INTS, 'FLOAT', 'DOUBLE', 'REAL', 'FLOAT4', 'FLOAT8', 'NUMERIC', 'DECIMAL'];

function normalize(t: string): string {
  const u = t.trim().toUpperCase();
  return u.startsWith('DECIMAL') || u.startsWith('NUMERIC') ? 'DECIMAL' : u;
}

function isTimestampLike(t: string): boolean {
  const u = normalize(t);
  return u.startsWith('TIMESTAMP') || u === 'DATE' || u === 'TIMESTAMPTZ';
}

/** Whether a source column of engine type `actual` can be read as a feature of type `expected` without loss. */
export function isCompatible(expected: ValueType, actual: string): boolean {
  const u = normalize(actual);
  const el = elementType(expected);
  if (el !== undefined) {
    const m = /^(.*)\[\]$/.exec(u) ?? /^(?:_)(.*)$/.exec(u);
    return m !== null && isCompatible(el, m[1] as string);
  }
  switch (expected) {
    case 'int32':
      return INTS.includes(u);
    case 'int64':
      return BIG_INTS.includes(u);
    case 'float32':
    case 'float64':
      return FLOATS.includes(u);
    case 'bool':
      return u === 'BOOLEAN' || u === 'BOOL';
    case 'string':
      return (
        u === 'VARCHAR' ||
        u === 'TEXT' ||
        u.startsWith('CHAR') ||
        u === 'UUID' ||
        u === 'BPCHAR' ||
        u === 'ENUM'
      );
    case 'bytes':
      return u === 'BLOB' || u === 'BYTEA';
    case 'timestamp':
      return isTimestampLike(u);
    default:
      return false;
  }
}
