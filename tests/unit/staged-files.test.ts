import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type StagedFile, StagedFiles } from '../../src/stream/staged-files.js';

describe('StagedFiles', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const setup = () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-staged-'));
    dirs.push(dir);
    return dir;
  };

  it('promotes the files a checkpoint lists, deletes batches that can no longer commit, keeps others in flight', () => {
    const dir = setup();
    const a = new StagedFiles(join(dir, 'staging'), 'worker-a');
    const b = new StagedFiles(join(dir, 'staging'), 'worker-b');
    const write = (f: StagedFile, text: string) => {
      writeFileSync(f.staged, text);
      return f;
    };
    const committed = write(a.path('t/0', 10, join(dir, 'lake', 'one.parquet')), 'committed');
    const stale = write(a.path('t/0', 10, join(dir, 'lake', 'stale.parquet')), 'stale'); // lost the race at 10
    const inFlight = write(b.path('t/0', 20, join(dir, 'lake', 'b.parquet')), 'in flight'); // b may still commit
    const mineEarlier = write(a.path('t/0', 20, join(dir, 'lake', 'a-old.parquet')), 'a, before its restart');

    // Worker a restarts: the checkpoint moved 10 → 20 and listed `committed`.
    a.recover('t/0', 20, [committed]);
    expect(readFileSync(committed.final, 'utf8')).toBe('committed');
    expect(existsSync(stale.staged)).toBe(false);
    expect(existsSync(inFlight.staged)).toBe(true);
    expect(existsSync(mineEarlier.staged)).toBe(false);

    // Promoting twice is harmless.
    a.promote([committed]);
    expect(readFileSync(committed.final, 'utf8')).toBe('committed');
  });
});
