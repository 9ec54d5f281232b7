import { describe, expect, it } from 'vitest';
import { encodeEntityKey } from '../../src/core/entity-key.js';

const int = [{ name: 'user_id', type: 'int64' as const }];
const pair = [
  { name: 'user_id', type: 'int64' as const },
  { name: 'merchant', type: 'string' as const },
];

describe('entity key encoding', () => {
  it('is the same whatever the JS type of an int key', () => {
    const k = encodeEntityKey(int, { user_id: 42 });
    expect(encodeEntityKey(int, { user_id: '42' })).toBe(k);
    expect(encodeEntityKey(int, { user_id: 42n })).toBe(k);
  });

  it('keeps int64 keys beyond 2^53 exact', () => {
    expect(encodeEntityKey(int, { user_id: 9007199254740993n })).toBe('9007199254740993');
    expect(encodeEntityKey(int, { user_id: '9007199254740993' })).toBe('9007199254740993');
  });

  it('orders multi-key parts by declaration and never collides across parts', () => {
    const a = encodeEntityKey(pair, { merchant: 'a\u001fb', user_id: 1 });
    const b = encodeEntityKey(pair, { merchant: 'a', user_id: 1 });
    expect(a).not.toBe(b);
    expect(encodeEntityKey(pair, { user_id: 1, merchant: 'x' })).toBe(
      encodeEntityKey(pair, { merchant: 'x', user_id: 1 }),
    );
  });

  it('names the missing or invalid key', () => {
    expect(() => encodeEntityKey(pair, { user_id: 1 })).toThrow(/field 'merchant'.*missing join key/);
    expect(() => encodeEntityKey(int, { user_id: 1.5 })).toThrow(/field 'user_id'.*expected a int64/);
    expect(() => encodeEntityKey(int, { user_id: 'abc' })).toThrow(/invalid join key value/);
  });
});
