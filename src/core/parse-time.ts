import { parseDuration } from './duration.js';
import { TesseraError } from './errors.js';

/**
 * Parses a time given as text, the same for CLI options and HTTP query parameters: ISO-8601 (`2024-05-01`,
 * `2024-05-01T12:00:00Z`), `now`, or `now-7d` style offsets. Date-only and zone-less times are UTC.
 *
 * @example parseTime('2024-05-01T12:00', '--start') // 2024-05-01T12:00:00.000Z
 */
export function parseTime(text: string, field: string): Date {
  const t = text.trim();
  const rel = /^now(?:([+-])(.+))?$/.exec(t);
  if (rel) {
    const offset = rel[2] ? parseDuration(rel[2], field) : 0;
    return new Date(Date.now() + (rel[1] === '-' ? -offset : offset));
  }
  const iso = /\d{2}:\d{2}/.test(t) && !/(Z|[+-]\d{2}:?\d{2})$/.test(t) ? `${t}Z` : t;
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) {
    throw new TesseraError(`invalid time '${text}'`, {
      field,
      expected: "ISO-8601 (2024-05-01T00:00:00Z), 'now' or 'now-7d'",
    });
  }
  return new Date(ms);
}
