import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { runReleasedTogether, startReleasedChild } from '../helpers/released-child.js';

const opener = fileURLToPath(new URL('../helpers/sqlite-opener.ts', import.meta.url));
const PROCESSES = 4;
const FILES = 100;

// The embedded stores share one SQLite file, and a server, a materialization and a stream consumer may open a
// fresh one at the same moment. Converting it to WAL and creating the tables must then wait, not fail with
// "database is locked". Before the fix, 3 trials in 4 of this size had a process fail.
describe('Opening one fresh SQLite file from several processes at once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-open-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`never fails: ${PROCESSES} processes open every store on ${FILES} new files together`, async () => {
    const children = Array.from({ length: PROCESSES }, (_, i) =>
      startReleasedChild(opener, [dir, String(i), String(FILES)]),
    );
    expect(await runReleasedTogether(children)).toEqual(Array(PROCESSES).fill('ok'));
    for (const f of [0, FILES - 1]) {
      const db = new Database(join(dir, `tessera-${f}.db`), { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
        expect(tables).toEqual(
          expect.arrayContaining(['versions', 'tessera_online_rows', 'validation_runs', 'profiles']),
        );
      } finally {
        db.close();
      }
    }
  }, 120_000);
});
