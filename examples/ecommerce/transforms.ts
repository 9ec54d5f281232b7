/**
 * Request-time transforms of the e-commerce example. They run in training (after the point-in-time join)
 * and in serving, so they are pure, synchronous and total: missing inputs give missing outputs, never throw.
 */

/** A candidate counts as a premium-priced item for this user above this multiple of their average order. */
export const PREMIUM_PRICE_RATIO = 1.5;

/**
 * How a candidate item's price compares with what the user usually pays.
 * Input row: `candidate_price` (request field) and `avg_order_value` (feature `user_stats:avg_order_value`).
 * Outputs `price_ratio` = candidate_price / avg_order_value and `is_premium_price` = ratio > 1.5; both are
 * `null` when either input is missing or the user has no orders yet.
 *
 * @example
 * priceAffinity({ candidate_price: 90, avg_order_value: 45 }); // { price_ratio: 2, is_premium_price: true }
 * priceAffinity({ candidate_price: 90, avg_order_value: null }); // { price_ratio: null, is_premium_price: null }
 */
export function priceAffinity(row: Readonly<Record<string, unknown>>): {
  price_ratio: number | null;
  is_premium_price: boolean | null;
} {
  const price = row['candidate_price'];
  const aov = row['avg_order_value'];
  if (typeof price !== 'number' || !Number.isFinite(price) || typeof aov !== 'number' || !(aov > 0)) {
    return { price_ratio: null, is_premium_price: null };
  }
  const ratio = price / aov;
  return { price_ratio: ratio, is_premium_price: ratio > PREMIUM_PRICE_RATIO };
}
