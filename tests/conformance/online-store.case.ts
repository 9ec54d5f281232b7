import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  isNewerOrEqual,
  type OnlineColumns,
  type OnlineRow,
  type OnlineStore,
  type OnlineViewRef,
  rowsFromColumns,
  type StoredRow,
  type TileWrite,
} from '../../src/online/online-store.js';
import { prng } from '../helpers/prng.js';

/** What the suite may ask of `create`; a store ignores nothing here, so implementations must accept these. */
export interface OnlineStoreTestOptions {
  /** Retention after TTL, small so that expiry can be observed within a test. */
  readonly retentionMs?: number;
}

/**
 * The behaviour every `OnlineStore` must have. Stores `create` returns may share storage: every test works in
 * projects of its own, so tests never see each other's rows.
 *
 * @example runOnlineStoreConformance('sqlite', async (o) => new SqliteOnlineStore({ path: ':memory:', ...o }));
 */
export function runOnlineStoreConformance(
  name: string,
  create: (options?: OnlineStoreTestOptions) => Promise<OnlineStore>,
): void {
  describe(`OnlineStore conformance: ${name}`, () => {
    const opened: OnlineStore[] = [];
    const open = async (options?: OnlineStoreTestOptions): Promise<OnlineStore> => {
      const store = await create(options);
      opened.push(store);
      return store;
    };
    const project = (): string => `p_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const viewOf = (p: string, n = 'user_stats', ttlMs = 0): OnlineViewRef => ({
      project: p,
      name: n,
      ttlMs,
    });
    const row = (
      entityKey: string,
      eventTs: number,
      createdTs: number,
      values: Record<string, unknown>,
    ): OnlineRow => ({
      entityKey,
      eventTs,
      createdTs,
      values,
    });
    const readOne = async (
      store: OnlineStore,
      view: OnlineViewRef,
      key: string,
    ): Promise<StoredRow | null> => {
      const result = await store.read([{ view, entityKeys: [key] }]);
      return result[0]?.[0] ?? null;
    };

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it(`reports its kind`, async () => {
      const store = await open();
      expect(store.kind).toBe(name);
    });

    it('round-trips every value type', async () => {
      const store = await open();
      const view = viewOf(project());
      const values = {
        int: 42,
        negative_int: -7,
        max_safe_int: Number.MAX_SAFE_INTEGER,
        min_safe_int: Number.MIN_SAFE_INTEGER,
        float: 3.25,
        tiny_float: 1e-300,
        huge_float: 1.7976931348623157e308,
        zero: 0,
        yes: true,
        no: false,
        text: 'héllo ✓ \u0000 \u001f 😀',
        empty_text: '',
        bytes: new Uint8Array([0, 1, 127, 128, 255]),
        empty_bytes: new Uint8Array(0),
        at: new Date(1_700_000_000_123),
        before_epoch: new Date(-86_400_000),
        ints: [1, -2, 3_000_000_000],
        floats: [0.5, -1.25, 1e21],
        texts: ['a', '', 'ü'],
        bools: [true, false],
        dates: [new Date(0), new Date(1_700_000_000_000)],
        bytes_list: [new Uint8Array([9, 8]), new Uint8Array(0)],
        empty_list: [],
        list_with_null: [1, null, 3],
        missing: null,
      };
      await store.write(view, [row('42', 1000, 7, values)]);
      const got = await readOne(store, view, '42');
      if (got === null) throw new Error('row not found');
      expect(got.entityKey).toBe('42');
      expect(got.eventTs).toBe(1000);
      expect(got.createdTs).toBe(7);
      expect(got.values).toEqual(values);
      expect(Object.keys(got.values)).toEqual(Object.keys(values));
      expect(Object.getPrototypeOf(got.values)).toBe(Object.prototype);
      expect(got.values['bytes']).toBeInstanceOf(Uint8Array);
      expect(Array.from(got.values['bytes'] as Uint8Array)).toEqual([0, 1, 127, 128, 255]);
      expect(got.values['at']).toBeInstanceOf(Date);
      expect((got.values['at'] as Date).getTime()).toBe(1_700_000_000_123);
      expect((got.values['dates'] as Date[])[1]).toBeInstanceOf(Date);
      expect((got.values['bytes_list'] as Uint8Array[])[0]).toBeInstanceOf(Uint8Array);
    });

    it('stores rows whose values have different feature names side by side', async () => {
      const store = await open();
      const view = viewOf(project());
      await store.write(view, [
        row('a', 1, 0, { x: 1, y: 'a' }),
        row('b', 1, 0, { y: 'b', x: 2 }),
        row('c', 1, 0, {}),
        row('d', 1, 0, { x: 4, y: 'd', z: [true] }),
      ]);
      const [rows] = await store.read([{ view, entityKeys: ['a', 'b', 'c', 'd'] }]);
      expect(rows?.map((r) => r?.values)).toEqual([
        { x: 1, y: 'a' },
        { y: 'b', x: 2 },
        {},
        { x: 4, y: 'd', z: [true] },
      ]);
    });

    it('returns null for missing keys and unknown views, and handles empty requests', async () => {
      const store = await open();
      const p = project();
      const view = viewOf(p);
      await store.write(view, [row('present', 1, 0, { v: 1 })]);
      const result = await store.read([
        { view, entityKeys: ['absent', 'present', 'also_absent'] },
        { view: viewOf(p, 'never_written'), entityKeys: ['present'] },
        { view, entityKeys: [] },
      ]);
      expect(result).toHaveLength(3);
      expect(result[0]?.map((r) => r?.values ?? null)).toEqual([null, { v: 1 }, null]);
      expect(result[1]).toEqual([null]);
      expect(result[2]).toEqual([]);
      expect(await store.read([])).toEqual([]);
      await store.write(view, []);
    });

    it('reads many views × many entities in one call, in request and key order', async () => {
      const store = await open();
      const p = project();
      const views = [viewOf(p, 'a'), viewOf(p, 'b'), viewOf(p, 'c', 3_600_000)];
      const now = Date.now();
      for (const [vi, view] of views.entries()) {
        const rows: OnlineRow[] = [];
        // Each view has every other entity, so absent ones sit between present ones.
        for (let e = vi % 2; e < 60; e += 2) rows.push(row(`e${e}`, now, 0, { view: view.name, e }));
        await store.write(view, rows);
      }
      const keys = Array.from({ length: 60 }, (_, e) => `e${(e * 37) % 60}`);
      keys.push('e0', 'nope', 'e1');
      const result = await store.read(views.map((view) => ({ view, entityKeys: keys })));
      expect(result).toHaveLength(3);
      for (const [vi, view] of views.entries()) {
        const got = result[vi] ?? [];
        expect(got).toHaveLength(keys.length);
        for (const [i, key] of keys.entries()) {
          const e = Number(key.slice(1));
          const expected = key !== 'nope' && e % 2 === vi % 2 ? { view: view.name, e } : null;
          expect(got[i]?.values ?? null).toEqual(expected);
          if (expected !== null) expect(got[i]?.entityKey).toBe(key);
        }
      }
    });

    it('never lets an older row replace a newer one, in either write order', async () => {
      const store = await open();
      const view = viewOf(project());
      await store.write(view, [row('k1', 2000, 0, { v: 'new' })]);
      await store.write(view, [row('k1', 1000, 99, { v: 'old' })]);
      await store.write(view, [row('k2', 1000, 0, { v: 'old' })]);
      await store.write(view, [row('k2', 2000, 0, { v: 'new' })]);
      const [rows] = await store.read([{ view, entityKeys: ['k1', 'k2'] }]);
      expect(rows?.map((r) => [r?.eventTs, r?.values['v']])).toEqual([
        [2000, 'new'],
        [2000, 'new'],
      ]);
    });

    it('breaks eventTs ties by createdTs, and full ties in favour of the later write', async () => {
      const store = await open();
      const view = viewOf(project());
      await store.write(view, [row('c1', 1000, 5, { v: 'created 5' })]);
      await store.write(view, [row('c1', 1000, 4, { v: 'created 4' })]);
      await store.write(view, [row('c2', 1000, 4, { v: 'created 4' })]);
      await store.write(view, [row('c2', 1000, 5, { v: 'created 5' })]);
      await store.write(view, [row('t', 1000, 5, { v: 'first' })]);
      await store.write(view, [row('t', 1000, 5, { v: 'second' })]);
      const [rows] = await store.read([{ view, entityKeys: ['c1', 'c2', 't'] }]);
      expect(rows?.map((r) => r?.values['v'])).toEqual(['created 5', 'created 5', 'second']);
      expect(rows?.map((r) => r?.createdTs)).toEqual([5, 5, 5]);
    });

    it('keeps the newest of duplicates within one batch, wherever it sits', async () => {
      const store = await open();
      const view = viewOf(project());
      await store.write(view, [
        row('first', 3000, 0, { v: 'newest' }),
        row('first', 1000, 0, { v: 'old' }),
        row('first', 2000, 0, { v: 'middle' }),
        row('last', 1000, 0, { v: 'old' }),
        row('last', 3000, 0, { v: 'newest' }),
        row('created', 1000, 2, { v: 'newest' }),
        row('created', 1000, 1, { v: 'old' }),
        row('tie', 1000, 1, { v: 'earlier' }),
        row('tie', 1000, 1, { v: 'later' }),
      ]);
      const [rows] = await store.read([{ view, entityKeys: ['first', 'last', 'created', 'tie'] }]);
      expect(rows?.map((r) => r?.values['v'])).toEqual(['newest', 'newest', 'newest', 'later']);
    });

    it('isolates views and projects, whatever their names', async () => {
      const store = await open();
      const p1 = project();
      const p2 = project();
      const views = [
        viewOf(p1, 'user'),
        viewOf(p1, 'user_stats'),
        viewOf(p2, 'user'),
        // Names with separators must not collide: (a:b, c) vs (a, b:c).
        viewOf(`${p1}:x`, 'y'),
        viewOf(p1, 'x:y'),
        viewOf(p1, 'glob*[?]\\'),
      ];
      for (const [i, view] of views.entries()) await store.write(view, [row('42', 1000, 0, { i })]);
      const result = await store.read(views.map((view) => ({ view, entityKeys: ['42'] })));
      expect(result.map((r) => r[0]?.values['i'])).toEqual([0, 1, 2, 3, 4, 5]);
    });

    it('accepts any string as an entity key', async () => {
      const store = await open();
      const view = viewOf(project());
      const keys = ['', '}', '{', '{x}', 'a:b', '*', '[a]', '1\u001f2', 'ümlaut 😀', 'back\\slash', ' '];
      await store.write(
        view,
        keys.map((k, i) => row(k, 1000, 0, { i })),
      );
      const [rows] = await store.read([{ view, entityKeys: keys }]);
      expect(rows?.map((r) => r?.values['i'])).toEqual(keys.map((_, i) => i));
      expect(rows?.map((r) => r?.entityKey)).toEqual(keys);
    });

    it('deletes one view and nothing else', async () => {
      const store = await open();
      const p1 = project();
      const p2 = project();
      const target = viewOf(p1, 'user');
      const keep = [viewOf(p1, 'user_stats'), viewOf(p1, 'use'), viewOf(p2, 'user')];
      const keys = Array.from({ length: 2500 }, (_, i) => `k${i}`);
      for (const view of [target, ...keep]) {
        await store.write(
          view,
          keys.map((k) => row(k, 1000, 0, { v: view.name })),
        );
      }
      await store.deleteView(target);
      const result = await store.read([target, ...keep].map((view) => ({ view, entityKeys: keys })));
      expect(result[0]?.every((r) => r === null)).toBe(true);
      for (const [i, view] of keep.entries()) {
        expect(result[i + 1]?.every((r) => r?.values['v'] === view.name)).toBe(true);
      }
      // The view can be written again, from scratch (older rows are no longer shadowed by deleted ones).
      await store.write(target, [row('k1', 1, 0, { v: 'again' })]);
      expect((await readOne(store, target, 'k1'))?.values).toEqual({ v: 'again' });
      await store.deleteView(viewOf(project(), 'never_written'));
    });

    it('keeps rows readable through TTL + retention, then drops them', async () => {
      const ttlMs = 500;
      const retentionMs = 1000;
      const store = await open({ retentionMs });
      const p = project();
      const view = viewOf(p, 'short_lived', ttlMs);
      const forever = viewOf(p, 'no_ttl', 0);
      const now = Date.now();
      await store.write(view, [
        // Expires at now + 1500.
        row('fresh', now, 0, { v: 1 }),
        // Already past its TTL, inside retention until now + 900: serving must still see it (OUTSIDE_MAX_AGE).
        row('aged', now - 600, 0, { v: 2 }),
        // Past TTL + retention already.
        row('gone', now - ttlMs - retentionMs - 1000, 0, { v: 3 }),
      ]);
      await store.write(forever, [row('old', 1, 0, { v: 4 })]);
      const read = async () =>
        (
          await store.read([
            { view, entityKeys: ['fresh', 'aged', 'gone'] },
            { view: forever, entityKeys: ['old'] },
          ])
        ).map((rows) => rows.map((r) => r?.values['v'] ?? null));

      expect(await read()).toEqual([[1, 2, null], [4]]);
      // `fresh` is past its TTL but within retention; `aged` is past both.
      await sleepUntil(now + 1100);
      expect(await read()).toEqual([[1, null, null], [4]]);
      await sleepUntil(now + 1700);
      expect(await read()).toEqual([[null, null, null], [4]]);
      // An expired row shadows nothing: an older row written later (under a longer TTL) is stored.
      await store.write(viewOf(p, 'short_lived', 60_000), [row('fresh', now - 100, 0, { v: 5 })]);
      expect((await readOne(store, view, 'fresh'))?.values).toEqual({ v: 5 });
    });

    it('drops the expiry of rows rewritten after the view lost its TTL', async () => {
      const store = await open({ retentionMs: 200 });
      const p = project();
      const now = Date.now();
      await store.write(viewOf(p, 'v', 100), [row('k', now, 0, { v: 'ttl' })]);
      await store.write(viewOf(p, 'v', 0), [row('k', now + 1, 0, { v: 'no ttl' })]);
      await sleepUntil(now + 450);
      expect((await readOne(store, viewOf(p, 'v', 0), 'k'))?.values).toEqual({ v: 'no ttl' });
    });

    it('round-trips a 20k-row batch', async () => {
      const store = await open();
      const view = viewOf(project(), 'big', 86_400_000);
      const now = Date.now();
      const rows = Array.from({ length: 20_000 }, (_, i) =>
        row(`user:${i}`, now - (i % 1000), i % 3, {
          i,
          score: i / 7,
          name: `n${i}`,
          flag: i % 2 === 0,
          tags: [i, i + 1],
        }),
      );
      await store.write(view, rows);
      const [got] = await store.read([{ view, entityKeys: rows.map((r) => r.entityKey) }]);
      expect(got).toHaveLength(rows.length);
      for (const [i, r] of rows.entries()) {
        const g = got?.[i];
        if (g?.eventTs !== r.eventTs || g.createdTs !== r.createdTs || g.values['i'] !== i) {
          expect(g).toEqual(r);
        }
      }
      expect(got?.[12_345]?.values).toEqual(rows[12_345]?.values);
    });

    it('resolves concurrent writes to the newest row', async () => {
      const store = await open();
      const view = viewOf(project());
      const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
      // Distinct (eventTs, createdTs) per write so the outcome does not depend on arrival order.
      const writes = Array.from({ length: 12 }, (_, w) => {
        const ts = ((w * 5) % 12) * 10;
        return store.write(
          view,
          keys.map((k) => row(k, 1000 + ts, w % 2, { w })),
        );
      });
      await Promise.all(writes);
      const [rows] = await store.read([{ view, entityKeys: keys }]);
      const newest = Array.from({ length: 12 }, (_, w) => ({
        w,
        ts: 1000 + ((w * 5) % 12) * 10,
        c: w % 2,
      })).reduce((a, b) =>
        isNewerOrEqual({ eventTs: b.ts, createdTs: b.c }, { eventTs: a.ts, createdTs: a.c }) ? b : a,
      );
      expect(rows?.every((r) => r?.values['w'] === newest.w && r.eventTs === newest.ts)).toBe(true);
    });

    it('writes column batches exactly as the same rows (when it has writeColumns)', async () => {
      const store = await open();
      if (store.writeColumns === undefined) return;
      const p = project();
      const byRows = viewOf(p, 'by_rows', 60_000);
      const byColumns = viewOf(p, 'by_columns', 60_000);
      const n = 300;
      const now = Date.now();
      const nums = new Float64Array(n);
      const valid = new Uint8Array(n);
      const edge = [
        0,
        -0,
        1,
        -1,
        31,
        127,
        128,
        255,
        256,
        65535,
        65536,
        2 ** 32 - 1,
        2 ** 32,
        -32,
        -33,
        -128,
        -129,
        -32768,
        -32769,
        -(2 ** 31),
        -(2 ** 31) - 1,
        0.5,
        -1e-300,
        Number.MAX_SAFE_INTEGER,
        Number.MIN_SAFE_INTEGER,
        Number.MAX_VALUE,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
      ];
      for (let r = 0; r < n; r++) {
        nums[r] = r < edge.length ? (edge[r] as number) : (r - 150) * 1234.5678;
        valid[r] = r % 7 === 3 ? 0 : 1;
      }
      const mixed = Array.from(
        { length: n },
        (_, r) =>
          [
            null,
            'ascii',
            'x'.repeat(40),
            'héllo ✓ 😀',
            'y'.repeat(300),
            true,
            false,
            42,
            -3.5,
            new Date(r),
            new Uint8Array([r & 255]),
            [1, 'a', null],
            2n ** 40n,
          ][r % 13],
      );
      // Keys repeat (k0…k99 three times), with timestamps so that a mix of first, middle and last copies win.
      const batch: OnlineColumns = {
        length: n,
        entityKeys: Array.from({ length: n }, (_, r) => `k${r % 100}`),
        eventTs: Float64Array.from({ length: n }, (_, r) => now + ((r * 37) % 3)),
        createdTs: Float64Array.from({ length: n }, (_, r) => r % 2),
        features: [
          { name: 'num', values: nums, valid },
          { name: 'dense', values: Float64Array.from({ length: n }, (_, r) => r / 3) },
          { name: 'mixed', values: mixed },
        ],
      };
      await store.write(byRows, rowsFromColumns(batch));
      await store.writeColumns(byColumns, batch);
      const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
      const [a, b] = await store.read([
        { view: byRows, entityKeys: keys },
        { view: byColumns, entityKeys: keys },
      ]);
      expect(b).toEqual(a);
      expect(b?.every((r) => r !== null)).toBe(true);
      // An older column batch changes nothing; a newer one wins.
      const older = { ...batch, eventTs: new Float64Array(n).fill(now - 1), distinctKeys: false };
      await store.writeColumns(byColumns, older);
      expect((await store.read([{ view: byColumns, entityKeys: keys }]))[0]).toEqual(a);
      const newerBatch = { ...batch, length: 1, eventTs: new Float64Array([now + 5]), distinctKeys: true };
      await store.writeColumns(byColumns, newerBatch);
      const newer = rowsFromColumns(newerBatch);
      expect(await readOne(store, byColumns, 'k0')).toEqual(newer[0]);
    });

    it('matches a reference model under random interleaved writes', async () => {
      const store = await open();
      const seed = Math.floor(Math.random() * 2 ** 31);
      const rand = prng(seed);
      const int = (n: number) => Math.floor(rand() * n);
      const p = project();
      const views = [viewOf(p, 'a'), viewOf(p, 'b'), viewOf(project(), 'a')];
      const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
      const model = views.map(() => new Map<string, OnlineRow>());
      let writeId = 0;
      for (let round = 0; round < 60; round++) {
        const v = int(views.length);
        const rows: OnlineRow[] = [];
        const n = 1 + int(round % 7 === 0 ? 200 : 30);
        for (let i = 0; i < n; i++) {
          // Few distinct timestamps, so ties on eventTs and on both timestamps happen often.
          rows.push(
            row(keys[int(keys.length)] as string, 1000 + int(6), int(3), { id: writeId++, x: rand() }),
          );
        }
        await store.write(views[v] as OnlineViewRef, rows);
        const m = model[v] as Map<string, OnlineRow>;
        for (const r of rows) {
          const cur = m.get(r.entityKey);
          if (cur === undefined || isNewerOrEqual(r, cur)) m.set(r.entityKey, r);
        }
        if (round % 5 === 4 || round === 59) {
          const result = await store.read(views.map((view) => ({ view, entityKeys: keys })));
          const expected = model.map((mm) => keys.map((k) => mm.get(k) ?? null));
          expect(result, `seed ${seed}, round ${round}`).toEqual(expected);
        }
      }
    });

    describe('tiles and stream checkpoints', () => {
      const HOP = 60_000;
      const bytes = (text: string) => new TextEncoder().encode(text);
      const text = (v: Uint8Array) => new TextDecoder().decode(v);
      const far = () => Date.now() + 3_600_000;
      const put = (
        store: OnlineStore,
        view: OnlineViewRef,
        tiles: readonly TileWrite[],
        commit?: Parameters<OnlineStore['writeTiles']>[1],
      ) => store.writeTiles([{ view, tiles }], commit);
      const offsetsOf = async (store: OnlineStore, consumer: string) =>
        new Map([...(await store.readCheckpoints(consumer))].map(([p, c]) => [p, c.next]));
      const tile = (entityKey: string, start: number, value: string, hopMs = HOP, expiresAt = far()) => ({
        entityKey,
        hopMs,
        start,
        value: bytes(value),
        expiresAt,
      });

      it('stores tiles per (entity, hop, start), replaces them, and reads a start range in order', async () => {
        const store = await open();
        const view = viewOf(project(), 'clicks');
        const t0 = 1_700_000_000_000 - (1_700_000_000_000 % (5 * HOP)); // a multiple of both hops
        await put(store, view, [
          tile('a', t0, 'a0'),
          tile('a', t0 + HOP, 'a1'),
          tile('a', t0 + 3 * HOP, 'a3'),
          tile('a', t0, 'a0-h5', 5 * HOP),
          tile('b', t0 + HOP, 'b1'),
        ]);
        await put(store, view, [tile('a', t0 + HOP, 'a1-v2')]);
        const [perEntity, otherHop] = await store.readTiles([
          { view, entityKeys: ['a', 'b', 'missing'], hopMs: HOP, fromStart: t0, toStart: t0 + 3 * HOP },
          { view, entityKeys: ['a'], hopMs: 5 * HOP, fromStart: t0, toStart: t0 + 10 * HOP },
        ]);
        expect(perEntity?.map((tiles) => tiles.map((t) => [t.start - t0, text(t.value)]))).toEqual([
          [
            [0, 'a0'],
            [HOP, 'a1-v2'],
            [3 * HOP, 'a3'],
          ],
          [[HOP, 'b1']],
          [],
        ]);
        expect(otherHop?.[0]?.map((t) => text(t.value))).toEqual(['a0-h5']);
        const narrow = await store.readTiles([
          { view, entityKeys: ['a'], hopMs: HOP, fromStart: t0 + HOP, toStart: t0 + 2 * HOP },
        ]);
        expect(narrow[0]?.[0]?.map((t) => t.start - t0)).toEqual([HOP]);
      });

      it('does not return expired tiles, and does not store tiles written already expired', async () => {
        const store = await open();
        const view = viewOf(project(), 'clicks');
        const soon = Date.now() + 300;
        await put(store, view, [
          tile('a', 0, 'short', HOP, soon),
          tile('a', HOP, 'gone', HOP, Date.now() - 1),
        ]);
        const read = async () =>
          (
            await store.readTiles([{ view, entityKeys: ['a'], hopMs: HOP, fromStart: 0, toStart: HOP }])
          )[0]?.[0]?.map((t) => text(t.value));
        expect(await read()).toEqual(['short']);
        await sleepUntil(soon + 50);
        expect(await read()).toEqual([]);
      });

      it("deleteView removes the view's tiles too", async () => {
        const store = await open();
        const p = project();
        const view = viewOf(p, 'clicks');
        const other = viewOf(p, 'other');
        await put(store, view, [tile('a', 0, 'x')]);
        await put(store, other, [tile('a', 0, 'y')]);
        await store.deleteView(view);
        const [[mine], [theirs]] = (await store.readTiles([
          { view, entityKeys: ['a'], hopMs: HOP, fromStart: 0, toStart: 0 },
          { view: other, entityKeys: ['a'], hopMs: HOP, fromStart: 0, toStart: 0 },
        ])) as [[unknown[]], [unknown[]]];
        expect(mine).toEqual([]);
        expect(theirs).toHaveLength(1);
      });

      it('commits offsets with tiles atomically, and rejects a stale checkpoint without writing anything', async () => {
        const store = await open();
        const view = viewOf(project(), 'clicks');
        const consumer = `${view.project}/worker`;
        expect(await offsetsOf(store, consumer)).toEqual(new Map());
        await put(store, view, [tile('a', 0, 'v1')], {
          consumer,
          offsets: [
            { partition: 'clicks/0', expected: null, next: 10 },
            { partition: 'clicks/1', expected: null, next: 5 },
          ],
        });
        expect(await offsetsOf(store, consumer)).toEqual(
          new Map([
            ['clicks/0', 10],
            ['clicks/1', 5],
          ]),
        );
        await put(store, view, [tile('a', 0, 'v2')], {
          consumer,
          offsets: [{ partition: 'clicks/0', expected: 10, next: 25 }],
        });
        // A zombie worker that loaded partition 0 at offset 10 tries to commit: nothing of it lands.
        const stale = put(store, view, [tile('a', 0, 'zombie'), tile('z', 0, 'zombie')], {
          consumer,
          offsets: [
            { partition: 'clicks/1', expected: 5, next: 6 },
            { partition: 'clicks/0', expected: 10, next: 30 },
          ],
        });
        await expect(stale).rejects.toMatchObject({ code: 'CONFLICT' });
        // A first commit for a partition that already has one is stale too.
        await expect(
          put(store, view, [tile('a', 0, 'zombie')], {
            consumer,
            offsets: [{ partition: 'clicks/1', expected: null, next: 1 }],
          }),
        ).rejects.toMatchObject({ code: 'CONFLICT' });
        expect(await offsetsOf(store, consumer)).toEqual(
          new Map([
            ['clicks/0', 25],
            ['clicks/1', 5],
          ]),
        );
        const [[a, z]] = (await store.readTiles([
          { view, entityKeys: ['a', 'z'], hopMs: HOP, fromStart: 0, toStart: 0 },
        ])) as [[{ value: Uint8Array }[], unknown[]]];
        expect(a.map((t) => text(t.value))).toEqual(['v2']);
        expect(z).toEqual([]);
        // Consumers are independent.
        expect(await offsetsOf(store, `${consumer}-other`)).toEqual(new Map());
      });

      it('commits tiles of several views with checkpoints and their meta data in one atomic write', async () => {
        const store = await open();
        const p = project();
        const a = viewOf(p, 'clicks');
        const b = viewOf(p, 'spend');
        const consumer = `${p}/worker`;
        await store.writeTiles(
          [
            { view: a, tiles: [tile('u', 0, 'a1')] },
            { view: b, tiles: [tile('u', 0, 'b1')] },
          ],
          { consumer, offsets: [{ partition: 't/0', expected: null, next: 3, meta: '{"wm":42}' }] },
        );
        await expect(
          store.writeTiles(
            [
              { view: a, tiles: [tile('u', 0, 'a2')] },
              { view: b, tiles: [tile('u', 0, 'b2')] },
            ],
            { consumer, offsets: [{ partition: 't/0', expected: 2, next: 5 }] },
          ),
        ).rejects.toMatchObject({ code: 'CONFLICT' });
        await store.writeTiles([{ view: b, tiles: [tile('v', 0, 'b3')] }], {
          consumer,
          offsets: [{ partition: 't/1', expected: null, next: 1 }],
        });
        const read = await store.readTiles([
          { view: a, entityKeys: ['u'], hopMs: HOP, fromStart: 0, toStart: 0 },
          { view: b, entityKeys: ['u', 'v'], hopMs: HOP, fromStart: 0, toStart: 0 },
        ]);
        expect(read.map((r) => r.map((tiles) => tiles.map((t) => text(t.value))))).toEqual([
          [['a1']],
          [['b1'], ['b3']],
        ]);
        expect(await store.readCheckpoints(consumer)).toEqual(
          new Map([
            ['t/0', { next: 3, meta: '{"wm":42}' }],
            ['t/1', { next: 1, meta: null }],
          ]),
        );
      });

      it('handles large batches: thousands of tiles in one checkpointed write and one read', async () => {
        const store = await open();
        const view = viewOf(project(), 'clicks');
        const tiles = Array.from({ length: 5000 }, (_, i) =>
          tile(`e${i % 500}`, Math.floor(i / 500) * HOP, `v${i}`),
        );
        await put(store, view, tiles, {
          consumer: `${view.project}/w`,
          offsets: [{ partition: 't/0', expected: null, next: 5000 }],
        });
        const keys = Array.from({ length: 500 }, (_, i) => `e${i}`);
        const [perEntity] = await store.readTiles([
          { view, entityKeys: keys, hopMs: HOP, fromStart: 0, toStart: 9 * HOP },
        ]);
        expect(perEntity?.every((t) => t.length === 10)).toBe(true);
        expect(text(perEntity?.[7]?.[3]?.value as Uint8Array)).toBe('v1507');
      });
    });

    describe('freshness', () => {
      const tileAt = (entityKey: string, start: number, expiresAt = Date.now() + 3_600_000) => ({
        entityKey,
        hopMs: 60_000,
        start,
        value: new Uint8Array([1]),
        expiresAt,
      });

      it('keeps the newest event time per view across write, writeColumns and writeTiles, never going back', async () => {
        const store = await open();
        const p = project();
        const rows = viewOf(p, 'rows');
        const cols = viewOf(p, 'cols');
        const tiles = viewOf(p, 'tiles');
        const never = viewOf(p, 'never');
        expect(await store.freshness([rows, cols, tiles, never])).toEqual(new Map());

        const before = Date.now();
        await store.write(rows, [
          row('a', 5_000, 0, { x: 1 }),
          row('b', 9_000, 0, { x: 2 }),
          row('a', 7_000, 0, { x: 3 }),
        ]);
        // An older write (rows that lose, or simply older data) does not move the newest event time back.
        await store.write(rows, [row('c', 1_000, 0, { x: 4 })]);
        const batch: OnlineColumns = {
          length: 2,
          entityKeys: ['a', 'b'],
          eventTs: new Float64Array([12_000, 11_000]),
          createdTs: new Float64Array(2),
          features: [{ name: 'x', values: new Float64Array([1, 2]) }],
        };
        if (store.writeColumns) await store.writeColumns(cols, batch);
        else await store.write(cols, rowsFromColumns(batch));
        // With the batch's newest event time given, it is used; without, the latest tile start.
        await store.writeTiles(
          [{ view: tiles, tiles: [tileAt('u', 60_000), tileAt('v', 120_000)], newestEventTs: 150_000 }],
          { consumer: `${p}/w`, offsets: [{ partition: 't/0', expected: null, next: 1 }] },
        );
        const after = Date.now();
        const f = await store.freshness([rows, cols, tiles, never]);
        expect([...f.keys()].sort()).toEqual(['cols', 'rows', 'tiles']);
        expect(f.get('rows')?.newestEventTs).toBe(9_000);
        expect(f.get('cols')?.newestEventTs).toBe(12_000);
        expect(f.get('tiles')?.newestEventTs).toBe(150_000);
        for (const v of f.values()) {
          expect(v.updatedAt).toBeGreaterThanOrEqual(before);
          expect(v.updatedAt).toBeLessThanOrEqual(after);
        }

        await store.writeTiles([{ view: tiles, tiles: [tileAt('u', 240_000)] }]);
        expect((await store.freshness([tiles])).get('tiles')?.newestEventTs).toBe(240_000);
        // Only expired tiles: nothing is written, so freshness does not move.
        await store.writeTiles([
          { view: tiles, tiles: [tileAt('u', 900_000, Date.now() - 1)], newestEventTs: 900_000 },
        ]);
        expect((await store.freshness([tiles])).get('tiles')?.newestEventTs).toBe(240_000);
      });

      it('is not moved by a rejected checkpointed write, is per project, and is forgotten by deleteView', async () => {
        const store = await open();
        const p = project();
        const view = viewOf(p, 'clicks');
        const other = viewOf(project(), 'clicks');
        const consumer = `${p}/w`;
        await store.writeTiles([{ view, tiles: [tileAt('u', 0)], newestEventTs: 10 }], {
          consumer,
          offsets: [{ partition: 't/0', expected: null, next: 1 }],
        });
        await expect(
          store.writeTiles([{ view, tiles: [tileAt('u', 0)], newestEventTs: 99 }], {
            consumer,
            offsets: [{ partition: 't/0', expected: 7, next: 8 }],
          }),
        ).rejects.toMatchObject({ code: 'CONFLICT' });
        expect((await store.freshness([view])).get('clicks')?.newestEventTs).toBe(10);
        expect(await store.freshness([other])).toEqual(new Map());
        await store.write(other, [row('z', 50, 0, { x: 1 })]);
        await store.deleteView(view);
        expect(await store.freshness([view])).toEqual(new Map());
        expect((await store.freshness([other])).get('clicks')?.newestEventTs).toBe(50);
      });
    });
  });
}

async function sleepUntil(epochMs: number): Promise<void> {
  const wait = epochMs - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
