import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A file written under a staging name, and where it goes once its batch is committed. */
export interface StagedFile {
  readonly staged: string;
  readonly final: string;
}

/**
 * Files a stream batch produces (lake Parquet, dead letters) become visible only after the batch's checkpoint
 * is committed, and then exactly once:
 *   1. during the batch, each file is written under `<staging>/<partition>/<uuid>.staged` (invisible to readers);
 *   2. the checkpoint commit records the list of staged files with the new offset (checkpoint meta);
 *   3. after the commit they are renamed to their final names (atomic on one file system).
 * A worker that restarts (or takes a partition over) calls `recover` with the partition's last checkpoint:
 * listed files still staged are promoted (the commit happened, the rename did not), and staged files of batches
 * that can no longer commit are deleted. A staged file's name starts with the offset its batch expects to commit
 * from; once the checkpoint has moved past that offset, the batch's commit would be refused, so its files are
 * garbage. Files of a batch that may still commit (another worker's, in flight during a rebalance) are left
 * alone, unless this worker wrote them in an earlier life. Final names are deterministic per batch, so a
 * repeated promotion is harmless.
 */
export class StagedFiles {
  /**
   * @param owner this worker's identity (its static group membership id, or a per-process id): on recovery, its
   *   own leftovers from an earlier life are deleted too, since it cannot have a batch in flight any more.
   */
  constructor(
    private readonly stagingDir: string,
    private readonly owner: string,
  ) {}

  /** A fresh staging path for a file of `partition` (batch committing from `expected`), final path `final`. */
  path(partition: string, expected: number | null, final: string): StagedFile {
    const dir = join(this.stagingDir, safeName(partition));
    mkdirSync(dir, { recursive: true });
    return { staged: join(dir, `${expected ?? -1}-${safeName(this.owner)}-${randomUUID()}.staged`), final };
  }

  promote(files: readonly StagedFile[]): void {
    for (const f of files) {
      if (!existsSync(f.staged)) continue; // promoted already
      mkdirSync(dirname(f.final), { recursive: true });
      renameSync(f.staged, f.final);
    }
  }

  recover(partition: string, next: number | null, committed: readonly StagedFile[]): void {
    this.promote(committed);
    const dir = join(this.stagingDir, safeName(partition));
    if (!existsSync(dir)) return;
    const keep = new Set(committed.map((f) => f.staged));
    const mine = `-${safeName(this.owner)}-`;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const expected = Number.parseInt(name, 10);
      const dead =
        (next !== null && !(expected >= next)) || name.slice(String(expected).length).startsWith(mine);
      if (!keep.has(path) && dead) rmSync(path, { force: true });
    }
  }
}

/** A partition id as a file-name part: `clicks/3` → `clicks_3`. */
export const safeName = (partition: string): string => partition.replace(/[^A-Za-z0-9_.-]/g, '_');
