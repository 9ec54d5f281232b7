import { definitionError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** A duration as written by users: `'90s'`, `'5m'`, `'1h30m'`, `'7d'`, `'2w'`, `'250ms'`, or `0` (none). */
export type DurationInput = string | 0;

/**
 * Parses a duration into milliseconds. `0`, `'0'` and `''` mean "no duration" (e.g. no TTL).
 *
 * @example parseDuration('1h30m') // 5_400_000
 */
export function parseDuration(input: DurationInput | number, field = 'duration'): number {
  if (input === 0 || input === '0') return 0;
  if (typeof input === 'number') {
    throw definitionError(`bare number ${input} is ambiguous`, {
      field,
      expected: "a duration string such as '30s', '5m', '1h', '7d'",
    });
  }
  const text = input.trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    consumed = re.lastIndex;
  }
  if (text.length === 0 || consumed !== text.length) {
    throw definitionError(`invalid duration '${input}'`, {
      field,
      expected: "a duration such as '30s', '5m', '1h30m', '7d', '2w' (units ms, s, m, h, d, w)",
    });
  }
  return Math.round(total);
}

/** Formats milliseconds back into the shortest duration string: `formatDuration(5_400_000) === '1h30m'`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  for (const unit of ['w', 'd', 'h', 'm', 's', 'ms'] as const) {
    const size = UNIT_MS[unit] as number;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
