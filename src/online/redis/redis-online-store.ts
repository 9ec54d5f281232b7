import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { TesseraError } from '../../core/errors.js';
import { ByteSink, columnsEncoding, decodeValues } from '../codec.js';
import {
  type Checkpoint,
  DEFAULT_RETENTION_MS,
  isNewerOrEqual,
  MAX_TILES_PER_READ,
  maxEventTs,
  newestEventOf,
  type OffsetCommit,
  type OnlineColumns,
  type OnlineReadRequest,
  type OnlineRow,
  type OnlineStore,
  type OnlineViewRef,
  type StoredRow,
  type StoredTile,
  staleOffset,
  type TileBatch,
  type TileReadRequest,
  type TileWrite,
  type ViewFreshness,
} from '../online-store.js';

/** Options of {@link RedisOnlineStore}: give `url` (the store owns the connection) or `client` (you do). */
export interface RedisOnlineStoreOptions {
  /** `redis://[user:password@]host:port[/db]`; the store opens and closes its own connection. */
  readonly url?: string;
  /** An existing connection, left open by `close()`. */
  readonly client?: Redis;
  /** First segment of every key (default `tsr`), so several deployments or test runs can share a server. */
  readonly keyPrefix?: string;
  /** Extra time rows are kept after their view's TTL (default {@link DEFAULT_RETENTION_MS}). */
  readonly retentionMs?: number;
  /** Rows per write-script call (default 500, at most 2000). */
  readonly writeBatchSize?: number;
  /** Script calls of one `write` in flight at once (default 4). */
  readonly maxWritesInFlight?: number;
}

/*
 * Key layout: `<prefix>:<project>:<view>:{<entity key>}` → one string per (view, entity), so each view's rows
 * expire on their own (PEXPIREAT per key) and a read of any views × entities is a single MGET.
 *   - project and view are percent-encoded to [A-Za-z0-9_.-%], so ':' or glob characters in a name can neither
 *     make two views share keys nor widen deleteView's SCAN pattern.
 *   - The hash tag is the entity key: in a Redis Cluster all views of one entity share a slot.
 *
 * Value layout: 16-byte header [eventTs float64 BE][createdTs float64 BE], then the codec record. Every epoch-ms
 * JavaScript number is exactly a float64, and Lua (5.1, numbers are doubles) reads them with struct.unpack and
 * compares them exactly: no decimal parsing, no precision edge cases.
 */
const HEADER_BYTES = 16;
const DEFAULT_BATCH = 500;
// unpack() in Redis's Lua is limited to 8000 values; MSET of a batch takes 2 per row.
const MAX_BATCH = 2000;
const DEFAULT_IN_FLIGHT = 4;

/*
 * Conditional upsert of a batch of distinct keys, atomically.
 *   KEYS     the rows' keys
 *   ARGV[1]  ttlMs + retentionMs of the view, '0' when it has no TTL
 *   ARGV[2]  the rows' values, concatenated: per key, [uint32 BE length][value]
 * Values travel as one argument rather than one per key: ioredis then handles 2 + n arguments instead of 2n + 2
 * (measured ~20% less client CPU per row), and Redis builds one Lua string from ARGV rather than n.
 * One MGET for the batch is cheaper than a GETRANGE per key (each redis.call from Lua costs ~1-2 µs). The winners
 * go in one MSET, which also drops any TTL left by an earlier definition of the view; with TTL each winner then
 * gets PEXPIREAT eventTs + ttlMs + retentionMs (`expiresAt` of the contract), rounded up. The script is atomic, so
 * no client ever sees a winner between its MSET and its PEXPIREAT. Measured on the 2-core VM (500 rows of 470
 * bytes per call, Redis time per row): SET … PXAT per winner 6.3 µs, MSET + PEXPIREAT per winner 5.6 µs, of which
 * ~2 µs is reading the arguments and cutting the values out of ARGV[2]. A Lua number below 1e15 reaches Redis as
 * its exact integer digits, which saves a string.format per row.
 */
const WRITE_SCRIPT = `
local n = #KEYS
local ttl = tonumber(ARGV[1])
local values = ARGV[2]
local current = redis.call('MGET', unpack(KEYS))
local pending, m = {}, 0
local expiring, expiry, w = {}, {}, 0
local pos = 1
for i = 1, n do
  local len, ne, nc = struct.unpack('>I4dd', values, pos)
  local c = current[i]
  local newer = true
  if c then
    local ce, cc = struct.unpack('>dd', c)
    newer = ne > ce or (ne == ce and nc >= cc)
  end
  if newer then
    pending[m + 1] = KEYS[i]
    pending[m + 2] = string.sub(values, pos + 4, pos + 3 + len)
    m = m + 2
    if ttl > 0 then
      w = w + 1
      expiring[w] = KEYS[i]
      expiry[w] = ne
    end
  end
  pos = pos + 4 + len
end
if m > 0 then redis.call('MSET', unpack(pending)) end
for j = 1, w do
  local at = math.max(1, math.ceil(expiry[j] + ttl))
  if at >= 1e15 then at = string.format('%.0f', at) end
  redis.call('PEXPIREAT', expiring[j], at)
end
return n
`;
const WRITE_SCRIPT_SHA = createHash('sha1').update(WRITE_SCRIPT).digest('hex');

/*
 * Tiles of aggregation views: `<view prefix>{<entity key>}:<hop ms>:<start ms>` → one string per tile, with
 * PXAT at the tile's expiry, so tiles past the longest window vanish on their own and a read of a window is one
 * MGET of the tile keys it can cover. Same hash tag as the entity's rows. Stream checkpoints live in one hash
 * per consumer, `<prefix>:__offsets__:<consumer>`, field = partition id, value = next offset.
 *
 * Checkpointed tile write, atomically (exactly-once effect of a stream batch):
 *   KEYS[1]       the consumer's offsets hash; KEYS[2..1+f] the freshness hashes of the f views written;
 *                 KEYS[2+f..] the tile keys
 *   ARGV[1]       number of partitions p; then p × (partition, expected next offset or '' for none, new next
 *                 offset, meta); then f, the write time, f × (view, newest event time); then one argument with
 *                 every tile, in key order: [expiresAt float64 BE][uint32 BE length][value]
 * The hash holds, per partition, field `<partition>` = next offset and field `<partition>#meta` = meta.
 * Every expected offset is checked before anything is written; a mismatch writes nothing and fails with STALE.
 * Tiles travel as one argument, as rows do in WRITE_SCRIPT: a stream batch writes ~10k tiles, and two arguments
 * per tile cost ~30% more client CPU per tile (ioredis handles each argument on its own; docs/benchmarks.md,
 * "Stream engine").
 */
const COMMIT_SCRIPT = `
local p = tonumber(ARGV[1])
local a = 2
for i = 1, p do
  local cur = redis.call('HGET', KEYS[1], ARGV[a])
  local want = ARGV[a + 1]
  if (want == '' and cur) or (want ~= '' and cur ~= want) then
    return redis.error_reply('STALE ' .. ARGV[a] .. ' ' .. tostring(cur))
  end
  a = a + 4
end
local f = tonumber(ARGV[a])
local now = ARGV[a + 1]
local fa = a + 2
local tiles = ARGV[fa + 2 * f]
local pos = 1
for k = 2 + f, #KEYS do
  local at, len = struct.unpack('>dI4', tiles, pos)
  if at >= 1e15 then at = string.format('%.0f', at) end
  redis.call('SET', KEYS[k], string.sub(tiles, pos + 12, pos + 11 + len), 'PXAT', at)
  pos = pos + 12 + len
end
for j = 1, f do
  local cur = tonumber(redis.call('HGET', KEYS[1 + j], ARGV[fa]))
  if cur == nil or tonumber(ARGV[fa + 1]) > cur then redis.call('HSET', KEYS[1 + j], ARGV[fa], ARGV[fa + 1]) end
  redis.call('HSET', KEYS[1 + j], ARGV[fa] .. '#at', now)
  fa = fa + 2
end
a = 2
for i = 1, p do
  redis.call('HSET', KEYS[1], ARGV[a], ARGV[a + 2], ARGV[a] .. '#meta', ARGV[a + 3])
  a = a + 4
end
return #KEYS - 1 - f
`;
const COMMIT_SCRIPT_SHA = createHash('sha1').update(COMMIT_SCRIPT).digest('hex');

/*
 * Freshness of a view, once per write call: `<prefix>:__freshness__:<project>` is a hash with field `<view>` =
 * the newest event time written (it only grows) and `<view>#at` = when the last write happened.
 *   KEYS[1] the project's hash; ARGV[1] the view, ARGV[2] the newest event time of the call, ARGV[3] now
 */
const FRESHNESS_SCRIPT = `
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if cur == nil or tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('HSET', KEYS[1], ARGV[1] .. '#at', ARGV[3])
return 1
`;
const FRESHNESS_SCRIPT_SHA = createHash('sha1').update(FRESHNESS_SCRIPT).digest('hex');
/** Tile SETs per pipeline chunk when no checkpoint is involved. */
const TILE_PIPELINE = 1000;

/**
 * Online store on Redis (≥ 6.2, single node): the low-latency serving choice. Reads answer any number of views
 * and entities with one MGET; writes run a Lua script that keeps the newest row per key, several hundred rows
 * per call with several calls pipelined.
 *
 * Cluster note: one script call may only touch keys of one slot, and so may one MGET. Rows are cut into script
 * calls in one place, the loop of `write()`: to support a Cluster, partition the deduplicated rows by the slot
 * of their key (hash tag = entity key) before cutting batches, and in `read()` send one MGET per slot group in
 * a pipeline (ioredis sends each to its node; still one round trip per node).
 *
 * @example
 * const store = new RedisOnlineStore({ url: 'redis://127.0.0.1:6379', keyPrefix: 'shop' });
 * const view = { project: 'shop', name: 'user_stats', ttlMs: 86_400_000 };
 * await store.write(view, [{ entityKey: '42', eventTs: Date.now(), createdTs: 0, values: { clicks: 3 } }]);
 * const [[row]] = await store.read([{ view, entityKeys: ['42'] }]); // row?.values.clicks === 3
 * await store.close();
 */
export class RedisOnlineStore implements OnlineStore {
  readonly kind = 'redis';
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #retentionMs: number;
  readonly #batchSize: number;
  readonly #maxInFlight: number;
  readonly #viewPrefixes = new Map<string, string>();
  /**
   * Batch buffers, reused: a fresh half-megabyte buffer per batch costs a page fault per 4 KB on first touch,
   * which measured as much as encoding the rows. A buffer returns here once its script call has answered, so
   * ioredis has long copied it out.
   */
  readonly #sinks: ByteSink[] = [];
  readonly #scriptLoads = new Map<string, Promise<unknown>>();

  constructor(options: RedisOnlineStoreOptions) {
    const prefix = options.keyPrefix ?? 'tsr';
    if (prefix === '' || /[{}]/.test(prefix)) {
      throw new TesseraError(
        'invalid Redis key prefix',
        { field: 'keyPrefix', expected: 'a non-empty string without { or }', actual: JSON.stringify(prefix) },
        'INVALID_CONFIG',
      );
    }
    this.#prefix = prefix;
    this.#retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.#batchSize = Math.min(MAX_BATCH, Math.max(1, Math.trunc(options.writeBatchSize ?? DEFAULT_BATCH)));
    this.#maxInFlight = Math.max(1, Math.trunc(options.maxWritesInFlight ?? DEFAULT_IN_FLIGHT));
    if (options.client !== undefined) {
      this.#client = options.client;
      this.#ownsClient = false;
    } else if (options.url !== undefined) {
      // maxRetriesPerRequest bounds how long a request waits through a reconnect before it fails.
      this.#client = new Redis(options.url, { maxRetriesPerRequest: 2 });
      this.#ownsClient = true;
    } else {
      throw new TesseraError(
        'the Redis online store needs a url or a client',
        { field: 'url', expected: 'redis://host:port' },
        'INVALID_CONFIG',
      );
    }
  }

  async write(view: OnlineViewRef, rows: readonly OnlineRow[]): Promise<void> {
    if (rows.length === 0) return;
    // The script compares each key against the stored row once, so a key may appear only once per call: keep
    // the row that would have won had the rows been written one after another.
    const newest = new Map<string, OnlineRow>();
    for (const row of rows) {
      checkTimestamps(view, row.entityKey, row.eventTs, row.createdTs);
      const prev = newest.get(row.entityKey);
      if (prev === undefined || isNewerOrEqual(row, prev)) newest.set(row.entityKey, row);
    }
    const winners = [...newest.values()];
    let newestEventTs = Number.NEGATIVE_INFINITY;
    for (const row of winners) if (row.eventTs > newestEventTs) newestEventTs = row.eventTs;
    await this.#writeEncoded(view, winners.length, newestEventTs, (i, sink) => {
      const row = winners[i] as OnlineRow;
      const at = sink.reserve(4 + HEADER_BYTES);
      const length = sink.appendValues(row.values);
      writeRecordHeader(sink.buffer, at, length, row.eventTs, row.createdTs);
      return row.entityKey;
    });
  }

  /**
   * {@link write} for rows given column by column: values are encoded straight from the columns into the
   * batch buffer (no row objects), with the same records, keys and newest-wins script.
   */
  async writeColumns(view: OnlineViewRef, batch: OnlineColumns): Promise<void> {
    const n = batch.length;
    if (n === 0) return;
    const { entityKeys, eventTs, createdTs } = batch;
    for (let r = 0; r < n; r++) {
      checkTimestamps(view, entityKeys[r] as string, eventTs[r] as number, createdTs[r] as number);
    }
    let order: number[] | undefined;
    if (batch.distinctKeys !== true) {
      // As in write(): one row per key per script call, the one that wins in write order.
      const newest = new Map<string, number>();
      for (let r = 0; r < n; r++) {
        const key = entityKeys[r] as string;
        const prev = newest.get(key);
        if (
          prev === undefined ||
          isNewerOrEqual(
            { eventTs: eventTs[r] as number, createdTs: createdTs[r] as number },
            { eventTs: eventTs[prev] as number, createdTs: createdTs[prev] as number },
          )
        ) {
          newest.set(key, r);
        }
      }
      if (newest.size < n) order = [...newest.values()];
    }
    const encoding = columnsEncoding(batch.features);
    await this.#writeEncoded(view, order?.length ?? n, maxEventTs(eventTs, n), (i, sink) => {
      const r = order === undefined ? i : (order[i] as number);
      const at = sink.reserve(4 + HEADER_BYTES);
      const length = sink.appendColumnsRow(encoding, r);
      writeRecordHeader(sink.buffer, at, length, eventTs[r] as number, createdTs[r] as number);
      return entityKeys[r] as string;
    });
  }

  /**
   * Runs the write script over `count` distinct rows, `batchSize` per call and up to `maxInFlight` calls at
   * once. `append(i, sink)` appends row i's `[length][header][record]` to the sink and returns its entity key.
   * Once every row is written, the view's freshness takes `newestEventTs` (one more call per write, not per row).
   */
  async #writeEncoded(
    view: OnlineViewRef,
    count: number,
    newestEventTs: number,
    append: (i: number, sink: ByteSink) => string,
  ): Promise<void> {
    const viewPrefix = this.#viewPrefix(view);
    // The script computes each key's expiry as the contract's expiresAt(): eventTs + this sum.
    const ttlPlusRetention = view.ttlMs > 0 ? String(view.ttlMs + this.#retentionMs) : '0';
    const inFlight: Promise<void>[] = [];
    let keys: string[] = [];
    let sink = this.#takeSink();
    try {
      for (let i = 0; i < count; i++) {
        keys.push(`${viewPrefix}${append(i, sink)}}`);
        if (keys.length === this.#batchSize) {
          // Awaiting the oldest call lets encoding the next batch overlap Redis running the previous ones.
          if (inFlight.length >= this.#maxInFlight) await inFlight.shift();
          inFlight.push(this.#runWrite(keys, ttlPlusRetention, sink));
          keys = [];
          sink = this.#takeSink();
        }
      }
      if (keys.length > 0) inFlight.push(this.#runWrite(keys, ttlPlusRetention, sink));
      else this.#returnSink(sink);
      await Promise.all(inFlight);
    } catch (e) {
      // Let the other calls settle so none rejects unobserved, then report the first failure.
      await Promise.allSettled(inFlight);
      throw e;
    }
    await this.#touchFreshness(view, newestEventTs);
  }

  /** Records a write of `view` whose newest event time is `newestEventTs` (see FRESHNESS_SCRIPT). */
  async #touchFreshness(view: OnlineViewRef, newestEventTs: number): Promise<void> {
    if (!Number.isFinite(newestEventTs)) return;
    try {
      await this.#evalScript(
        FRESHNESS_SCRIPT,
        FRESHNESS_SCRIPT_SHA,
        [this.#freshnessKey(view.project)],
        [view.name, String(newestEventTs), String(Date.now())],
      );
    } catch (e) {
      throw backendError('freshness write', e);
    }
  }

  async freshness(views: readonly OnlineViewRef[]): Promise<Map<string, ViewFreshness>> {
    const out = new Map<string, ViewFreshness>();
    if (views.length === 0) return out;
    const pipeline = this.#client.pipeline();
    for (const v of views) pipeline.hmget(this.#freshnessKey(v.project), v.name, `${v.name}#at`);
    let answers: [Error | null, unknown][];
    try {
      answers = (await pipeline.exec()) ?? [];
    } catch (e) {
      throw backendError('freshness read', e);
    }
    views.forEach((v, i) => {
      const [err, value] = answers[i] ?? [null, null];
      if (err) throw backendError('freshness read', err);
      const [newest, at] = (value as (string | null)[] | null) ?? [null, null];
      if (newest !== null && newest !== undefined) {
        out.set(v.name, { newestEventTs: Number(newest), updatedAt: Number(at ?? 0) });
      }
    });
    return out;
  }

  #freshnessKey(project: string): string {
    return `${this.#prefix}:__freshness__:${encodeName(project)}`;
  }

  async read(requests: readonly OnlineReadRequest[]): Promise<(StoredRow | null)[][]> {
    const keys: string[] = [];
    for (const { view, entityKeys } of requests) {
      const viewPrefix = this.#viewPrefix(view);
      for (const entityKey of entityKeys) keys.push(`${viewPrefix}${entityKey}}`);
    }
    let values: (Buffer | null)[] = [];
    if (keys.length > 0) {
      try {
        values = await this.#client.mgetBuffer(keys);
      } catch (e) {
        throw backendError('read', e);
      }
    }
    const out: (StoredRow | null)[][] = new Array(requests.length);
    let k = 0;
    for (let r = 0; r < requests.length; r++) {
      const { entityKeys } = requests[r] as OnlineReadRequest;
      const rows: (StoredRow | null)[] = new Array(entityKeys.length);
      for (let i = 0; i < entityKeys.length; i++, k++) {
        const v = values[k];
        rows[i] =
          v === null || v === undefined
            ? null
            : {
                entityKey: entityKeys[i] as string,
                eventTs: v.readDoubleBE(0),
                createdTs: v.readDoubleBE(8),
                values: decodeValues(v, HEADER_BYTES),
              };
      }
      out[r] = rows;
    }
    return out;
  }

  async deleteView(view: OnlineViewRef): Promise<void> {
    const match = `${escapeGlob(this.#viewPrefix(view))}*`;
    try {
      let cursor = '0';
      do {
        // Buffers, not strings: an entity key need not survive a UTF-8 round trip (lone surrogates).
        const [next, keys] = await this.#client.scanBuffer(cursor, 'MATCH', match, 'COUNT', 1000);
        // UNLINK frees the values in a background thread, so large deletions do not stall readers.
        if (keys.length > 0) await this.#client.unlink(...keys);
        cursor = next.toString();
      } while (cursor !== '0');
      await this.#client.hdel(this.#freshnessKey(view.project), view.name, `${view.name}#at`);
    } catch (e) {
      throw backendError('delete view', e);
    }
  }

  async writeTiles(batches: readonly TileBatch[], commit?: OffsetCommit): Promise<void> {
    const now = Date.now();
    const live: { key: string; tile: TileWrite }[] = [];
    // Per view with live tiles: its freshness update (the newest event time of its batch).
    const fresh: { view: OnlineViewRef; newest: number }[] = [];
    for (const b of batches) {
      const viewPrefix = this.#viewPrefix(b.view);
      const before = live.length;
      for (const t of b.tiles) {
        if (t.expiresAt > now)
          live.push({ key: `${viewPrefix}${t.entityKey}}:${t.hopMs}:${t.start}`, tile: t });
      }
      const newest = newestEventOf(b);
      if (live.length > before && Number.isFinite(newest)) fresh.push({ view: b.view, newest });
    }
    if (commit === undefined) {
      try {
        for (let i = 0; i < live.length; i += TILE_PIPELINE) {
          const pipeline = this.#client.pipeline();
          for (const { key, tile } of live.slice(i, i + TILE_PIPELINE)) {
            pipeline.set(key, bufferOf(tile.value), 'PXAT', Math.ceil(tile.expiresAt));
          }
          for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
        }
      } catch (e) {
        throw backendError('tile write', e);
      }
      for (const f of fresh) await this.#touchFreshness(f.view, f.newest);
      return;
    }
    const args: (string | Buffer)[] = [String(commit.offsets.length)];
    for (const o of commit.offsets) {
      args.push(o.partition, o.expected === null ? '' : String(o.expected), String(o.next), o.meta ?? '');
    }
    const keys = [this.#offsetsKey(commit.consumer)];
    args.push(String(fresh.length), String(now));
    for (const f of fresh) {
      keys.push(this.#freshnessKey(f.view.project));
      args.push(f.view.name, String(f.newest));
    }
    const sink = this.#takeSink();
    for (const { key, tile } of live) {
      keys.push(key);
      const at = sink.reserve(12);
      sink.buffer.writeDoubleBE(Math.ceil(tile.expiresAt), at);
      sink.buffer.writeUInt32BE(tile.value.length, at + 8);
      const valueAt = sink.reserve(tile.value.length); // may grow the buffer: take it after
      sink.buffer.set(tile.value, valueAt);
    }
    args.push(sink.bytes());
    try {
      await this.#evalScript(COMMIT_SCRIPT, COMMIT_SCRIPT_SHA, keys, args);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const stale = /STALE (\S+) (\S+)/.exec(message);
      if (stale) {
        const partition = stale[1] as string;
        const stored = stale[2] === 'false' ? null : Number(stale[2]);
        const expected = commit.offsets.find((o) => o.partition === partition)?.expected ?? null;
        throw staleOffset(commit.consumer, partition, expected, stored);
      }
      throw backendError('checkpointed tile write', e);
    } finally {
      this.#returnSink(sink);
    }
  }

  async readTiles(requests: readonly TileReadRequest[]): Promise<StoredTile[][][]> {
    const keys: string[] = [];
    const starts: number[] = [];
    for (const r of requests) {
      const viewPrefix = this.#viewPrefix(r.view);
      const first = Math.ceil(r.fromStart / r.hopMs) * r.hopMs;
      const count = Math.floor((r.toStart - first) / r.hopMs) + 1;
      if (count > MAX_TILES_PER_READ) {
        throw new TesseraError(`a tile read of '${r.view.name}' covers ${count} tiles per entity`, {
          field: 'hopMs',
          expected: `at most ${MAX_TILES_PER_READ}`,
        });
      }
      for (const entityKey of r.entityKeys) {
        for (let start = first; start <= r.toStart; start += r.hopMs) {
          keys.push(`${viewPrefix}${entityKey}}:${r.hopMs}:${start}`);
          starts.push(start);
        }
      }
    }
    let values: (Buffer | null)[] = [];
    if (keys.length > 0) {
      try {
        values = await this.#client.mgetBuffer(keys);
      } catch (e) {
        throw backendError('tile read', e);
      }
    }
    let k = 0;
    return requests.map((r) => {
      const first = Math.ceil(r.fromStart / r.hopMs) * r.hopMs;
      return r.entityKeys.map(() => {
        const tiles: StoredTile[] = [];
        for (let start = first; start <= r.toStart; start += r.hopMs, k++) {
          const v = values[k];
          if (v !== null && v !== undefined) tiles.push({ start: starts[k] as number, value: v });
        }
        return tiles;
      });
    });
  }

  async readCheckpoints(consumer: string): Promise<Map<string, Checkpoint>> {
    let raw: Record<string, string>;
    try {
      raw = await this.#client.hgetall(this.#offsetsKey(consumer));
    } catch (e) {
      throw backendError('checkpoint read', e);
    }
    const out = new Map<string, Checkpoint>();
    for (const [field, value] of Object.entries(raw)) {
      if (field.endsWith('#meta')) continue;
      const meta = raw[`${field}#meta`];
      out.set(field, { next: Number(value), meta: meta === undefined || meta === '' ? null : meta });
    }
    return out;
  }

  #offsetsKey(consumer: string): string {
    return `${this.#prefix}:__offsets__:${encodeName(consumer)}`;
  }

  async close(): Promise<void> {
    if (this.#ownsClient && this.#client.status !== 'end') await this.#client.quit();
  }

  /** Everything of a row's key up to and including the hash tag's `{`. */
  #viewPrefix(view: OnlineViewRef): string {
    const id = `${view.project}\u0000${view.name}`;
    let p = this.#viewPrefixes.get(id);
    if (p === undefined) {
      p = `${this.#prefix}:${encodeName(view.project)}:${encodeName(view.name)}:{`;
      this.#viewPrefixes.set(id, p);
    }
    return p;
  }

  #takeSink(): ByteSink {
    return this.#sinks.pop() ?? new ByteSink(this.#batchSize * 1024);
  }

  #returnSink(sink: ByteSink): void {
    sink.length = 0;
    if (this.#sinks.length <= this.#maxInFlight) this.#sinks.push(sink);
  }

  async #runWrite(keys: string[], ttlPlusRetention: string, sink: ByteSink): Promise<void> {
    try {
      await this.#evalWrite(keys, ttlPlusRetention, sink.bytes());
    } finally {
      this.#returnSink(sink);
    }
  }

  async #evalWrite(keys: string[], ttlPlusRetention: string, values: Buffer): Promise<void> {
    try {
      await this.#evalScript(WRITE_SCRIPT, WRITE_SCRIPT_SHA, keys, [ttlPlusRetention, values]);
    } catch (e) {
      throw backendError('write', e);
    }
  }

  /** EVALSHA, loading the script first when the server does not have it (first use, or a flushed cache). */
  async #evalScript(
    script: string,
    sha: string,
    keys: string[],
    args: (string | Buffer)[],
  ): Promise<unknown> {
    try {
      return await this.#client.evalsha(sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      // Shared by concurrent calls, per script.
      let load = this.#scriptLoads.get(sha);
      if (load === undefined) {
        load = this.#client.script('LOAD', script).finally(() => this.#scriptLoads.delete(sha));
        this.#scriptLoads.set(sha, load);
      }
      await load;
      return await this.#client.evalsha(sha, keys.length, ...keys, ...args);
    }
  }
}

/** A Buffer over the same bytes (ioredis sends Buffers as they are; a plain Uint8Array would be stringified). */
const bufferOf = (v: Uint8Array): Buffer =>
  Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** Percent-encodes everything but [A-Za-z0-9_.-]. */
const encodeName = (s: string): string =>
  /^[A-Za-z0-9_.-]*$/.test(s)
    ? s
    : encodeURIComponent(s).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const escapeGlob = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

function checkTimestamps(view: OnlineViewRef, entityKey: string, eventTs: number, createdTs: number): void {
  if (!Number.isFinite(eventTs) || !Number.isFinite(createdTs)) {
    throw new TesseraError('row timestamps must be finite epoch milliseconds', {
      field: `${view.project}.${view.name}`,
      actual: `entity '${entityKey}' eventTs ${eventTs}, createdTs ${createdTs}`,
    });
  }
}

/** The `[uint32 BE length][eventTs][createdTs]` in front of a record of `length` bytes in the script's input. */
function writeRecordHeader(
  buf: Buffer,
  at: number,
  length: number,
  eventTs: number,
  createdTs: number,
): void {
  buf.writeUInt32BE(HEADER_BYTES + length, at);
  buf.writeDoubleBE(eventTs, at + 4);
  buf.writeDoubleBE(createdTs, at + 12);
}

const backendError = (what: string, cause: unknown) =>
  new TesseraError(
    `Redis online store ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
    { hint: 'check that Redis (≥ 6.2) is reachable and not out of memory' },
    'BACKEND',
    cause,
  );
