// Drivers for the KV workloads: put, range, txn-put and txn-mixed, on the
// client's lean path (callRaw): requests are encoded once per distinct key,
// and only the first answer on each connection (per series) is decoded, as a
// sanity check; the rest are counted.
import { codecFor, type Client, type MethodCodec } from '../../src/client';
import { errorText, type Done, type Driver, type LoopControl } from './loop';
import { benchKey, type Options } from './options';

const cachedRequestsMax = 1 << 17;

/** Produces the request bytes of operation g and says which series it belongs to. */
interface Source {
  next(g: number): Buffer;
  /** Series of the request `next` returned last. */
  series: number;
}

class UnaryDriver implements Driver {
  private readonly checked: boolean[][];

  constructor(readonly series: readonly string[], private readonly conns: Client[], private readonly method: 'Put' | 'Range' | 'Txn',
    private readonly source: Source, private readonly ctl: LoopControl) {
    this.checked = conns.map(() => series.map(() => false));
  }

  issue(client: number, g: number, done: Done): void {
    const conn = client % this.conns.length;
    const request = this.source.next(g);
    const series = this.source.series;
    (this.conns[conn] as Client).callRaw('KV', this.method, request, this.ctl.callOptions).then((response) => {
      const seen = this.checked[conn] as boolean[];
      if (seen[series] !== true) {
        const problem = check(codecFor('KV', this.method), response);
        if (problem !== undefined) { done(problem); return; }
        seen[series] = true;
      }
      done(undefined, series);
    }, (e: unknown) => done(errorText(e)));
  }

  async close(): Promise<void> {
    // Connections belong to the caller.
  }
}

/** Every answer carries a header revision; a txn without compares (or with always-true ones) must succeed. */
function check(codec: MethodCodec, response: Buffer): string | undefined {
  try {
    const r = codec.decode(response) as { header?: { revision?: string } | null; succeeded?: boolean };
    if (r.header?.revision === undefined) return 'bad response: no header revision';
    return r.succeeded === false ? 'bad response: txn did not succeed' : undefined;
  } catch {
    return 'bad response: undecodable';
  }
}

/** A per-key request cache: an array when the key space is small enough, else no caching. */
function cached(keys: number, encode: (n: number) => Buffer): (n: number) => Buffer {
  if (keys > cachedRequestsMax) return encode;
  const cache: (Buffer | undefined)[] = new Array(keys);
  return (n) => (cache[n] ??= encode(n));
}

const random = (n: number): number => Math.floor(Math.random() * n);

/** The client drops fields at their default, as etcd's Go client does: etcd reads a present empty range_end as "to the end". */
function rangeRequest(o: Options, key: Buffer, end: Buffer | undefined): Record<string, unknown> {
  return { key, range_end: end, limit: String(o.limit), serializable: o.consistency === 's' };
}

function source(next: (g: number) => Buffer): Source {
  return { series: 0, next };
}

function putSource(o: Options, value: Buffer): Source {
  const put = codecFor('KV', 'Put');
  const encode = cached(o.keySpaceSize, (n) => put.encode({ key: benchKey(n, o.keySize), value }));
  return source(o.sequentialKeys ? (g) => encode(g % o.keySpaceSize) : () => encode(random(o.keySpaceSize)));
}

function rangeSource(o: Options): Source {
  const range = codecFor('KV', 'Range');
  if (o.rangeKey !== undefined) {
    const fixed = range.encode(rangeRequest(o, Buffer.from(o.rangeKey), o.rangeEnd !== undefined ? Buffer.from(o.rangeEnd) : undefined));
    return source(() => fixed);
  }
  const encode = cached(o.keySpaceSize, (n) => range.encode(rangeRequest(o, benchKey(n, o.keySize), undefined)));
  return source(() => encode(random(o.keySpaceSize)));
}

/**
 * etcd's txn-put: a txn of --txn-ops puts, keys (i × txn-ops + j) mod key
 * space. --random-keys starts each txn at a random key instead; --txn-guard
 * adds If(mod_revision(key) > -1) per key (always true), as the Go loadgen.
 */
function txnPutSource(o: Options, value: Buffer): Source {
  const txn = codecFor('KV', 'Txn');
  const n = o.txnOps;
  const encode = cached(o.keySpaceSize, (start) => {
    const keys = Array.from({ length: n }, (_, j) => benchKey((start + j) % o.keySpaceSize, o.keySize));
    const compare = o.txnGuard ? keys.map((key) => ({ result: 1 /* GREATER */, target: 2 /* MOD */, key, mod_revision: '-1' })) : [];
    return txn.encode({ compare, success: keys.map((key) => ({ request_put: { key, value } })) });
  });
  return source(o.randomKeys ? () => encode(random(o.keySpaceSize)) : (g) => encode((g * n) % o.keySpaceSize));
}

/**
 * etcd's txn-mixed: each operation is a txn of one op; a read with
 * probability rw/(1+rw) — a range over every key ("\0".."\0", as etcd's
 * OpGet("", WithPrefix()), or KEY..END when given) with --limit — else a put
 * of key i mod key space.
 */
function txnMixedSource(o: Options, value: Buffer): Source {
  const txn = codecFor('KV', 'Txn');
  const key = o.rangeKey !== undefined ? Buffer.from(o.rangeKey) : Buffer.from([0]);
  const endText = o.rangeEnd ?? o.endKey;
  const end = endText !== undefined ? Buffer.from(endText) : o.rangeKey === undefined ? Buffer.from([0]) : undefined;
  const read = txn.encode({ success: [{ request_range: rangeRequest(o, key, end) }] });
  const write = cached(o.keySpaceSize, (n) => txn.encode({ success: [{ request_put: { key: benchKey(n, o.keySize), value } }] }));
  const readShare = o.rwRatio / (1 + o.rwRatio);
  const s: Source = {
    series: 0,
    next(g) {
      s.series = Math.random() < readShare ? 0 : 1;
      return s.series === 0 ? read : write(g % o.keySpaceSize);
    },
  };
  return s;
}

export function makeKvDriver(o: Options, conns: Client[], value: Buffer, ctl: LoopControl): Driver {
  switch (o.op) {
    case 'put': return new UnaryDriver(['put'], conns, 'Put', putSource(o, value), ctl);
    case 'range': return new UnaryDriver(['range'], conns, 'Range', rangeSource(o), ctl);
    case 'txn-put': return new UnaryDriver(['txn-put'], conns, 'Txn', txnPutSource(o, value), ctl);
    case 'txn-mixed': return new UnaryDriver(['read', 'write'], conns, 'Txn', txnMixedSource(o, value), ctl);
    default: throw new Error(`${o.op} is not a KV workload`);
  }
}

/** watch-get's gets: a serializable Get of one key, as etcd's. */
export function makeGetDriver(conns: Client[], key: Buffer, ctl: LoopControl): Driver {
  const request = codecFor('KV', 'Range').encode({ key, serializable: true });
  return new UnaryDriver(['get'], conns, 'Range', source(() => request), ctl);
}
