import type { Table } from 'apache-arrow';
import { TesseraError } from '../core/errors.js';
import type { TransformFn } from '../definitions/on-demand-feature-view.js';
import { outputColumn, type ResolvedFeatures } from '../definitions/resolve.js';
import type { ValueType } from '../definitions/value-types.js';
import type { HistoricalResult, SourceColumn } from '../offline/offline-store.js';
import { type ArrowColumn, arrowTable, arrowTypeOfEngineType, arrowTypeOfValueType } from './arrow-table.js';

/**
 * A training set: the spine with point-in-time feature values appended. Without on-demand features it stays
 * in the offline engine until read or written; with them, rows pass once through the same transform
 * functions that serving runs, so training and serving cannot diverge.
 */
export class TrainingSet {
  /** Features read only as inputs of on-demand views; computed, then dropped from the output. */
  private readonly inputOnlyColumns: readonly string[];

  constructor(
    private readonly result: HistoricalResult,
    private readonly resolved: ResolvedFeatures,
    private readonly fullFeatureNames: boolean,
    private readonly transforms: ReadonlyMap<string, TransformFn>,
    private readonly writeRows: (
      rows: Record<string, unknown>[],
      columns: SourceColumn[],
      path: string,
    ) => Promise<void>,
  ) {
    const requested = new Set(resolved.refs);
    this.inputOnlyColumns = [...resolved.views, ...resolved.aggregations].flatMap((v) =>
      v.features
        .filter((f) => !requested.has(`${v.view.name}:${f.name}`))
        .map((f) => outputColumn(`${v.view.name}:${f.name}`, fullFeatureNames)),
    );
  }

  get rowCount(): number {
    return this.result.rowCount;
  }

  /** Output columns in order: the spine's, then features in request order. */
  get columnNames(): string[] {
    const spineAndViews = this.result.columns
      .map((c) => c.name)
      .filter((n) => !this.inputOnlyColumns.includes(n));
    const odColumns = this.resolved.onDemand.flatMap((od) =>
      od.features.map((f) => outputColumn(`${od.view.name}:${f.name}`, this.fullFeatureNames)),
    );
    return [...spineAndViews, ...odColumns];
  }

  /** Feature columns only (what was requested), in request order. */
  get featureColumnNames(): string[] {
    return this.resolved.refs.map((ref) => outputColumn(ref, this.fullFeatureNames));
  }

  get columns(): readonly SourceColumn[] {
    return this.result.columns;
  }

  /** Every row as an object, in spine order. */
  async rows(): Promise<Record<string, unknown>[]> {
    const rows = await this.result.rows();
    if (this.resolved.onDemand.length === 0) return rows;
    return rows.map((row, i) => this.applyOnDemand(row, i));
  }

  /**
   * The training set as an Apache Arrow table: the columns of {@link columnNames} in that order, with the values
   * of {@link rows}. Feature columns take the Arrow type of their declared value type (`int64` → `Int64` with
   * bigint values, `timestamp` → `Timestamp<MILLISECOND, "UTC">`, `list<T>` → `List<T>`, …); spine columns,
   * labels included, the Arrow type of their DuckDB type. Nulls stay nulls.
   *
   * @example
   * const table = await training.toArrow();
   * table.getChild('views_7d')?.get(0); // 12n
   * await writeFile('train.arrow', tableToIPC(table, 'file'));
   */
  async toArrow(): Promise<Table> {
    const columns = this.arrowColumns();
    return arrowTable(columns, await this.rows());
  }

  /** Writes the training set as one Parquet file. */
  async writeParquet(path: string): Promise<void> {
    if (this.resolved.onDemand.length === 0) return this.result.writeParquet(path);
    await this.writeRows(await this.rows(), this.outputTypes(), path);
  }

  async close(): Promise<void> {
    await this.result.close();
  }

  private applyOnDemand(row: Record<string, unknown>, rowIndex: number): Record<string, unknown> {
    const out: Record<string, unknown> = { ...row };
    for (const od of this.resolved.onDemand) {
      const fn = this.transforms.get(od.view.name) as TransformFn;
      const input: Record<string, unknown> = {};
      for (const r of od.view.requestSchema) {
        if (!(r.name in row)) {
          throw new TesseraError(
            `the spine has no column '${r.name}', a request field of on-demand view '${od.view.name}'`,
            {
              field: r.name,
              hint: 'add the column to the spine',
            },
          );
        }
        input[r.name] = row[r.name];
      }
      for (const ref of od.view.inputs) {
        const feature = ref.slice(ref.indexOf(':') + 1);
        input[feature] = row[outputColumn(ref, this.fullFeatureNames)] ?? null;
      }
      let result: Record<string, unknown>;
      try {
        result = fn(input) ?? {};
      } catch (e) {
        throw new TesseraError(
          `on-demand view '${od.view.name}' failed on spine row ${rowIndex}: ${(e as Error).message}`,
          {
            row: rowIndex,
          },
        );
      }
      for (const f of od.features)
        out[outputColumn(`${od.view.name}:${f.name}`, this.fullFeatureNames)] = result[f.name] ?? null;
    }
    for (const c of this.inputOnlyColumns) delete out[c];
    return out;
  }

  private arrowColumns(): ArrowColumn[] {
    const declared = new Map<string, ValueType>();
    for (const s of [...this.resolved.views, ...this.resolved.aggregations, ...this.resolved.onDemand]) {
      for (const f of s.features)
        declared.set(outputColumn(`${s.view.name}:${f.name}`, this.fullFeatureNames), f.type);
    }
    const engine = new Map(this.result.columns.map((c) => [c.name, c.type]));
    return this.columnNames.map((name) => {
      const valueType = declared.get(name);
      if (valueType !== undefined) return { name, type: arrowTypeOfValueType(valueType) };
      const engineType = engine.get(name) ?? 'VARCHAR';
      const type = arrowTypeOfEngineType(engineType);
      if (type === undefined) {
        throw new TesseraError(
          `spine column '${name}' has type ${engineType}, which has no Arrow form here`,
          {
            field: name,
            actual: engineType,
            hint: 'cast it in the spine to a number, string, blob, date, timestamp or a list of these',
          },
        );
      }
      return { name, type };
    });
  }

  private outputTypes(): SourceColumn[] {
    const byName = new Map(this.result.columns.map((c) => [c.name, c.type]));
    return this.columnNames.map((name) => {
      const known = byName.get(name);
      if (known !== undefined) return { name, type: known };
      const od = this.resolved.onDemand
        .flatMap((o) => o.features.map((f) => ({ ref: `${o.view.name}:${f.name}`, type: f.type })))
        .find((x) => outputColumn(x.ref, this.fullFeatureNames) === name);
      return { name, type: duckType(od?.type ?? 'string') };
    });
  }
}

/** DuckDB type for a feature value type. */
export function duckType(t: string): string {
  const scalar: Record<string, string> = {
    int32: 'INTEGER',
    int64: 'BIGINT',
    float32: 'FLOAT',
    float64: 'DOUBLE',
    bool: 'BOOLEAN',
    string: 'VARCHAR',
    bytes: 'BLOB',
    timestamp: 'TIMESTAMPTZ',
  };
  const m = /^list<(.+)>$/.exec(t);
  return m ? `${scalar[m[1] as string] ?? 'VARCHAR'}[]` : (scalar[t] ?? 'VARCHAR');
}
