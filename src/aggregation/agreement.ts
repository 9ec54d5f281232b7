/**
 * Whether two values of one feature agree as docs/semantics.md requires between the batch and stream paths:
 * floating-point numbers within a relative 1e-9, everything else exactly (int64 as number or bigint alike,
 * timestamps by instant, lists element by element).
 *
 * @example valuesAgree(0.1 + 0.2, 0.3) // true
 */
export function valuesAgree(a: unknown, b: unknown): boolean {
  if (typeof a === 'bigint') return valuesAgree(Number(a), b);
  if (typeof b === 'bigint') return valuesAgree(a, Number(b));
  if (typeof a === 'number' && typeof b === 'number') {
    if (a === b) return true;
    return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  }
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => valuesAgree(x, b[i]));
  return a === b || (a == null && b == null);
}
