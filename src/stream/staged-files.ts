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
 * A worker that restarts (or takes a partition over) calls `recover` with the list of the partition's last
 * checkpoint: listed files still staged are promoted (the commit happened, the rename did not), and every other
 * staged file of the partition is deleted (written by a batch whose commit never happened, possibly by a worker
 * that lost the partition). Final names are deterministic per batch, so a repeated promotion is harmless.
 */
export class StagedFiles {
  constructor(private readonly stagingDir: string) {}

  /** A fresh staging path for a file of `partition` whose final path is `final`. */
  path(partition: string, final: string): StagedFile {
    const dir = join(this.stagingDir, safeName(partition));
    mkdirSync(dir, { recursive: true });
    return { staged: join(dir, `${randomUUID()}.staged`), final };
  }

  promote(files: readonly StagedFile[]): void {
    for (const f of files) {
      if (!existsSync(f.staged)) continue; // promoted already
      mkdirSync(dirname(f.final), { recursive: true });
      renameSync(f.staged, f.final);
    }
  }

  recover(partition: string, committed: readonly StagedFile[]): void {
    this.promote(committed);
    const dir = join(this.stagingDir, safeName(partition));
    if (!existsSync(dir)) return;
    const keep = new Set(committed.map((f) => f.staged));
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!keep.has(path)) rmSync(path, { force: true });
    }
  }
}

/** A partition id as a file-name part: `clicks/3` → `clicks_3`. */
export const safeName = (partition: string): string => partition.replace(/[^A-Za-z0-9_.-]/g, '_');
