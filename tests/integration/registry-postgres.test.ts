import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openRegistryStore } from '../../src/registry/open-registry.js';
import { PostgresRegistryStore } from '../../src/registry/postgres/postgres-registry-store.js';
import { runRegistryStoreConformance } from '../conformance/registry-store.case.js';
import { postgresUrl } from '../helpers/services.js';

const url = postgresUrl();
const run = randomUUID().replaceAll('-', '').slice(0, 12);
const schema = `tessera_test_registry_${run}`;
const otherSchema = `tessera_test_registry_init_${run}`;

afterAll(async () => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of [schema, otherSchema]) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await client.end();
  }
});

runRegistryStoreConformance('postgres', async () => new PostgresRegistryStore({ url, schema }));

describe('PostgresRegistryStore', () => {
  it('creates its schema once when many processes start together', async () => {
    const stores = Array.from({ length: 8 }, () =>
      openRegistryStore({ type: 'postgres', url, schema: otherSchema }),
    );
    try {
      await Promise.all(stores.map((s, i) => s.setBookmark('p', `v${i}`, i)));
      expect(await stores[0]?.getBookmark('p', 'v7')).toBe(7);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('stores snapshots as JSONB', async () => {
    const store = new PostgresRegistryStore({ url, schema });
    await store.commit(`jsonb_${run}`, 0, {
      state: { project: `jsonb_${run}`, entities: [] },
      objectVersions: {},
      author: 'a',
      message: '',
      changes: [],
    });
    await store.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT jsonb_typeof(snapshot) AS t, snapshot->'state'->>'project' AS p FROM "${schema}".versions WHERE project = $1`,
        [`jsonb_${run}`],
      );
      expect(rows).toEqual([{ t: 'object', p: `jsonb_${run}` }]);
    } finally {
      await client.end();
    }
  });

  it('rejects a schema name that is not an identifier', () => {
    expect(() => new PostgresRegistryStore({ url, schema: 'x"; DROP TABLE y; --' })).toThrow(
      /invalid registry schema/,
    );
  });

  it('shares a caller-owned pool without closing it', async () => {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    const store = new PostgresRegistryStore({ pool, schema });
    await store.setBookmark(`pool_${run}`, 'v', 1);
    await store.close();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });
});
