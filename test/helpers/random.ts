// The seeded PRNG of src/util (sfc32 seeded through splitmix32), with the
// extras the test generators use. Same seed, same sequence: a failing seed
// replays exactly.
import { SeededRandom } from '../../src/util';

export class Rng extends SeededRandom {
  /** Uniform integer in [lo, hi] (inclusive); lo when the range is empty. */
  override int(lo: number, hi: number): number {
    if (hi < lo) return lo;
    return super.int(lo, hi);
  }

  /** Picks a value by weight: [[weight, value], ...]. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let x = this.float() * total;
    for (const [w, v] of choices) {
      x -= w;
      if (x < 0) return v;
    }
    const last = choices[choices.length - 1];
    if (last === undefined) throw new Error('weighted from empty list');
    return last[1];
  }
}
