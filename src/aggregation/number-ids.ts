/**
 * A hash table from numbers to small non-negative integer ids, open addressing with linear probing over one
 * `Float64Array` of (key, id) pairs: a lookup reads one cache line in the common case, where a `Map` reads its
 * bucket array, its entry and (for string keys) the stored key. For {@link TileTable}'s entity ids, looked up
 * once per event. Keys are compared with `===` (so −0 is 0); NaN cannot be a key.
 *
 * @example
 *   const ids = new NumberIds();
 *   ids.set(42, 0);
 *   ids.get(42); // 0
 *   ids.get(7); // -1
 */
export class NumberIds {
  #slots: Float64Array;
  #mask: number;
  #size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.#slots = new Float64Array(n * 2).fill(Number.NaN);
    this.#mask = n - 1;
  }

  get size(): number {
    return this.#size;
  }

  /** The id of `key`, or −1. */
  get(key: number): number {
    const slots = this.#slots;
    let i = hash(key) & this.#mask;
    for (;;) {
      const k = slots[i * 2] as number;
      if (k === key) return slots[i * 2 + 1] as number;
      if (Number.isNaN(k)) return -1; // an empty slot ends the probe
      i = (i + 1) & this.#mask;
    }
  }

  /** Sets the id of `key` (not already present). */
  set(key: number, id: number): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#grow();
    this.#put(key, id);
    this.#size++;
  }

  clear(): void {
    this.#slots.fill(Number.NaN);
    this.#size = 0;
  }

  #put(key: number, id: number): void {
    const slots = this.#slots;
    let i = hash(key) & this.#mask;
    while (!Number.isNaN(slots[i * 2] as number)) i = (i + 1) & this.#mask;
    slots[i * 2] = key;
    slots[i * 2 + 1] = id;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Float64Array(old.length * 2).fill(Number.NaN);
    this.#mask = this.#mask * 2 + 1;
    for (let i = 0; i < old.length; i += 2) {
      const k = old[i] as number;
      if (!Number.isNaN(k)) this.#put(k, old[i + 1] as number);
    }
  }
}

/** Mixes a number's low and high 32 bits (integers up to 2^53 and any other double) into a well-spread int. */
function hash(key: number): number {
  const lo = key | 0;
  const hi = (key / 4294967296) | 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1);
  h ^= h >>> 16;
  return h;
}
