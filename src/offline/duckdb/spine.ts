import type { DuckDBConnection } from '@duckdb/node-api';
import { TesseraError } from '../../core/errors.js';
import type { JoinKey } from '../../definitions/entity.js';
import type { SourceColumn, SpineInput } from '../offline-store.js';
import { type ColumnSpec, createTableFromRows, inferColumns } from './rows-table.js';
import { spineFileRelation } from './source-relation.js';
import { keySqlType, quoteIdent } from './sql.js';

/** A spine loaded into a DuckDB temp table, whose `rowid` is the input order. */
export interface LoadedSpine {
  readonly table: string;
  readonly columns: readonly SourceColumn[];
  /** How the spine is named in messages: its file, "spine query" or "in-memory spine". */
  readonly label: string;
}

export async function describeTable(connection: DuckDBConnection, relation: string): Promise<SourceColumn[]> {
  const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${relation}`);
  return reader
    .getRowObjectsJS()
    .map((r) => ({ name: String(r['column_name']), type: String(r['column_type']) }));
}

/**
 * Loads a spine into TEMP table `table`: a Parquet/CSV file, a DuckDB query, or JS rows (through the appender).
 * For JS rows, numbers in the timestamp column are epoch milliseconds; strings may carry an offset.
 */
export async function loadSpine(
  connection: DuckDBConnection,
  spine: SpineInput,
  repoPath: string,
  table: string,
  expected: { timestampColumn: string; joinKeys: readonly JoinKey[] },
): Promise<LoadedSpine> {
  let label: string;
  if (spine.kind === 'rows') {
    label = 'in-memory spine';
    let columns: ColumnSpec[];
    let rows = spine.rows;
    if (spine.rows.length === 0) {
      // Nothing to infer from: give the empty result the columns it would have had.
      columns = [
        { name: expected.timestampColumn, type: 'TIMESTAMPTZ' },
        ...expected.joinKeys.map((k) => ({ name: k.name, type: keySqlType(k.type) })),
      ].filter((c, i, all) => all.findIndex((o) => o.name === c.name) === i);
    } else {
      rows = epochMsToDates(rows, expected.timestampColumn);
      columns = inferColumns(rows);
    }
    await createTableFromRows(connection, table, rows, columns);
  } else {
    let select: string;
    if (spine.kind === 'file') {
      const rel = await spineFileRelation(spine.path, repoPath);
      label = `spine file ${rel.path}`;
      select = `SELECT * FROM ${rel.sql}`;
    } else {
      label = 'spine query';
      select = spine.query.trim().replace(/;+\s*$/, '');
    }
    try {
      await connection.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(table)} AS ${select}`);
    } catch (e) {
      throw new TesseraError(
        `cannot read the ${label}`,
        { actual: (e as Error).message },
        'INVALID_INPUT',
        e,
      );
    }
  }
  const columns = await describeTable(connection, quoteIdent(table));
  const present = columns.map((c) => c.name);
  const require = (name: string, role: string) => {
    if (!present.includes(name)) {
      throw new TesseraError(
        `the ${label} has no ${role} column '${name}'`,
        { field: name, hint: `columns present: ${present.join(', ') || 'none'}` },
        'INVALID_INPUT',
      );
    }
  };
  require(expected.timestampColumn, 'timestamp');
  for (const k of expected.joinKeys) require(k.name, 'join key');
  return { table, columns, label };
}

/** Numbers in the timestamp column are epoch milliseconds: make them Dates so they type as instants. */
function epochMsToDates(
  rows: readonly Readonly<Record<string, unknown>>[],
  column: string,
): readonly Readonly<Record<string, unknown>>[] {
  if (!rows.some((r) => typeof r[column] === 'number')) return rows;
  return rows.map((r) => {
    const v = r[column];
    return typeof v === 'number' ? { ...r, [column]: new Date(v) } : r;
  });
}
