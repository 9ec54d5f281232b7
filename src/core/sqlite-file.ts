import type Database from 'better-sqlite3';

/**
 * Opening one SQLite file from several processes at once: the steps that SQLite's busy timeout does not cover.
 *
 * Converting a file to WAL needs exclusive access, and SQLite returns SQLITE_BUSY at once instead of running the
 * busy handler (two openers each hold a shared lock and want an exclusive one: waiting could deadlock). A
 * migration that reads the schema and then alters it has the same problem in WAL mode, if another process
 * commits in between (SQLITE_BUSY_SNAPSHOT). So the conversion is retried until the busy timeout, and schemas
 * are written in IMMEDIATE transactions, which take the write lock first and do wait.
 */

/**
 * Puts the file in WAL mode, retrying while another process holds it, for at most `busyTimeoutMs`.
 * WAL is a property of the file, so once any process has converted it this takes no lock at all.
 *
 * @example useWalJournal(db, 10_000);
 */
export function useWalJournal(db: Database.Database, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 50)) {
    try {
      if (db.pragma('journal_mode', { simple: true }) === 'wal') return;
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if (!isBusy(e) || Date.now() >= deadline) throw e;
      sleepSync(pauseMs);
    }
  }
}

/**
 * Runs `sql` (e.g. CREATE TABLE IF NOT EXISTS ...) and then `migrate`, in one IMMEDIATE transaction: two
 * processes creating the same schema wait for each other (up to the busy timeout) instead of failing.
 *
 * @example createSchema(db, 'CREATE TABLE IF NOT EXISTS t (x INTEGER)');
 */
export function createSchema(db: Database.Database, sql: string, migrate: () => void = () => {}): void {
  db.transaction(() => {
    db.exec(sql);
    migrate();
  }).immediate();
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread: constructors that open a store are synchronous, and the waits are a few ms. */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
