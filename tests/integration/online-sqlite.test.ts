import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openOnlineStore } from '../../src/online/open-online-store.js';
import { SqliteOnlineStore } from '../../src/online/sqlite/sqlite-online-store.js';
import { runOnlineStoreConformance } from '../conformance/online-store.case.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-online-sqlite-'));
const file = join(dir, 'online.db');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every store of the suite opens the same file, as the server and a materialization job would.
runOnlineStoreConformance('sqlite', async (options) => new SqliteOnlineStore({ path: file, ...options }));

describe('SqliteOnlineStore', () => {
  const view = { project: 'sqlite_specific', name: 'v', ttlMs: 0 };

  it('uses WAL mode and shares rows between connections to one file', async () => {
    const writer = new SqliteOnlineStore({ path: file });
    const reader = new SqliteOnlineStore({ path: file });
    try {
      // The reader looks the view up before it exists, then must find it once written.
      expect(await reader.read([{ view, entityKeys: ['1'] }])).toEqual([[null]]);
      await writer.write(view, [{ entityKey: '1', eventTs: 5, createdTs: 0, values: { a: 1 } }]);
      expect((await reader.read([{ view, entityKeys: ['1'] }]))[0]?.[0]?.values).toEqual({ a: 1 });
      const db = new Database(file, { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      } finally {
        db.close();
      }
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it('purges rows past TTL + retention as writes go on', async () => {
    const path = join(dir, 'purge.db');
    const store = new SqliteOnlineStore({ path, retentionMs: 1 });
    const expiring = { project: 'purge', name: 'short', ttlMs: 1 };
    const old = Date.now() - 60_000;
    await store.write(
      expiring,
      Array.from({ length: 6000 }, (_, i) => row(`e${i}`, old)),
    );
    await store.write(view, [row('kept', 1)]);
    await store.write(
      expiring,
      Array.from({ length: 6000 }, (_, i) => row(`f${i}`, old)),
    );
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT count(*) FROM tessera_online_rows').pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });

  it('works in memory and through openOnlineStore', async () => {
    const store = openOnlineStore({ type: 'sqlite', path: ':memory:' });
    expect(store.kind).toBe('sqlite');
    await store.write(view, [row('m', 1)]);
    expect((await store.read([{ view, entityKeys: ['m'] }]))[0]?.[0]?.eventTs).toBe(1);
    await store.close();
    await store.close();
  });

  it('rejects rows with non-finite timestamps', async () => {
    const store = new SqliteOnlineStore({ path: ':memory:' });
    await expect(store.write(view, [row('x', Number.NaN)])).rejects.toThrow(/finite epoch milliseconds/);
    await store.close();
  });
});

function row(entityKey: string, eventTs: number) {
  return { entityKey, eventTs, createdTs: 0, values: { v: entityKey } };
}
