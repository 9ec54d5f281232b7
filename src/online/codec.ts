import { Packr } from 'msgpackr';
import { TesseraError } from '../core/errors.js';
import type { OnlineColumn } from './online-store.js';

/**
 * Binary encoding of one online row's feature values, shared by the online stores.
 *
 * Layout (version 1):
 *
 * ```
 * byte 0        format version (1)
 * bytes 1..4    n: byte length of the names block, uint32 big-endian
 * bytes 5..5+n  names block: MessagePack array of the feature names
 * rest          values block: MessagePack array of the values, in the names' order
 * ```
 *
 * Why not a plain MessagePack map: writing 50 map keys per row costs about four times as much as writing 50
 * values (measured with msgpackr: ~80k vs ~450k rows/s), and materialization writes rows of the same view with
 * the same names again and again. Splitting names from values lets the encoder copy a cached names block and
 * the decoder reuse the decoded names array, while every record stays self-describing (no schema registry
 * to consult on a read, no extra round trip) and readable with any MessagePack library (two concatenated
 * MessagePack values after a 5-byte header).
 *
 * Value types kept: numbers (integers and floats; `-0` reads back as `0`), strings, booleans, null
 * (`undefined` is stored as null), bigint (int64 range), `Uint8Array`/`Buffer` (read back as a plain
 * `Uint8Array` that owns its memory), `Date` (MessagePack timestamp extension, read back as `Date`),
 * arrays of these, and nested plain objects.
 */

const FORMAT_VERSION = 1;
const HEADER_BYTES = 5;
/** Names blocks kept per process; bounded so that pathological inputs (a different key set per row) cannot grow memory. */
const MAX_CACHED_NAME_SETS = 1024;

// useRecords: false keeps the output plain MessagePack (no msgpackr-specific record extension), so other
// languages can read it. copyBuffers: false because `normalize` copies bytes values itself, once.
const packr = new Packr({ useRecords: false, copyBuffers: false, encodeUndefinedAsNil: true });

interface NameSet {
  readonly names: readonly string[];
  /** The encoded names block, copied into each record. */
  readonly block: Buffer;
  /** Reads the values in names order: a generated function, since rows are often dictionary-mode objects. */
  readonly extract: (values: Readonly<Record<string, unknown>>) => unknown[];
  /** Builds the result object from values in names order, as one object literal so V8 gives it a fast shape. */
  readonly build: (values: readonly unknown[]) => Record<string, unknown>;
}

// Encoder side: the last set used is checked first (a write batch nearly always repeats it), then a map by the
// joined names.
let lastEncoded: NameSet | undefined;
const encodedByJoinedNames = new Map<string, NameSet>();

// Decoder side: the last names block seen is compared byte-wise first, then a map by its latin1 text.
let lastDecoded: NameSet | undefined;
const decodedByBlock = new Map<string, NameSet>();

/**
 * Encodes a row's values. `reserve` leading bytes are left uninitialised for the caller's own header (the Redis
 * store puts the row's timestamps there), which saves copying the record once more.
 *
 * @example
 * const bytes = encodeValues({ clicks: 3, ctr: 0.25, country: 'NZ', seen_at: new Date(0) });
 * decodeValues(bytes); // { clicks: 3, ctr: 0.25, country: 'NZ', seen_at: 1970-01-01T00:00:00.000Z }
 *
 * const withHeader = encodeValues({ clicks: 3 }, 16);
 * withHeader.writeDoubleBE(Date.now(), 0);
 * decodeValues(withHeader, 16); // { clicks: 3 }
 */
export function encodeValues(values: Readonly<Record<string, unknown>>, reserve = 0): Buffer {
  const set = nameSetFor(Object.keys(values));
  const packed = packr.pack(set.extract(values));
  const names = set.block;
  const out = Buffer.allocUnsafe(reserve + HEADER_BYTES + names.length + packed.length);
  out[reserve] = FORMAT_VERSION;
  out.writeUInt32BE(names.length, reserve + 1);
  out.set(names, reserve + HEADER_BYTES);
  out.set(packed, reserve + HEADER_BYTES + names.length);
  return out;
}

/**
 * Decodes what {@link encodeValues} wrote, from `bytes[start..end)` (default: all of it). Returns a fresh plain
 * object whose values never alias `bytes`.
 *
 * @example
 * const stored = Buffer.concat([header, encodeValues({ a: 1 })]);
 * decodeValues(stored, header.length); // { a: 1 }
 */
export function decodeValues(bytes: Uint8Array, start = 0, end = bytes.length): Record<string, unknown> {
  if (end - start < HEADER_BYTES || bytes[start] !== FORMAT_VERSION) {
    throw corrupt(`unknown format version ${bytes[start]}`);
  }
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const namesLength = buf.readUInt32BE(start + 1);
  const namesStart = start + HEADER_BYTES;
  const valuesStart = namesStart + namesLength;
  if (valuesStart >= end) throw corrupt('names block overruns the record');
  const { names, build } = decodedNameSet(buf, namesStart, valuesStart);
  const values: unknown = packr.unpack(buf, { start: valuesStart, end });
  if (!Array.isArray(values) || values.length !== names.length) throw corrupt('values do not match names');
  for (let i = 0; i < values.length; i++) {
    const v: unknown = values[i];
    if (typeof v === 'object' && v !== null) values[i] = normalize(v);
  }
  return build(values);
}

/**
 * A growable byte buffer that records are appended to, so a batch of rows becomes one Buffer instead of one
 * allocation per row.
 *
 * @example
 * const sink = new ByteSink(1 << 16);
 * const at = sink.reserve(4); // room for a length prefix
 * const length = sink.appendValues({ clicks: 3 });
 * sink.buffer.writeUInt32BE(length, at);
 * sink.bytes(); // the filled part
 */
export class ByteSink {
  buffer: Buffer;
  length = 0;

  constructor(initialCapacity = 1 << 16) {
    this.buffer = Buffer.allocUnsafe(Math.max(64, initialCapacity));
  }

  /** Makes room for `n` bytes at the end and returns their offset; the caller fills them in. */
  reserve(n: number): number {
    const at = this.length;
    this.#ensure(n);
    this.length += n;
    return at;
  }

  /** Appends the {@link encodeValues} encoding of `values`; returns its byte length. */
  appendValues(values: Readonly<Record<string, unknown>>): number {
    const set = nameSetFor(Object.keys(values));
    const packed = packr.pack(set.extract(values));
    const names = set.block;
    const n = HEADER_BYTES + names.length + packed.length;
    this.#ensure(n);
    const buf = this.buffer;
    const at = this.length;
    buf[at] = FORMAT_VERSION;
    buf.writeUInt32BE(names.length, at + 1);
    // set() rather than copy(): no argument checking in JS, measurably cheaper for sub-KB copies.
    buf.set(names, at + HEADER_BYTES);
    buf.set(packed, at + HEADER_BYTES + names.length);
    this.length += n;
    return n;
  }

  /**
   * Appends the {@link encodeValues} encoding of row `r` of `columns` (as `rowsFromColumns` would give it);
   * returns its byte length. The bytes decode exactly as the row's would, without building the row.
   */
  appendColumnsRow(columns: ColumnsEncoding, r: number): number {
    const features = columns.features;
    const n = features.length;
    const names = columns.set.block;
    // Room for everything but strings and other variable-length values, which make room for themselves.
    this.#ensure(HEADER_BYTES + names.length + 5 + n * 9);
    const start = this.length;
    let buf = this.buffer;
    buf[start] = FORMAT_VERSION;
    buf.writeUInt32BE(names.length, start + 1);
    buf.set(names, start + HEADER_BYTES);
    let at = start + HEADER_BYTES + names.length;
    if (n < 16) buf[at++] = 0x90 | n;
    else if (n < 0x10000) {
      buf[at] = 0xdc;
      buf[at + 1] = n >> 8;
      buf[at + 2] = n & 0xff;
      at += 3;
    } else {
      buf[at] = 0xdd;
      buf.writeUInt32BE(n, at + 1);
      at += 5;
    }
    for (let i = 0; i < n; i++) {
      const c = features[i] as OnlineColumn;
      const values = c.values;
      if (values instanceof Float64Array) {
        const valid = c.valid;
        if (valid !== undefined && valid[r] === 0) buf[at++] = 0xc0;
        else at = writeNumber(buf, at, values[r] as number);
        continue;
      }
      const v = values[r];
      if (typeof v === 'number') at = writeNumber(buf, at, v);
      else if (v === null || v === undefined) buf[at++] = 0xc0;
      else if (typeof v === 'boolean') buf[at++] = v ? 0xc3 : 0xc2;
      else {
        // Strings and everything else: as msgpackr writes them (ASCII strings without a detour).
        this.length = at;
        at = typeof v === 'string' ? this.#appendString(v) : this.#appendPacked(v);
        buf = this.buffer;
        // Keep room for the remaining fixed-size values.
        this.length = at;
        this.#ensure((n - i) * 9);
        buf = this.buffer;
      }
    }
    this.length = at;
    return at - start;
  }

  #appendString(s: string): number {
    const len = s.length;
    if (len < 256) {
      this.#ensure(2 + len);
      const buf = this.buffer;
      const head = len < 32 ? 1 : 2;
      let at = this.length + head;
      for (let k = 0; k < len; k++) {
        const ch = s.charCodeAt(k);
        if (ch >= 0x80) return this.#appendPacked(s);
        buf[at++] = ch;
      }
      if (head === 1) buf[this.length] = 0xa0 | len;
      else {
        buf[this.length] = 0xd9;
        buf[this.length + 1] = len;
      }
      return at;
    }
    return this.#appendPacked(s);
  }

  #appendPacked(v: unknown): number {
    const packed = packr.pack(v);
    this.#ensure(packed.length);
    this.buffer.set(packed, this.length);
    return this.length + packed.length;
  }

  /** The bytes written so far (a view, not a copy). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  /** Makes sure `n` more bytes fit without growing. */
  ensure(n: number): void {
    this.#ensure(n);
  }

  #ensure(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + n));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

/** What {@link ByteSink.appendColumnsRow} needs of a column batch: its columns and their cached names block. */
export interface ColumnsEncoding {
  readonly features: readonly OnlineColumn[];
  readonly set: { readonly block: Buffer };
}

/**
 * Prepares a column batch for {@link ByteSink.appendColumnsRow}.
 *
 * @example
 * const enc = columnsEncoding(batch.features);
 * for (let r = 0; r < batch.length; r++) sink.appendColumnsRow(enc, r);
 */
export function columnsEncoding(features: readonly OnlineColumn[]): ColumnsEncoding {
  return { features, set: nameSetFor(features.map((c) => c.name)) };
}

/** Writes a number as msgpackr does (same bytes, so the same value reads back, `-0` as `0`). */
function writeNumber(buf: Buffer, at: number, v: number): number {
  if (v >>> 0 === v) {
    if (v < 0x80) buf[at++] = v;
    else if (v < 0x100) {
      buf[at++] = 0xcc;
      buf[at++] = v;
    } else if (v < 0x10000) {
      buf[at++] = 0xcd;
      buf[at++] = v >> 8;
      buf[at++] = v & 0xff;
    } else {
      buf[at++] = 0xce;
      buf[at++] = v >>> 24;
      buf[at++] = (v >> 16) & 0xff;
      buf[at++] = (v >> 8) & 0xff;
      buf[at++] = v & 0xff;
    }
    return at;
  }
  if (v >> 0 === v) {
    if (v >= -0x20) buf[at++] = 0x100 + v;
    else if (v >= -0x80) {
      buf[at++] = 0xd0;
      buf[at++] = v + 0x100;
    } else if (v >= -0x8000) {
      buf[at++] = 0xd1;
      buf[at++] = (v >> 8) & 0xff;
      buf[at++] = v & 0xff;
    } else {
      buf[at++] = 0xd2;
      buf[at++] = (v >>> 24) & 0xff;
      buf[at++] = (v >> 16) & 0xff;
      buf[at++] = (v >> 8) & 0xff;
      buf[at++] = v & 0xff;
    }
    return at;
  }
  buf[at] = 0xcb;
  f64[0] = v;
  // MessagePack floats are big-endian: reverse the bytes on little-endian hosts (all Node targets in practice).
  if (LITTLE_ENDIAN) {
    buf[at + 1] = f64Bytes[7] as number;
    buf[at + 2] = f64Bytes[6] as number;
    buf[at + 3] = f64Bytes[5] as number;
    buf[at + 4] = f64Bytes[4] as number;
    buf[at + 5] = f64Bytes[3] as number;
    buf[at + 6] = f64Bytes[2] as number;
    buf[at + 7] = f64Bytes[1] as number;
    buf[at + 8] = f64Bytes[0] as number;
  } else buf.set(f64Bytes, at + 1);
  return at + 9;
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function nameSetFor(names: string[]): NameSet {
  const last = lastEncoded;
  if (last !== undefined && sameNames(last.names, names)) return last;
  const joined = names.join('\u0000');
  let set = encodedByJoinedNames.get(joined);
  if (set === undefined) {
    if (encodedByJoinedNames.size >= MAX_CACHED_NAME_SETS) encodedByJoinedNames.clear();
    // pack() returns a view into msgpackr's shared buffer: copy it, since the cached block lives on.
    set = makeNameSet(names, Buffer.from(packr.pack(names)));
    encodedByJoinedNames.set(joined, set);
  }
  lastEncoded = set;
  return set;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function decodedNameSet(buf: Buffer, start: number, end: number): NameSet {
  const last = lastDecoded;
  if (last !== undefined && last.block.length === end - start && last.block.compare(buf, start, end) === 0) {
    return last;
  }
  const text = buf.toString('latin1', start, end);
  let set = decodedByBlock.get(text);
  if (set === undefined) {
    const names: unknown = packr.unpack(buf, { start, end });
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw corrupt('bad names block');
    if (decodedByBlock.size >= MAX_CACHED_NAME_SETS) decodedByBlock.clear();
    set = makeNameSet(names, Buffer.from(buf.subarray(start, end)));
    decodedByBlock.set(text, set);
  }
  lastDecoded = set;
  return set;
}

function makeNameSet(names: readonly string[], block: Buffer): NameSet {
  // JSON.stringify yields a valid JS string literal for any name, so names cannot inject code. A computed key
  // keeps '__proto__' an own property instead of setting the prototype.
  const key = (n: string) => (n === '__proto__' ? `[${JSON.stringify(n)}]` : JSON.stringify(n));
  const extract = new Function('o', `return [${names.map((n) => `o[${JSON.stringify(n)}]`).join(',')}];`);
  const build = new Function('v', `return {${names.map((n, i) => `${key(n)}: v[${i}]`).join(',')}};`);
  return {
    names,
    block,
    extract: extract as NameSet['extract'],
    build: build as NameSet['build'],
  };
}

/** Gives bytes values their own plain Uint8Array (msgpackr returns Buffer views into the source). */
function normalize(v: object): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const e: unknown = v[i];
      if (typeof e === 'object' && e !== null) v[i] = normalize(e);
    }
    return v;
  }
  if (v instanceof Date) return v;
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    const e = o[k];
    if (typeof e === 'object' && e !== null) o[k] = normalize(e);
  }
  return o;
}

const corrupt = (why: string) =>
  new TesseraError(
    'corrupt online record',
    {
      actual: why,
      hint: 'the row was written by another program or a newer Tessera; re-materialize the view',
    },
    'BACKEND',
  );
