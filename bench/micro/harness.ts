// The pieces every micro-benchmark suite shares: what a case and a suite are,
// and a sink that keeps V8 from optimizing a measured result away.

/** A measured operation: synchronous, or a promise (benny then times it as a deferred case). */
export type Op = () => unknown;
export type AsyncOp = () => Promise<unknown>;

export interface MicroCase {
  readonly name: string;
  /**
   * Builds the state the operation needs and returns the operation. benny
   * calls a case's setup several times while it inspects it, so the runner
   * wraps this in once(): it runs at most once per case, and only if the case
   * passes the filter.
   */
  readonly setup: () => Op | Promise<AsyncOp>;
  /** Items handled per operation (keys scanned, entries acknowledged), for a per-item rate. */
  readonly items?: { readonly count: number; readonly unit: string };
}

export interface MicroSuite {
  /** Short id used by --filter and in the table ("proto", "codec", …). */
  readonly id: string;
  readonly title: string;
  readonly cases: readonly MicroCase[];
  /** Releases what the cases' setups acquired (databases, temp dirs); runs even if a case failed. */
  readonly teardown?: () => Promise<void>;
}

let sinkValue: unknown;
let sinkCount = 0;

/** Consumes a result so the computation that made it cannot be dropped as dead code. */
export function sink(v: unknown): void {
  sinkValue = v;
  sinkCount++;
}

/** Read once at the end, so the sink's writes are observable. */
export function sinkDigest(): string {
  return `${sinkCount}:${typeof sinkValue}`;
}

/** A deterministic permutation of 0..n-1 (xorshift), so lookups do not walk keys in insertion order. */
export function shuffledIndexes(n: number, seed = 0x9e3779b9): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  let x = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const j = x % (i + 1);
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

/** Deterministic pseudo-random bytes (values that LevelDB's compression cannot shrink). */
export function noiseBytes(n: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** A kube-apiserver-like key of exactly 24 bytes: /registry/pods/ns/p00042. */
export function sampleKey(i: number): Buffer {
  return Buffer.from(`/registry/pods/ns/p${String(i).padStart(5, '0')}`, 'latin1');
}
