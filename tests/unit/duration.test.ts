import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/duration.js';
import { TesseraError } from '../../src/core/errors.js';

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1.5h', 5_400_000],
    ['0', 0],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('treats 0 as no duration', () => expect(parseDuration(0)).toBe(0));

  it.each(['', '5', '5 minutes', '1x', 'h', '-1d', '1d ago'])('rejects %j with what is expected', (text) => {
    expect(() => parseDuration(text, 'ttl')).toThrow(TesseraError);
    expect(() => parseDuration(text, 'ttl')).toThrow(/field 'ttl'.*expected a duration/);
  });

  it('rejects bare numbers other than 0', () => {
    expect(() => parseDuration(86400, 'ttl')).toThrow(/ambiguous/);
  });

  it('formats back to the shortest form', () => {
    for (const ms of [1, 999, 1000, 61_000, 5_400_000, 90_061_001, 604_800_000]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
    expect(formatDuration(5_400_000)).toBe('1h30m');
  });
});
