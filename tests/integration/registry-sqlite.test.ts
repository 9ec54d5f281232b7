import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRegistryStore } from '../../src/registry/sqlite/sqlite-registry-store.js';
import { runRegistryStoreConformance } from '../conformance/registry-store.case.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-registry-sqlite-'));
const file = join(dir, 'nested', 'registry.db');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

runRegistryStoreConformance('sqlite', async () => new SqliteRegistryStore(file));

describe('SqliteRegistryStore', () => {
  it('uses WAL mode so readers in other processes do not block the writer', async () => {
    const store = new SqliteRegistryStore(file);
    await store.latest('any');
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
      await store.close();
    }
  });

  it('works in memory', async () => {
    const store = new SqliteRegistryStore(':memory:');
    await store.setBookmark('p', 'v', 42);
    expect(await store.getBookmark('p', 'v')).toBe(42);
    await store.close();
    await store.close();
  });
});
