/**
 * A small seeded generator for sampling: xoshiro128** (32-bit state words, fast in JS,
 * passes BigCrush), seeded through splitmix32 so nearby seeds give unrelated streams.
 * `Math.random` cannot be seeded, and a request's `seed` must reproduce its tokens.
 */
export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is any safe integer (negative too): its low and high 32 bits both count. */
  constructor(seed: number) {
    let x = (seed >>> 0) ^ 0x9e3779b9;
    const high = Math.floor(seed / 2 ** 32) >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x ^ high;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A random seed for requests that did not ask for one. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}
