import { definitionError, TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import { isCompatible } from '../definitions/validate.js';
import type { SourceColumn } from '../offline/offline-store.js';
import { columnsOf, type Expectation } from './expectations.js';
import { sourceSubject, type ValidationSubject, viewSubject } from './subjects.js';

/**
 * Checks expectations against the real columns of their subject at load time (plan/apply), like feature columns
 * are: every column a check reads exists, and has a type the check can work on (numbers for ranges and
 * statistics, text for patterns, timestamps for staleness, values of the column's kind for `in_set`). `type`
 * checks are not judged here: they are the data check itself, run by `validate`.
 *
 * @example errors.push(...validateExpectationsAgainstColumns(subject, columns, 'data/orders.parquet', origin));
 */
export function validateExpectationsAgainstColumns(
  subject: ValidationSubject,
  columns: readonly SourceColumn[],
  where: string,
  origin?: string,
): TesseraError[] {
  const types = new Map(columns.map((c) => [c.name, c.type]));
  const errors: TesseraError[] = [];
  const label = `${subject.kind === 'view' ? 'feature view' : subject.kind} '${subject.name}'`;
  subject.expectations.forEach((e, i) => {
    if (e.check === 'type') return;
    const field = `expectations.${i}`;
    const fail = (message: string, extra: { expected?: string; actual?: string; hint?: string } = {}) =>
      errors.push(
        definitionError(`expectation '${e.name}' of ${label}: ${message}`, {
          file: origin ?? where,
          field,
          ...extra,
        }),
      );
    const cols = [...columnsOf(e)];
    if (e.check === 'max_staleness' && e.column === undefined && subject.timestampField)
      cols.push(subject.timestampField);
    for (const c of cols) {
      const actual = types.get(c);
      if (actual === undefined) {
        fail(`column '${c}' is missing`, { hint: `columns of ${where}: ${[...types.keys()].join(', ')}` });
        continue;
      }
      const want = wantedKind(e);
      const ok =
        want === undefined ||
        (want === 'number'
          ? isCompatible('float64', actual)
          : want === 'text'
            ? isCompatible('string', actual)
            : isCompatible('timestamp', actual));
      if (!ok)
        fail(`column '${c}' has a type the check cannot use`, {
          expected: `a ${want} column`,
          actual,
        });
      if (e.check === 'in_set') {
        const kind = isCompatible('float64', actual)
          ? 'number'
          : isCompatible('bool', actual)
            ? 'boolean'
            : isCompatible('string', actual)
              ? 'string'
              : undefined;
        const bad = e.values.find((v) => typeof v !== kind);
        if (kind === undefined || bad !== undefined)
          fail(`values do not match column '${c}'`, {
            expected:
              kind === undefined
                ? 'a numeric, boolean or text column'
                : `${kind} values for a ${actual} column`,
            actual: bad === undefined ? actual : JSON.stringify(bad),
          });
      }
    }
  });
  return errors;
}

function wantedKind(e: Expectation): 'number' | 'text' | 'timestamp' | undefined {
  switch (e.check) {
    case 'between':
    case 'mean':
    case 'stddev':
    case 'quantile':
      return 'number';
    case 'matches':
      return 'text';
    case 'max_staleness':
      return 'timestamp';
    default:
      return undefined;
  }
}

/**
 * Load-time check of every source's and feature view's expectations against the source columns (read with
 * `describe`). Sources whose data does not exist yet (a stream's lake) are skipped, as for feature columns.
 * Feature services' expectations are checked when a training set exists (its columns depend on the spine).
 */
export async function validateQualityDefinitions(
  state: RegistryState,
  describe: (source: RegistryState['sources'][number]) => Promise<SourceColumn[]>,
  origins: ReadonlyMap<string, string> = new Map(),
): Promise<TesseraError[]> {
  const errors: TesseraError[] = [];
  const cache = new Map<string, SourceColumn[] | undefined>();
  const columnsOfSource = async (source: RegistryState['sources'][number]) => {
    if (!cache.has(source.name)) {
      try {
        cache.set(source.name, await describe(source));
      } catch (e) {
        if (!(e instanceof TesseraError)) throw e;
        if (e.code !== 'NOT_FOUND') errors.push(e);
        cache.set(source.name, undefined);
      }
    }
    return cache.get(source.name);
  };
  const whereOf = (s: RegistryState['sources'][number]) =>
    s.type === 'postgres' ? (s.table ?? 'query') : s.path;
  for (const source of state.sources) {
    if (!source.expectations?.length) continue;
    const cols = await columnsOfSource(source);
    if (cols)
      errors.push(
        ...validateExpectationsAgainstColumns(
          sourceSubject(source),
          cols,
          whereOf(source),
          origins.get(`Source/${source.name}`),
        ),
      );
  }
  for (const view of state.featureViews) {
    if (!view.expectations?.length) continue;
    const source = state.sources.find((s) => s.name === view.source);
    if (!source) continue; // reported by validateState
    const cols = await columnsOfSource(source);
    if (!cols) continue;
    const subject = viewSubject(state, view, source);
    const projection = subject.data.type === 'source' ? (subject.data.projection ?? []) : [];
    const projected = projection.flatMap((p) => {
      const c = cols.find((x) => x.name === p.column);
      return c ? [{ name: p.name, type: c.type }] : [];
    });
    errors.push(
      ...validateExpectationsAgainstColumns(
        subject,
        projected,
        `view '${view.name}' (keys, timestamps, features)`,
        origins.get(`FeatureView/${view.name}`),
      ),
    );
  }
  return errors;
}
