// Drivers for the KV workloads: put, range, txn-put and txn-mixed. Requests
// are serialized once per distinct key and sent with identity coding, so the
// client spends its CPU on the transport rather than on reflection-based
// protobuf. The first answer on each connection (per series) is decoded fully
// as a sanity check; the rest are counted.
import * as grpc from '@grpc/grpc-js';
import { benchKey, cachedRequestsMax, errorKind, identity, method, type Method } from './common';
import type { Done, Driver, LoopControl } from './loop';
import type { Options } from './options';

/** Produces the request bytes of operation g and says which series it belongs to. */
interface Source {
  next(g: number): Buffer;
  /** Series of the request `next` returned last. */
  series: number;
}

type Check = (response: Buffer | undefined) => string | undefined;

class UnaryDriver implements Driver {
  private readonly checked: boolean[][];
  private readonly metadata = new grpc.Metadata();
  private readonly options: grpc.CallOptions;

  constructor(
    readonly series: readonly string[],
    private readonly conns: grpc.Client[],
    private readonly m: Method,
    private readonly source: Source,
    private readonly check: Check,
    ctl: LoopControl,
  ) {
    this.checked = conns.map(() => series.map(() => false));
    this.options = ctl.callOptions;
  }

  issue(client: number, g: number, done: Done): void {
    const conn = client % this.conns.length;
    const request = this.source.next(g);
    const series = this.source.series;
    (this.conns[conn] as grpc.Client).makeUnaryRequest(this.m.path, identity, identity, request, this.metadata, this.options,
      (err, response) => {
        if (err) { done(errorKind(err)); return; }
        const seen = this.checked[conn] as boolean[];
        if (seen[series] !== true) {
          const problem = this.check(response);
          if (problem !== undefined) { done(problem); return; }
          seen[series] = true;
        }
        done(undefined, series);
      });
  }

  async close(): Promise<void> {
    // Connections belong to the caller.
  }
}

function headerCheck(m: Method): Check {
  return (response) => {
    if (response === undefined) return 'bad response: empty';
    try {
      const r = m.responseDeserialize(response) as { header?: { revision?: string } | null };
      return r.header?.revision !== undefined ? undefined : 'bad response: no header revision';
    } catch {
      return 'bad response: undecodable';
    }
  };
}

/** A txn without compares (or with always-true ones) must succeed; a failed one means the server judged it wrong. */
function txnCheck(m: Method): Check {
  const header = headerCheck(m);
  return (response) => {
    const problem = header(response);
    if (problem !== undefined) return problem;
    const r = m.responseDeserialize(response as Buffer) as { succeeded?: boolean };
    return r.succeeded === true ? undefined : 'bad response: txn did not succeed';
  };
}

/** A per-key request cache: an array when the key space is small enough, else no caching. */
function cached(keys: number, encode: (n: number) => Buffer): (n: number) => Buffer {
  if (keys > cachedRequestsMax) return encode;
  const cache: (Buffer | undefined)[] = new Array(keys);
  return (n) => {
    let b = cache[n];
    if (b === undefined) { b = encode(n); cache[n] = b; }
    return b;
  };
}

function keyPicker(o: Options, sequential: boolean): (g: number) => number {
  return sequential ? (g) => g % o.keySpaceSize : () => Math.floor(Math.random() * o.keySpaceSize);
}

/**
 * protobufjs writes every field present on the object, even at its default,
 * and etcd reads an explicitly empty range_end as "to the end of the key
 * space" (Go sees a non-nil empty slice). So fields at their default are left
 * off, exactly as etcd's Go client does.
 */
function rangeRequest(o: Options, key: Buffer, end: Buffer | undefined): Record<string, unknown> {
  const r: Record<string, unknown> = { key };
  if (end !== undefined && end.length > 0) r['range_end'] = end;
  if (o.limit > 0) r['limit'] = String(o.limit);
  if (o.consistency === 's') r['serializable'] = true;
  return r;
}

function putSource(o: Options, m: Method, value: Buffer): Source {
  const pick = keyPicker(o, o.sequentialKeys);
  const encode = cached(o.keySpaceSize, (n) => m.requestSerialize({ key: benchKey(n, o.keySize), value }));
  return { series: 0, next: (g) => encode(pick(g)) };
}

function rangeSource(o: Options, m: Method): Source {
  if (o.rangeKey !== undefined) {
    const end = o.rangeEnd !== undefined ? Buffer.from(o.rangeEnd) : undefined;
    const fixed = m.requestSerialize(rangeRequest(o, Buffer.from(o.rangeKey), end));
    return { series: 0, next: () => fixed };
  }
  const pick = keyPicker(o, o.sequentialKeys);
  const encode = cached(o.keySpaceSize, (n) => m.requestSerialize(rangeRequest(o, benchKey(n, o.keySize), undefined)));
  return { series: 0, next: (g) => encode(pick(g)) };
}

/**
 * etcd's txn-put: a txn of --txn-ops puts, keys (i × txn-ops + j) mod key
 * space. --random-keys starts each txn at a random key instead; --txn-guard
 * adds If(mod_revision(key) > -1) per key (always true), as the Go loadgen.
 */
function txnPutSource(o: Options, m: Method, value: Buffer): Source {
  const n = o.txnOps;
  const encode = cached(o.keySpaceSize, (start) => {
    const keys = Array.from({ length: n }, (_, j) => benchKey((start + j) % o.keySpaceSize, o.keySize));
    const request: Record<string, unknown> = { success: keys.map((key) => ({ request_put: { key, value } })) };
    if (o.txnGuard) request['compare'] = keys.map((key) => ({ result: 1 /* GREATER */, target: 2 /* MOD */, key, mod_revision: '-1' }));
    return m.requestSerialize(request);
  });
  const start = o.randomKeys
    ? (): number => Math.floor(Math.random() * o.keySpaceSize)
    : (g: number): number => (g * n) % o.keySpaceSize;
  return { series: 0, next: (g) => encode(start(g)) };
}

/**
 * etcd's txn-mixed: each operation is a txn of one op; a read with
 * probability rw/(1+rw) — a range over every key ("\0".."\0", as etcd's
 * OpGet("", WithPrefix()), or KEY..END when given) with --limit — else a put
 * of key i mod key space.
 */
function txnMixedSource(o: Options, m: Method, value: Buffer): Source {
  const key = o.rangeKey !== undefined ? Buffer.from(o.rangeKey) : Buffer.from([0]);
  const endText = o.rangeEnd ?? o.endKey;
  const end = endText !== undefined ? Buffer.from(endText) : o.rangeKey === undefined ? Buffer.from([0]) : undefined;
  const read = m.requestSerialize({ success: [{ request_range: rangeRequest(o, key, end) }] });
  const write = cached(o.keySpaceSize, (n) => m.requestSerialize({ success: [{ request_put: { key: benchKey(n, o.keySize), value } }] }));
  const readShare = o.rwRatio / (1 + o.rwRatio);
  const source: Source = {
    series: 0,
    next(g) {
      if (Math.random() < readShare) { source.series = 0; return read; }
      source.series = 1;
      return write(g % o.keySpaceSize);
    },
  };
  return source;
}

export function makeKvDriver(o: Options, conns: grpc.Client[], value: Buffer, ctl: LoopControl): Driver {
  switch (o.op) {
    case 'put': {
      const m = method('KV', 'Put');
      return new UnaryDriver(['put'], conns, m, putSource(o, m, value), headerCheck(m), ctl);
    }
    case 'range': {
      const m = method('KV', 'Range');
      return new UnaryDriver(['range'], conns, m, rangeSource(o, m), headerCheck(m), ctl);
    }
    case 'txn-put': {
      const m = method('KV', 'Txn');
      return new UnaryDriver(['txn-put'], conns, m, txnPutSource(o, m, value), txnCheck(m), ctl);
    }
    case 'txn-mixed': {
      const m = method('KV', 'Txn');
      return new UnaryDriver(['read', 'write'], conns, m, txnMixedSource(o, m, value), txnCheck(m), ctl);
    }
    default:
      throw new Error(`${o.op} is not a KV workload`);
  }
}

/** A range driver for watch-get's gets: serializable Get of one key, as etcd's. */
export function makeGetDriver(conns: grpc.Client[], key: Buffer, ctl: LoopControl): Driver {
  const m = method('KV', 'Range');
  const request = m.requestSerialize({ key, serializable: true });
  return new UnaryDriver(['get'], conns, m, { series: 0, next: () => request }, headerCheck(m), ctl);
}
