import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { decodeTile, encodeTile } from '../aggregation/tile-codec.js';
import type { TileSlab } from '../aggregation/tile-slab.js';
import { TileTable } from '../aggregation/tile-table.js';
import { type HopLayout, type TilePlan, tilePlan, tileStartOf } from '../aggregation/tiles.js';
import { tileExpiry } from '../aggregation/window.js';
import { TesseraError } from '../core/errors.js';
import type { AggregationSelection } from '../definitions/resolve.js';
import type { Source } from '../definitions/source.js';
import type { OfflineWriter, SourceColumn } from '../offline/offline-store.js';
import type { OnlineStore, OnlineViewRef, TileBatch, TileWrite } from '../online/online-store.js';
import { compileEventChecks, type EventChecker } from '../quality/stream-checks.js';
import { decodeEvent, type EventSchema, eventSchemaOf } from './event-decoder.js';
import { type StagedFile, StagedFiles, safeName } from './staged-files.js';
import type { StreamHandler, StreamRecord } from './stream-source.js';

/** Events more than this far ahead of the worker's clock are dead letters (tiles are loaded up to it). */
export const MAX_FUTURE_MS = 86_400_000;

export interface StreamWorkerOptions {
  readonly project: string;
  /** Consumer (group) name: checkpoints are stored under it. */
  readonly consumer: string;
  readonly source: Source;
  /** The online aggregation views over `source`; they must share join keys (the stream's partition key). */
  readonly views: readonly AggregationSelection[];
  readonly online: OnlineStore;
  /** Appends ingested events to the source's Parquet lake; absent: no lake append. */
  readonly lake?: {
    readonly writer: OfflineWriter;
    readonly repoPath: string;
    readonly columns: readonly SourceColumn[];
  };
  /** Where staged files wait for their commit (default `<repo>/.tessera/stream/<consumer>`). */
  readonly stagingDir: string;
  /** Folder of dead-letter files (JSON lines, one file per batch and partition). */
  readonly deadLetterDir: string;
  /** This worker's stable identity across restarts (static group membership id); default: one per process. */
  readonly instanceId?: string;
  readonly clock?: () => number;
  /** Test hook: called at named points of a batch; throwing there simulates a crash at that point. */
  readonly faultPoint?: (point: 'staged' | 'committed' | 'promoted') => void;
}

/** What a worker has done, for logs and metrics. */
export interface StreamCounters {
  events: number;
  late: number;
  malformed: number;
  batches: number;
  conflicts: number;
  /** Events refused by an `error` expectation of the source (sent to dead letters). */
  invalid: number;
  /** Events that failed only `warn` expectations (kept). */
  warned: number;
  /** Failures per expectation name, both severities. */
  readonly checkFailures: Record<string, number>;
}

/**
 * What metrics see of a worker (src/metrics/stream-metrics.ts): one call per committed batch with its counts,
 * never one per event.
 */
export interface StreamObserver {
  /** A batch was committed: events accepted, records refused by reason, and how long it took (seconds). */
  batch(stats: {
    readonly events: number;
    readonly malformed: number;
    readonly late: number;
    readonly tooFarAhead: number;
    /** Events refused by an `error` expectation of the source. */
    readonly invalid: number;
    /** Expectation failures of the batch by name, both severities. */
    readonly checkFailures: ReadonlyMap<string, { severity: 'error' | 'warn'; count: number }>;
    readonly seconds: number;
  }): void;
  /** A commit was refused: another worker moved a partition on. */
  conflict(): void;
  /** Partitions were assigned to or taken from this worker. */
  rebalanced(change: 'assigned' | 'revoked', partitions: number): void;
}

/** A dead letter: the record as received, where it came from, and why it was refused. */
export interface DeadLetter {
  readonly partition: string;
  readonly offset: number;
  readonly reason: string;
  readonly field?: string;
  readonly value: string;
}

interface PartitionState {
  next: number | null;
  watermark: number;
}

/** Tiles the cache may hold before it is emptied. */
const MAX_CACHED_TILES = 500_000;

/** One tile series: the tiles of one hop of one view (series are numbered over all views and hops). */
interface TileSeries {
  readonly v: number;
  readonly layout: HopLayout;
}

/**
 * The stream engine for one source: decodes records, drops late and malformed ones to the dead-letter folder,
 * folds events into tiles with the same code as batch materialization, and commits each batch atomically:
 * tiles of every view plus each partition's next offset, watermark and the batch's staged files, in one
 * `writeTiles` call (docs/semantics.md, "Stream engine"). A crash anywhere loses nothing and counts nothing
 * twice: uncommitted work is redone from the stored offsets, and files appear only through committed
 * checkpoints.
 *
 * Tiles of the entities a batch touches are loaded once (one read for the batch) and cached; the cache holds
 * only committed state (it is dropped when a commit fails).
 */
export class StreamWorker implements StreamHandler {
  readonly counters: StreamCounters = {
    events: 0,
    late: 0,
    malformed: 0,
    batches: 0,
    conflicts: 0,
    invalid: 0,
    warned: 0,
    checkFailures: {},
  };
  /** The source's row-level expectations as JS predicates (undefined: none, no per-event cost). */
  readonly #checker: EventChecker | undefined;
  /** Columns decoded only for the checks: cleared before the lake append, which never stored them. */
  readonly #checkOnlyColumns: readonly string[];
  readonly #opts: StreamWorkerOptions;
  readonly #plans: readonly TilePlan[];
  readonly #refs: readonly OnlineViewRef[];
  readonly #schema: EventSchema;
  readonly #latenessMs: number;
  readonly #staged: StagedFiles;
  readonly #partitions = new Map<string, PartitionState>();
  /**
   * Tiles known to the worker (committed state), by (entity, series, start): packed states per series and an
   * entity id per join key (aggregation/tile-table.ts; docs/benchmarks.md, "Windowed aggregations"). A tile
   * created by a batch holds nothing until it is loaded from the store, before any event is added to it.
   */
  readonly #tiles: TileTable;
  /** Per series, per tile handle: the last batch that added to it (so that a batch writes each tile once). */
  #lastBatch: Int32Array[];
  #batchSeq = 0;
  readonly #series: readonly TileSeries[];
  /** Per view, the indexes of its series in `#series`. */
  readonly #seriesOfView: readonly (readonly number[])[];
  readonly #clock: () => number;
  #observer: StreamObserver | undefined;

  constructor(opts: StreamWorkerOptions) {
    const schema = eventSchemaOf(opts.source, opts.views);
    this.#checker = compileEventChecks(opts.source.expectations ?? []);
    const known = new Set([
      ...schema.joinKeys.map((k) => k.name),
      schema.timestampField,
      ...schema.columns.map((c) => c.name),
    ]);
    this.#checkOnlyColumns = (this.#checker?.columns ?? []).filter((c) => !known.has(c));
    this.#schema =
      this.#checkOnlyColumns.length === 0
        ? schema
        : {
            ...schema,
            columns: [
              ...schema.columns,
              ...this.#checkOnlyColumns.map((name) => ({ name, type: 'any' as const })),
            ],
          };
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
    this.#plans = opts.views.map((v) => tilePlan(v.view));
    this.#series = this.#plans.flatMap((plan, v) => plan.hops.map((layout) => ({ v, layout })));
    this.#seriesOfView = this.#plans.map((_, v) => this.#series.flatMap((s, i) => (s.v === v ? [i] : [])));
    this.#tiles = new TileTable(
      this.#series.map((s) => s.layout),
      this.#schema.joinKeys,
    );
    this.#lastBatch = this.#series.map(() => new Int32Array(1024));
    this.#refs = opts.views.map((v) => ({ project: opts.project, name: v.view.name, ttlMs: 0 }));
    this.#latenessMs = Math.min(...opts.views.map((v) => v.view.allowedLatenessMs));
    this.#staged = new StagedFiles(
      opts.stagingDir,
      opts.instanceId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    );
  }

  /**
   * Check failures of the batch in progress, by expectation name; added to `counters` only once the batch is
   * committed, so a batch retried after a failed commit is counted once (like every other counter).
   */
  #batchFailures = new Map<string, { severity: 'error' | 'warn'; count: number }>();
  /** Set by `#onWarn` while one event is checked: an event failing several warn checks counts once. */
  #warnedThisEvent = false;
  readonly #onWarn = (failure: { name: string }): void => {
    this.#countFailure(failure.name, 'warn');
    this.#warnedThisEvent = true;
  };

  #countFailure(name: string, severity: 'error' | 'warn'): void {
    const seen = this.#batchFailures.get(name);
    if (seen === undefined) this.#batchFailures.set(name, { severity, count: 1 });
    else seen.count++;
  }

  /** Reports every batch, conflict and rebalance to `observer` from now on (undefined: stop). */
  observe(observer: StreamObserver | undefined): void {
    this.#observer = observer;
  }

  /** Per owned partition: the committed next offset (null before any) and watermark (null before any event). */
  positions(): Map<string, { next: number | null; watermark: number | null }> {
    const out = new Map<string, { next: number | null; watermark: number | null }>();
    for (const [p, s] of this.#partitions) {
      out.set(p, { next: s.next, watermark: Number.isFinite(s.watermark) ? s.watermark : null });
    }
    return out;
  }

  async assigned(partitions: readonly string[]): Promise<ReadonlyMap<string, number | null>> {
    this.#observer?.rebalanced('assigned', partitions.length);
    const checkpoints = await this.#opts.online.readCheckpoints(this.#opts.consumer);
    const out = new Map<string, number | null>();
    for (const p of partitions) {
      const c = checkpoints.get(p);
      const meta = parseMeta(c?.meta ?? null);
      this.#staged.recover(p, c?.next ?? null, meta.files);
      this.#partitions.set(p, { next: c?.next ?? null, watermark: meta.watermark });
      out.set(p, c?.next ?? null);
    }
    return out;
  }

  async revoked(partitions: readonly string[]): Promise<void> {
    this.#observer?.rebalanced('revoked', partitions.length);
    for (const p of partitions) this.#partitions.delete(p);
    // Entities are not tracked per partition: drop the whole cache, it reloads from committed tiles.
    this.#clearCache();
  }

  async batch(records: readonly StreamRecord[]): Promise<void> {
    if (records.length === 0) return;
    const started = performance.now();
    const now = this.#clock();
    let malformed = 0;
    let late = 0;
    let tooFarAhead = 0;
    let invalid = 0;
    let warned = 0;
    this.#batchFailures = new Map();
    const byPartition = new Map<
      string,
      { first: number; last: number; events: Record<string, unknown>[]; dead: DeadLetter[] }
    >();
    const accepted: { entity: number; ts: number; row: Readonly<Record<string, unknown>> }[] = [];
    const watermarks = new Map<string, number>();
    for (const r of records) {
      const state = this.#partitions.get(r.partition);
      if (state === undefined) continue; // revoked meanwhile: its records are another worker's now
      if (state.next !== null && r.offset < state.next) continue; // already committed (redelivered)
      let part = byPartition.get(r.partition);
      if (part === undefined) {
        part = { first: r.offset, last: r.offset, events: [], dead: [] };
        byPartition.set(r.partition, part);
      }
      part.last = r.offset;
      const decoded = decodeEvent(r.value, this.#schema);
      if (!decoded.ok) {
        part.dead.push({
          partition: r.partition,
          offset: r.offset,
          reason: decoded.reason,
          ...(decoded.field ? { field: decoded.field } : {}),
          value: r.value,
        });
        malformed++;
        continue;
      }
      const { ts, row } = decoded.event;
      if (this.#checker !== undefined) {
        this.#warnedThisEvent = false;
        const failure = this.#checker.check(row, this.#onWarn);
        if (this.#warnedThisEvent) warned++;
        if (failure !== undefined) {
          part.dead.push({
            partition: r.partition,
            offset: r.offset,
            reason: failure.reason,
            field: failure.column,
            value: r.value,
          });
          invalid++;
          this.#countFailure(failure.name, 'error');
          continue;
        }
        for (const c of this.#checkOnlyColumns) (row as Record<string, unknown>)[c] = undefined;
      }
      const watermark = watermarks.get(r.partition) ?? state.watermark;
      if (ts < watermark - this.#latenessMs) {
        part.dead.push({
          partition: r.partition,
          offset: r.offset,
          reason: `late: event time ${new Date(ts).toISOString()} is more than ${this.#latenessMs} ms behind the watermark ${new Date(watermark).toISOString()}`,
          field: this.#schema.timestampField,
          value: r.value,
        });
        late++;
        continue;
      }
      if (ts > now + MAX_FUTURE_MS) {
        part.dead.push({
          partition: r.partition,
          offset: r.offset,
          reason: `event time ${new Date(ts).toISOString()} is more than a day ahead of the worker's clock`,
          field: this.#schema.timestampField,
          value: r.value,
        });
        tooFarAhead++;
        continue;
      }
      watermarks.set(r.partition, Math.max(watermark, ts));
      part.events.push(row as Record<string, unknown>);
      accepted.push({ entity: this.#tiles.entityOf(row), ts, row });
    }
    if (byPartition.size === 0) return;

    try {
      const tiles = await this.#applyToTiles(accepted);
      const files = new Map<string, StagedFile[]>();
      for (const [p, part] of byPartition) {
        const expected = (this.#partitions.get(p) as PartitionState).next;
        files.set(p, await this.#stageFiles(p, expected, part.first, part.last, part.events, part.dead));
      }
      this.#opts.faultPoint?.('staged');
      await this.#opts.online.writeTiles(tiles, {
        consumer: this.#opts.consumer,
        offsets: [...byPartition].map(([p, part]) => ({
          partition: p,
          expected: (this.#partitions.get(p) as PartitionState).next,
          next: part.last + 1,
          meta: JSON.stringify({
            watermark: watermarks.get(p) ?? (this.#partitions.get(p) as PartitionState).watermark,
            files: files.get(p) ?? [],
          }),
        })),
      });
      this.#opts.faultPoint?.('committed');
      for (const [p, part] of byPartition) {
        const state = this.#partitions.get(p) as PartitionState;
        state.next = part.last + 1;
        state.watermark = watermarks.get(p) ?? state.watermark;
        this.#staged.promote(files.get(p) ?? []);
      }
      this.#opts.faultPoint?.('promoted');
      this.counters.events += accepted.length;
      this.counters.batches++;
      this.counters.malformed += malformed + tooFarAhead;
      this.counters.late += late;
      this.counters.invalid += invalid;
      this.counters.warned += warned;
      for (const [name, { count }] of this.#batchFailures) {
        this.counters.checkFailures[name] = (this.counters.checkFailures[name] ?? 0) + count;
      }
      this.#observer?.batch({
        events: accepted.length,
        malformed,
        late,
        tooFarAhead,
        invalid,
        checkFailures: this.#batchFailures,
        seconds: (performance.now() - started) / 1000,
      });
    } catch (e) {
      // The cache may hold uncommitted changes: drop it; the source resumes from the stored offsets.
      this.#clearCache();
      if (e instanceof TesseraError && e.code === 'CONFLICT') {
        this.counters.conflicts++;
        this.#observer?.conflict();
      }
      throw e;
    }
  }

  /** Folds accepted events into the cached tiles (loading missing ones first); returns the changed tiles. */
  async #applyToTiles(
    events: readonly { entity: number; ts: number; row: Readonly<Record<string, unknown>> }[],
  ): Promise<TileBatch[]> {
    const batch = ++this.#batchSeq;
    const table = this.#tiles;
    // A tile already past its expiry is skipped: every store drops a tile written expired (OnlineStore.writeTiles,
    // checked against Date.now() at write time, which is later than this) and never returns one from readTiles,
    // so reading, folding and encoding it changes nothing. Events older than the hop's longest window are common
    // (all but the last ~10 minutes of events for a 10m window), and were most of the tiles a batch handled.
    const now = Date.now();
    // Every (event, view, hop) the batch touches, in event order: series, tile handle and event. Tiles not in the
    // cache are created empty and loaded below, all in one read, before any event is added.
    const touched: number[] = [];
    const missing: number[] = [];
    // Per view, the newest event time folded into a live tile: the view's freshness (OnlineStore.freshness).
    const newest: number[] = this.#plans.map(() => Number.NEGATIVE_INFINITY);
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as (typeof events)[number];
      for (let v = 0; v < this.#plans.length; v++) {
        if (!(this.#plans[v] as TilePlan).accepts(e.row)) continue;
        for (const s of this.#seriesOfView[v] as readonly number[]) {
          const { layout } = this.#series[s] as TileSeries;
          const start = tileStartOf(e.ts, layout.hopMs);
          if (tileExpiry(start, layout.hopMs, layout.longestWindowMs) <= now) continue;
          let h = table.find(e.entity, s, start);
          if (h < 0) {
            h = table.create(e.entity, s, start);
            missing.push(s, h);
          }
          touched.push(s, h, i);
          if (e.ts > (newest[v] as number)) newest[v] = e.ts;
        }
      }
    }
    // The touched tiles the cache does not know: one read for all of them.
    if (missing.length > 0) {
      const requests = [];
      for (let j = 0; j < missing.length; j += 2) {
        const s = missing[j] as number;
        const h = missing[j + 1] as number;
        const { v, layout } = this.#series[s] as TileSeries;
        const start = table.startOf(s, h);
        requests.push({
          view: this.#refs[v] as OnlineViewRef,
          entityKeys: [table.entityKeyOf(s, h)],
          hopMs: layout.hopMs,
          fromStart: start,
          toStart: start,
        });
      }
      const generation = table.generation;
      const found = await this.#opts.online.readTiles(requests);
      // Sources call batch() and revoked() one at a time, so nothing clears the cache during this read.
      if (table.generation !== generation) throw new Error('internal: tile cache cleared during a batch');
      for (let j = 0; j < missing.length; j += 2) {
        const s = missing[j] as number;
        const { layout } = this.#series[s] as TileSeries;
        const stored = found[j / 2]?.[0]?.[0];
        const states = stored === undefined ? undefined : decodeTile(layout, stored.value);
        if (states !== undefined) (table.slabs[s] as TileSlab).load(missing[j + 1] as number, states);
      }
    }

    const dirty: number[] = [];
    for (let j = 0; j < touched.length; j += 3) {
      const s = touched[j] as number;
      const h = touched[j + 1] as number;
      const e = events[touched[j + 2] as number] as (typeof events)[number];
      (table.slabs[s] as TileSlab).add(h, e.row, e.ts);
      let last = this.#lastBatch[s] as Int32Array;
      if (h >= last.length) {
        const grown = new Int32Array(Math.max(h + 1, last.length * 2));
        grown.set(last);
        this.#lastBatch[s] = grown;
        last = grown;
      }
      if (last[h] !== batch) {
        last[h] = batch;
        dirty.push(s, h);
      }
    }
    const batches: TileWrite[][] = this.#plans.map(() => []);
    for (let j = 0; j < dirty.length; j += 2) {
      const s = dirty[j] as number;
      const h = dirty[j + 1] as number;
      const { v, layout } = this.#series[s] as TileSeries;
      const start = table.startOf(s, h);
      (batches[v] as TileWrite[]).push({
        entityKey: table.entityKeyOf(s, h),
        hopMs: layout.hopMs,
        start,
        value: encodeTile(layout, table.states(s, h)),
        expiresAt: tileExpiry(start, layout.hopMs, layout.longestWindowMs),
      });
    }
    this.#evictIfFull();
    return this.#plans.map((_, v) => ({
      view: this.#refs[v] as OnlineViewRef,
      tiles: batches[v] as TileWrite[],
      ...(Number.isFinite(newest[v]) ? { newestEventTs: newest[v] as number } : {}),
    }));
  }

  /** Bounds the cache: past the limit, it is emptied (it holds committed state only, so reloading is safe). */
  #evictIfFull(): void {
    if (this.#tiles.size > MAX_CACHED_TILES) this.#clearCache();
  }

  #clearCache(): void {
    this.#tiles.clear();
    // Handles restart from 0: no tile may look as already written by the current batch.
    for (const last of this.#lastBatch) last.fill(0);
  }

  /** Writes the batch's lake file(s) and dead letters of one partition under staging names. */
  async #stageFiles(
    partition: string,
    expected: number | null,
    first: number,
    last: number,
    events: readonly Record<string, unknown>[],
    dead: readonly DeadLetter[],
  ): Promise<StagedFile[]> {
    const out: StagedFile[] = [];
    const name = `stream-${safeName(partition)}-${first}-${last}`;
    if (dead.length > 0) {
      const f = this.#staged.path(partition, expected, join(this.#opts.deadLetterDir, `${name}.jsonl`));
      writeFileSync(
        f.staged,
        `${dead.map((d) => JSON.stringify({ ...d, source: this.#opts.source.name })).join('\n')}\n`,
      );
      out.push(f);
    }
    const lake = this.#opts.lake;
    if (lake !== undefined && events.length > 0 && this.#opts.source.type === 'parquet') {
      const path = this.#opts.source.path;
      const dir = isAbsolute(path) ? path : resolve(lake.repoPath, path);
      const byDay = new Map<string, Record<string, unknown>[]>();
      for (const row of events) {
        const day = (row[this.#schema.timestampField] as Date).toISOString().slice(0, 10);
        const list = byDay.get(day);
        if (list) list.push(row);
        else byDay.set(day, [row]);
      }
      for (const [day, rows] of byDay) {
        const f = this.#staged.path(partition, expected, join(dir, `date=${day}`, `${name}.parquet`));
        await lake.writer.writeParquet(rows, lake.columns, f.staged);
        out.push(f);
      }
    }
    return out;
  }
}

function parseMeta(meta: string | null): { watermark: number; files: StagedFile[] } {
  if (meta === null) return { watermark: Number.NEGATIVE_INFINITY, files: [] };
  const m = JSON.parse(meta) as { watermark?: number | null; files?: StagedFile[] };
  return {
    watermark: typeof m.watermark === 'number' ? m.watermark : Number.NEGATIVE_INFINITY,
    files: m.files ?? [],
  };
}
