/** The validation results stores (SQLite beside the embedded registry, PostgreSQL beside the team registry). */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll } from 'vitest';
import { PostgresResultsStore } from '../../src/quality/postgres/postgres-results-store.js';
import { SqliteResultsStore } from '../../src/quality/sqlite/sqlite-results-store.js';
import { SqliteRegistryStore } from '../../src/registry/sqlite/sqlite-registry-store.js';
import { runValidationResultsStoreConformance } from '../conformance/validation-results-store.case.js';
import { postgresUrl } from '../helpers/services.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-results-'));
const file = join(dir, 'registry.db');
const url = postgresUrl();
const schema = `tessera_test_results_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});

// The SQLite store shares the registry's file: open the registry on it too, as FeatureStore does.
const registry = new SqliteRegistryStore(file);
afterAll(() => registry.close());
runValidationResultsStoreConformance('sqlite', async () => new SqliteResultsStore(file));
runValidationResultsStoreConformance('postgres', async () => new PostgresResultsStore({ url, schema }));
