import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll } from 'vitest';
import { PostgresProfileStore } from '../../src/monitoring/postgres/postgres-profile-store.js';
import { SqliteProfileStore } from '../../src/monitoring/sqlite/sqlite-profile-store.js';
import { runProfileStoreConformance } from '../conformance/profile-store.case.js';
import { postgresUrl } from '../helpers/services.js';

const file = join(mkdtempSync(join(tmpdir(), 'tessera-profiles-')), 'registry.db');
runProfileStoreConformance('sqlite', async () => new SqliteProfileStore(file));

const url = postgresUrl();
const schema = `tessera_test_profiles_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
runProfileStoreConformance('postgres', async () => new PostgresProfileStore({ url, schema }));

afterAll(async () => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});
