import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { BodyWriter, BufferPool } from '../../src/server/body-writer.js';
import {
  fromFeastRequest,
  isoJson,
  toFeastResponse,
  writeFeastResponse,
} from '../../src/server/feast-json.js';
import type { ServedResult } from '../../src/serving/online-serving.js';
import type { FeatureStatus } from '../../src/serving/types.js';
import { prng } from '../helpers/prng.js';

describe("Feast's HTTP JSON", () => {
  it('turns columnar entities (and request_context) into entity rows', () => {
    const r = fromFeastRequest(
      {
        features: ['v:f'],
        entities: { driver_id: [1, 2] },
        request_context: { val: [10, 20] },
        full_feature_names: true,
      },
      100,
    );
    expect(r.entities).toEqual([
      { driver_id: 1, val: 10 },
      { driver_id: 2, val: 20 },
    ]);
    expect(r.fullFeatureNames).toBe(true);
  });

  it('rejects ragged columns and oversized requests with the field at fault', () => {
    expect(() => fromFeastRequest({ features: ['v:f'], entities: { a: [1, 2], b: [1] } }, 100)).toThrow(
      /field 'entities\.b': entity columns have different lengths; expected 2 values/,
    );
    expect(() => fromFeastRequest({ features: ['v:f'], entities: { a: [1, 2, 3] } }, 2)).toThrow(
      /too many entity rows.*at most 2/,
    );
  });

  it("answers in the feature server's shape: names, then per-feature values/statuses/event_timestamps", () => {
    const ts = new Date('2024-05-01T00:00:00Z');
    const body = JSON.parse(
      toFeastResponse({
        featureNames: ['driver_id', 'conv_rate'],
        rows: [
          { driver_id: 1001, conv_rate: 0.5 },
          { driver_id: 1002, conv_rate: null },
        ],
        statuses: [
          ['PRESENT', 'PRESENT'],
          ['PRESENT', 'NOT_FOUND'],
        ],
        eventTimestamps: [
          [null, ts],
          [null, null],
        ],
        warnings: [],
      }),
    );
    expect(body).toEqual({
      metadata: { feature_names: ['driver_id', 'conv_rate'] },
      results: [
        {
          values: [1001, 1002],
          statuses: ['PRESENT', 'PRESENT'],
          event_timestamps: ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z'],
        },
        {
          values: [0.5, null],
          statuses: ['PRESENT', 'NOT_FOUND'],
          event_timestamps: ['2024-05-01T00:00:00.000Z', '1970-01-01T00:00:00Z'],
        },
      ],
    });
  });
});

const EPOCH = '1970-01-01T00:00:00Z';

/** The answer as the obvious nested structure through JSON.stringify: slow, plainly right. */
function referenceResponse(r: ServedResult): string {
  const plain = (v: unknown): unknown => {
    if (v instanceof Date) return v.toISOString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    if (Array.isArray(v)) return v.map(plain);
    return v ?? null;
  };
  return JSON.stringify({
    metadata: { feature_names: r.featureNames },
    results: r.featureNames.map((name, j) => ({
      values: r.rows.map((row) => plain(row[name])),
      statuses: r.statuses.map((s) => s[j]),
      event_timestamps: r.eventTimestamps.map((t) => t[j]?.toISOString() ?? EPOCH),
    })),
    ...(r.warnings.length > 0 ? { warnings: r.warnings } : {}),
  });
}

const STATUSES: FeatureStatus[] = ['PRESENT', 'NULL_VALUE', 'NOT_FOUND', 'OUTSIDE_MAX_AGE', 'DEFAULTED'];

function randomInstant(r: () => number): Date {
  const pick = r();
  if (pick < 0.1) return new Date(0);
  if (pick < 0.2) return new Date(Math.round((r() - 0.5) * 8.64e15)); // any year, ±YYYYYY too
  if (pick < 0.3) return new Date(-62_167_219_200_000 + Math.round(r() * 1000)); // year 0
  if (pick < 0.4) return new Date(253_402_300_799_999 - Math.round(r() * 1000)); // year 9999
  return new Date(Math.round(r() * 4e12) - 1e12);
}

function randomValue(r: () => number, depth = 0): unknown {
  const strings = [
    '',
    'NZ',
    'quote " and \\ backslash',
    'ünïcödé',
    '😀',
    'line\nbreak\u2028',
    '\u0000\u001f',
  ];
  switch (Math.floor(r() * 14)) {
    case 0:
      return null;
    case 1:
      return undefined;
    case 2:
      return Math.floor(r() * 2000) - 1000;
    case 3:
      return (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
    case 4:
      return [Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21, 5e-324][Math.floor(r() * 5)];
    case 5:
      return strings[Math.floor(r() * strings.length)];
    case 6:
      return r() < 0.5;
    case 7:
      return r() < 0.5 ? BigInt(Math.floor(r() * 1e6)) : 2n ** 60n + BigInt(Math.floor(r() * 1e6));
    case 8:
      return randomInstant(r);
    case 9:
      return Uint8Array.from({ length: Math.floor(r() * 5) }, () => Math.floor(r() * 256));
    case 10:
      return depth > 1 ? null : Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    case 11:
      // Objects go to JSON.stringify as they are (a bigint inside one throws, before and now).
      return {
        a: Math.round(r() * 100) / 10,
        'b"c': strings[Math.floor(r() * strings.length)],
        d: new Date(0),
      };
    default:
      return Math.round(r() * 1e5) / 1000;
  }
}

function randomResult(r: () => number, n: number): ServedResult {
  const names = Array.from({ length: 1 + Math.floor(r() * 6) }, (_, j) => (j === 2 ? '__proto__' : `f${j}`));
  const rows = Array.from({ length: n }, () => {
    const row: Record<string, unknown> = {};
    for (const name of names) Object.defineProperty(row, name, { value: randomValue(r), enumerable: true });
    return row;
  });
  return {
    featureNames: names,
    rows,
    statuses: rows.map(() => names.map(() => STATUSES[Math.floor(r() * STATUSES.length)] as FeatureStatus)),
    eventTimestamps: rows.map(() => names.map(() => (r() < 0.3 ? null : randomInstant(r)))),
    warnings: r() < 0.2 ? ['deadline of 5 ms exceeded "quoted"'] : [],
  };
}

describe('Feast JSON answers, randomized against a reference', () => {
  it('writes exactly what JSON.stringify of the nested structure gives', () => {
    const r = prng(42);
    for (let k = 0; k < 400; k++) {
      const result = randomResult(r, [0, 1, 2, 4, 5, 7, 30][k % 7] as number);
      expect(toFeastResponse(result)).toBe(referenceResponse(result));
    }
  });

  it('formats event times exactly as Date#toISOString', () => {
    const r = prng(7);
    const instants = [
      0, -1, 1, -62_167_219_200_000, -62_167_219_200_001, 253_402_300_799_999, 253_402_300_800_000,
    ];
    for (let k = 0; k < 20_000; k++) instants.push(randomInstant(r).getTime());
    for (const t of instants) expect(isoJson(t)).toBe(`"${new Date(t).toISOString()}"`);
    // Fractions of a millisecond are dropped, as Date drops them.
    expect(isoJson(1.9)).toBe(`"${new Date(1.9).toISOString()}"`);
    expect(isoJson(-1.9)).toBe(`"${new Date(-1.9).toISOString()}"`);
  });

  it('sends large answers from a pooled buffer, byte for byte the same text', async () => {
    const app = Fastify();
    const pool = new BufferPool();
    const result = randomResult(prng(3), 3000);
    app.get('/answer', async (_req, reply) => {
      const body = new BodyWriter(pool);
      writeFeastResponse(result, body);
      return body.send(reply, 'application/json; charset=utf-8');
    });
    for (let k = 0; k < 3; k++) {
      const res = await app.inject({ method: 'GET', url: '/answer' });
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(Number(res.headers['content-length'])).toBe(res.rawPayload.length);
      expect(res.payload).toBe(referenceResponse(result));
    }
    expect(pool.size).toBe(1); // one buffer, reused by each answer
    await app.close();
  });
});

describe('Feast request checks', () => {
  const ok = { features: ['v:f'], entities: { user_id: [1] } };
  const bad = (body: unknown) => () => fromFeastRequest(body, 100);

  it('names the field at fault', () => {
    expect(bad([ok])).toThrow(/request body must be a JSON object.*got an array/);
    expect(bad({ entities: ok.entities })).toThrow(/field 'features': no features requested/);
    expect(bad({ ...ok, feature_service: 's' })).toThrow(
      /field 'features': both features and feature_service/,
    );
    expect(bad({ ...ok, features: [] })).toThrow(/field 'features': .*got an empty array/);
    expect(bad({ ...ok, features: ['v:f', 3] })).toThrow(/field 'features.1': .*got a number/);
    expect(bad({ entities: ok.entities, feature_service: '' })).toThrow(/field 'feature_service'/);
    expect(bad({ features: ['v:f'] })).toThrow(/field 'entities': missing/);
    expect(bad({ ...ok, entities: {} })).toThrow(/field 'entities': no entities given/);
    expect(bad({ ...ok, entities: { user_id: 1 } })).toThrow(/field 'entities.user_id': .*got a number/);
    expect(bad({ ...ok, request_context: { amount: 'x' } })).toThrow(/field 'request_context.amount'/);
    expect(bad({ ...ok, request_context: { amount: [1, 2] } })).toThrow(
      /field 'request_context.amount': entity columns have different lengths/,
    );
    expect(bad({ ...ok, full_feature_names: 'yes' })).toThrow(/field 'full_feature_names'/);
    expect(bad({ ...ok, deadline_ms: 0 })).toThrow(/field 'deadline_ms': .*got 0/);
    expect(bad(JSON.parse('{"features":["v:f"],"entities":{"__proto__":[1]}}'))).toThrow(
      /field 'entities.__proto__'/,
    );
  });

  it('ignores fields it does not know, as before', () => {
    expect(fromFeastRequest({ ...ok, extra: 1 }, 100)).toEqual({
      entities: [{ user_id: 1 }],
      features: ['v:f'],
    });
  });
});
