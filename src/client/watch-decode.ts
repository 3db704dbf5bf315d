// A lean decoder for WatchResponse, the message a watcher receives by the
// hundred thousand: the same shape as the proto decoder's (keepCase names,
// int64 as decimal strings, bytes as Buffer) but without reflection, and
// keys and values are views into the received buffer, not copies. The
// header is skipped. Field numbers are etcd's (etcdserverpb/rpc.proto,
// mvccpb/kv.proto); unknown fields are skipped, so newer servers decode too.

export interface KeyValueLite { key: Buffer; create_revision: string; mod_revision: string; version: string; value: Buffer; lease: string }
export interface EventLite { type: number; kv: KeyValueLite | null; prev_kv: KeyValueLite | null }
export interface WatchResponseLite {
  watch_id: string; created: boolean; canceled: boolean; compact_revision: string; cancel_reason: string; fragment: boolean; events: EventLite[];
}

const twoTo53 = 2 ** 53;

class Reader {
  pos = 0;
  constructor(readonly b: Buffer, readonly end: number) {}

  /** A varint as a number, exact below 2^53; beyond, its int64 value as a decimal string (watch IDs of -1). */
  varint(): number | string {
    let x = 0;
    let mul = 1;
    const start = this.pos;
    for (let i = 0; i < 10; i++) {
      const byte = this.b[this.pos++];
      if (byte === undefined || this.pos > this.end) throw new Error('WatchResponse: truncated varint');
      x += (byte & 0x7f) * mul;
      if (byte < 0x80) return x < twoTo53 ? x : this.big(start);
      mul *= 128;
    }
    throw new Error('WatchResponse: varint longer than 10 bytes');
  }

  private big(start: number): string {
    let v = 0n;
    for (let i = start, shift = 0n; i < this.pos; i++, shift += 7n) v |= BigInt((this.b[i] as number) & 0x7f) << shift;
    return BigInt.asIntN(64, v).toString();
  }

  bytes(): Buffer {
    const n = Number(this.varint());
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    if (this.pos > this.end) throw new Error('WatchResponse: field overruns its message');
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1 || wire === 5) this.pos += wire === 1 ? 8 : 4;
    else throw new Error(`WatchResponse: unsupported wire type ${wire}`);
  }

  /** Calls `field` for each field up to `end`; the field reads its value or says it did not (false: skip it). */
  fields(end: number, field: (n: number, wire: number) => boolean): void {
    while (this.pos < end) {
      const tag = Number(this.varint());
      if (!field(tag >>> 3, tag & 7)) this.skip(tag & 7);
    }
    if (this.pos !== end) throw new Error('WatchResponse: message overruns its length');
  }
}

/** The end of a length-delimited field that starts here (the length is read first). */
function fieldEnd(r: Reader): number {
  const length = Number(r.varint());
  return r.pos + length;
}

function keyValue(r: Reader): KeyValueLite {
  const end = fieldEnd(r);
  const kv: KeyValueLite = { key: Buffer.alloc(0), create_revision: '0', mod_revision: '0', version: '0', value: Buffer.alloc(0), lease: '0' };
  const ints = ['', '', 'create_revision', 'mod_revision', 'version', '', 'lease'] as const;
  r.fields(end, (n, wire) => {
    const int = ints[n];
    if ((n === 1 || n === 5) && wire === 2) kv[n === 1 ? 'key' : 'value'] = r.bytes();
    else if (int !== undefined && int !== '' && wire === 0) kv[int] = String(r.varint());
    else return false;
    return true;
  });
  return kv;
}

function event(r: Reader): EventLite {
  const end = fieldEnd(r);
  const ev: EventLite = { type: 0, kv: null, prev_kv: null };
  r.fields(end, (n, wire) => {
    if (n === 1 && wire === 0) ev.type = Number(r.varint());
    else if ((n === 2 || n === 3) && wire === 2) ev[n === 2 ? 'kv' : 'prev_kv'] = keyValue(r);
    else return false;
    return true;
  });
  return ev;
}

export function decodeWatchResponse(b: Buffer): WatchResponseLite {
  const r = new Reader(b, b.length);
  const m: WatchResponseLite = { watch_id: '0', created: false, canceled: false, compact_revision: '0', cancel_reason: '', fragment: false, events: [] };
  r.fields(b.length, (n, wire) => {
    if (wire === 0 && (n === 2 || n === 5)) m[n === 2 ? 'watch_id' : 'compact_revision'] = String(r.varint());
    else if (wire === 0 && (n === 3 || n === 4 || n === 7)) m[n === 3 ? 'created' : n === 4 ? 'canceled' : 'fragment'] = r.varint() !== 0;
    else if (wire === 2 && n === 6) m.cancel_reason = r.bytes().toString('utf8');
    else if (wire === 2 && n === 11) m.events.push(event(r));
    else return false;
    return true;
  });
  return m;
}
