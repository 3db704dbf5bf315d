// A small seeded PRNG (sfc32, seeded through splitmix32). Deterministic, so a
// seed replays a run exactly; not for cryptography. Code that needs jitter
// (raft election timeouts) takes a Random instead of calling Math.random.
import { assert } from './assert';

/** The jitter source a component is given. */
export interface Random {
  /** Uniform integer in [0, n); n is a positive integer ≤ 2^32. */
  intBelow(n: number): number;
  /** Uniform 32-bit unsigned integer. */
  u32(): number;
}

const twoTo32 = 4294967296;

export class SeededRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    assert(Number.isSafeInteger(seed), 'seed must be a safe integer');
    // Mix both halves of the seed so seeds above 2^32 are not aliased.
    let s = (seed >>> 0) ^ Math.imul(Math.floor(seed / twoTo32) >>> 0, 0x9e3779b1);
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  intBelow(n: number): number {
    assert(Number.isInteger(n), 'intBelow needs an integer bound');
    assert(n > 0, 'intBelow needs a positive bound');
    assert(n <= twoTo32, 'intBelow needs a bound ≤ 2^32');
    return Math.floor((this.u32() / twoTo32) * n);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / twoTo32;
  }

  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    assert(hi >= lo, 'int needs lo ≤ hi');
    return lo + this.intBelow(hi - lo + 1);
  }

  bool(pTrue = 0.5): boolean {
    return this.float() < pTrue;
  }

  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, 'pick from an empty list');
    return items[this.intBelow(items.length)] as T;
  }

  /** An independent generator derived from this one (advances this one by two draws). */
  fork(): SeededRandom {
    return new SeededRandom(this.u32() * 2097152 + (this.u32() >>> 11));
  }
}
