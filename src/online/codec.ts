import { Packr } from 'msgpackr';
import { TesseraError } from '../core/errors.js';

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

  /** The bytes written so far (a view, not a copy). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  #ensure(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + n));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

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
