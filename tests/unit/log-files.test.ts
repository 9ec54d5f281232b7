import { describe, expect, it } from 'vitest';
import { BatchBuilder, bytesFor, type LogBatch } from '../../src/logging/log-batch.js';
import { type FileOutcome, LogFiles } from '../../src/logging/log-files.js';
import type { LogLayout } from '../../src/logging/log-layout.js';
import type { BlockColumn, LogBlock, LogColumn, LogFileWriter } from '../../src/logging/log-writer.js';
import type { FeatureStatus, OnlineFeaturesResult } from '../../src/serving/types.js';
import { prng } from '../helpers/prng.js';

const DAY_MS = 86_400_000;

const layout: LogLayout = {
  featureService: 'svc',
  joinKeys: [{ name: 'user_id', type: 'BIGINT' }],
  features: [{ ref: 'v:x', column: 'v__x', type: 'DOUBLE', statusColumn: 'v__x__status' }],
};

/** A file as a writer was given it: its path, and its rows as [request_id, served_at, user_id, x]. */
interface Written {
  readonly path: string;
  readonly rows: unknown[][];
}

/** The value of row r of a block column (the forms LogFiles gives a writer). */
function cell(column: BlockColumn | undefined, r: number): unknown {
  if (column === undefined) return null;
  if ('constant' in column) return column.constant;
  if ('numbers' in column) return column.numbers[r];
  if ('codes' in column) return column.codes[r];
  return column.values[r];
}

/** A writer that keeps what it is given, in order. */
function capture(): { writer: LogFileWriter; files: Written[] } {
  const files: Written[] = [];
  const writer: LogFileWriter = {
    write: async (columns: readonly LogColumn[], blocks: readonly LogBlock[], path: string) => {
      const at = (name: string) => columns.findIndex((c) => c.name === name);
      const wanted = ['request_id', 'served_at', 'user_id', 'v__x'].map(at);
      const rows: unknown[][] = [];
      for (const block of blocks)
        for (let r = 0; r < block.rows; r++) rows.push(wanted.map((c) => cell(block.columns[c], r)));
      files.push({ path, rows });
    },
    close: async () => undefined,
  };
  return { writer, files };
}

/** A hand-built result of `rows` users, user ids from `firstUser` on, x = user id / 2. */
function result(firstUser: number, rows: number): OnlineFeaturesResult {
  const users = Array.from({ length: rows }, (_, i) => firstUser + i);
  return {
    featureNames: ['user_id', 'x'],
    rows: users.map((u) => ({ user_id: u, x: u / 2 })),
    statuses: users.map(() => ['PRESENT', 'PRESENT'] as FeatureStatus[]),
    eventTimestamps: users.map(() => [null, null]),
  };
}

describe('feature log files from batches', () => {
  it('keeps every row in order, never splits a request, and cuts files by size and by UTC day (random cases)', async () => {
    const random = prng(5);
    for (let round = 0; round < 30; round++) {
      const maxFileRows = 1 + Math.floor(random() * 12);
      const { writer, files } = capture();
      const outcomes: FileOutcome[] = [];
      const returned: ArrayBuffer[] = [];
      const logFiles = new LogFiles({
        dir: '/logs',
        maxFileRows,
        writer,
        onFiles: (o, buffers) => {
          outcomes.push(...o);
          returned.push(...buffers);
        },
      });
      logFiles.defineLayout(0, layout);
      // Requests of 1 to 5 rows, served across a midnight (UTC), in batches of up to 16 rows.
      const sent: { user: number; at: number; request: number }[] = [];
      const batches: LogBatch[] = [];
      let builder = new BatchBuilder(0, ['number', 'number'], 1, new ArrayBuffer(bytesFor(16, 2, 1)));
      let user = 0;
      let at = 3 * DAY_MS - 20_000;
      for (let request = 0; request < 40; request++) {
        const rows = 1 + Math.floor(random() * 5);
        at += Math.floor(random() * 2000);
        if (builder.room() < rows) {
          batches.push(builder.take());
          builder = new BatchBuilder(0, ['number', 'number'], 1, new ArrayBuffer(bytesFor(16, 2, 1)));
        }
        builder.append(result(user, rows), undefined, at);
        for (let i = 0; i < rows; i++) sent.push({ user: user + i, at, request });
        user += rows;
      }
      batches.push(builder.take());
      for (const batch of batches) logFiles.add(batch);
      await logFiles.flush();

      expect(returned).toHaveLength(batches.length);
      expect(outcomes.every((o) => 'path' in o)).toBe(true);
      expect(outcomes.map((o) => o.rows)).toEqual(files.map((f) => f.rows.length));
      const all = files.flatMap((f) => f.rows);
      expect(all.map((r) => r[2])).toEqual(sent.map((s) => s.user));
      expect(all.map((r) => r[3])).toEqual(sent.map((s) => s.user / 2));
      expect(all.map((r) => r[1])).toEqual(sent.map((s) => s.at));
      // One id per request, on all of its rows; different requests, different ids.
      const idOf = new Map<number, unknown>();
      all.forEach((r, k) => {
        const s = sent[k] as (typeof sent)[number];
        if (!idOf.has(s.request)) idOf.set(s.request, r[0]);
        expect(r[0]).toBe(idOf.get(s.request));
      });
      expect(new Set(idOf.values()).size).toBe(idOf.size);
      for (const file of files) {
        const days = new Set(file.rows.map((r) => Math.floor((r[1] as number) / DAY_MS)));
        expect(days.size).toBe(1);
        const day = new Date(([...days][0] as number) * DAY_MS).toISOString().slice(0, 10);
        expect(file.path).toContain(`/logs/date=${day}/`);
        // Larger than maxFileRows only when it is a single request.
        const requests = new Set(file.rows.map((r) => r[0]));
        if (file.rows.length > maxFileRows) expect(requests.size).toBe(1);
      }
      // A request's rows are all in one file.
      const fileOfRequest = new Map<unknown, number>();
      files.forEach((f, i) => {
        for (const r of f.rows) {
          expect(fileOfRequest.get(r[0]) ?? i).toBe(i);
          fileOfRequest.set(r[0], i);
        }
      });
    }
  });
});
