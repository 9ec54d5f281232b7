import type { JoinKey } from '../definitions/entity.js';
import { TesseraError } from './errors.js';

/** A join-key value as given by a caller: numbers and strings; bigint for large int64 keys. */
export type KeyValue = string | number | bigint | boolean;

/**
 * Encodes the join-key values of one entity row into a canonical string, the same whatever the caller's
 * JavaScript types (`42`, `'42'` and `42n` are one int64 key). Online stores key rows by it.
 *
 * @example encodeEntityKey([{ name: 'user_id', type: 'int64' }], { user_id: 42 }) // '42'
 */
export function encodeEntityKey(
  joinKeys: readonly JoinKey[],
  row: Readonly<Record<string, unknown>>,
): string {
  let out = '';
  for (let i = 0; i < joinKeys.length; i++) {
    const k = joinKeys[i] as JoinKey;
    const part = canonicalKeyPart(k, row[k.name]);
    // \u001f (unit separator) cannot appear unescaped in a part, so multi-key encodings never collide.
    out = i === 0 ? part : `${out}\u001f${part}`;
  }
  return out;
}

function canonicalKeyPart(key: JoinKey, v: unknown): string {
  if (v === undefined || v === null) {
    throw new TesseraError('missing join key', { field: key.name, expected: `a ${key.type} value` });
  }
  switch (key.type) {
    case 'int32':
    case 'int64': {
      const n =
        typeof v === 'bigint'
          ? v
          : typeof v === 'number' && Number.isInteger(v)
            ? BigInt(v)
            : parseIntStrict(v);
      if (n === undefined) throw badKey(key, v);
      return n.toString();
    }
    case 'float32':
    case 'float64': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
      if (!Number.isFinite(n)) throw badKey(key, v);
      return String(n);
    }
    case 'bool':
      if (v === true || v === 'true') return 'true';
      if (v === false || v === 'false') return 'false';
      throw badKey(key, v);
    case 'timestamp': {
      const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : Date.parse(String(v));
      if (!Number.isFinite(ms)) throw badKey(key, v);
      return String(ms);
    }
    default: {
      const s =
        typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined;
      if (s === undefined) throw badKey(key, v);
      return s.replaceAll('\\', '\\\\').replaceAll('\u001f', '\\u001f');
    }
  }
}

function parseIntStrict(v: unknown): bigint | undefined {
  if (typeof v !== 'string' || !/^-?\d+$/.test(v.trim())) return undefined;
  return BigInt(v.trim());
}

const badKey = (key: JoinKey, v: unknown) =>
  new TesseraError('invalid join key value', {
    field: key.name,
    expected: `a ${key.type}`,
    actual: JSON.stringify(String(v)),
  });
