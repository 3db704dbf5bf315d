// A minimal protobuf reader for the responses a watch or keepalive benchmark
// receives by the hundred thousand (WatchResponse, LeaseKeepAliveResponse,
// PutResponse). It reads only the fields the benchmark needs, without
// allocating per event, so the Node client spends its CPU on the transport
// rather than on reflection-based decoding. Callers check it against the full
// proto decoder on the first message of every stream.
//
// Field numbers are etcd's (proto/etcd/api/etcdserverpb/rpc.proto, mvccpb/kv.proto).

let pos = 0;

/** An unsigned varint as a number: exact below 2^53, which revisions, watch IDs and TTLs are; larger values only need skipping. */
function varint(b: Buffer): number {
  let x = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    const byte = b[pos++];
    if (byte === undefined) throw new Error('pb-lite: truncated varint');
    x += (byte & 0x7f) * mul;
    if (byte < 0x80) return x;
    mul *= 128;
  }
  throw new Error('pb-lite: varint longer than 10 bytes');
}

function skip(b: Buffer, wire: number): void {
  switch (wire) {
    case 0: varint(b); return;
    case 1: pos += 8; return;
    case 2: { const n = varint(b); pos += n; return; }
    case 5: pos += 4; return;
    default: throw new Error(`pb-lite: unsupported wire type ${wire}`);
  }
}

/** What one WatchResponse says; its events are in the parallel arrays, valid until the next decode. */
export interface WatchMessage {
  /** -1 for a negative (failed create) or absent-but-negative ID. */
  watchId: number;
  created: boolean;
  canceled: boolean;
  fragment: boolean;
  compactRevision: number;
  cancelReason: string;
  events: number;
  /** Event type (0 PUT, 1 DELETE), kv.mod_revision, and kv.value's [start, end) in the buffer. */
  eventType: number[];
  eventModRevision: number[];
  eventValueStart: number[];
  eventValueEnd: number[];
}

export function newWatchMessage(): WatchMessage {
  return {
    watchId: 0, created: false, canceled: false, fragment: false, compactRevision: 0, cancelReason: '', events: 0,
    eventType: [], eventModRevision: [], eventValueStart: [], eventValueEnd: [],
  };
}

const int53Max = 2 ** 53;

export function decodeWatchResponse(b: Buffer, out: WatchMessage): void {
  out.watchId = 0;
  out.created = false;
  out.canceled = false;
  out.fragment = false;
  out.compactRevision = 0;
  out.cancelReason = '';
  out.events = 0;
  pos = 0;
  while (pos < b.length) {
    const tag = varint(b);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 2 && wire === 0) {
      const id = varint(b);
      out.watchId = id >= int53Max ? -1 : id;
    } else if (field === 3 && wire === 0) out.created = varint(b) !== 0;
    else if (field === 4 && wire === 0) out.canceled = varint(b) !== 0;
    else if (field === 5 && wire === 0) out.compactRevision = varint(b);
    else if (field === 6 && wire === 2) {
      const n = varint(b);
      out.cancelReason = b.toString('utf8', pos, pos + n);
      pos += n;
    } else if (field === 7 && wire === 0) out.fragment = varint(b) !== 0;
    else if (field === 11 && wire === 2) {
      const n = varint(b);
      const end = pos + n;
      decodeEvent(b, end, out, out.events++);
      pos = end;
    } else skip(b, wire);
  }
  if (pos !== b.length) throw new Error('pb-lite: WatchResponse overran its buffer');
}

function decodeEvent(b: Buffer, end: number, out: WatchMessage, i: number): void {
  let type = 0;
  let rev = 0;
  let vs = 0;
  let ve = 0;
  while (pos < end) {
    const tag = varint(b);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 0) type = varint(b);
    else if (field === 2 && wire === 2) {
      const kvEnd = varint(b) + pos;
      while (pos < kvEnd) {
        const t = varint(b);
        const f = t >>> 3;
        const w = t & 7;
        if (f === 3 && w === 0) rev = varint(b);
        else if (f === 5 && w === 2) {
          const n = varint(b);
          vs = pos;
          ve = pos + n;
          pos += n;
        } else skip(b, w);
      }
      pos = kvEnd;
    } else skip(b, wire);
  }
  out.eventType[i] = type;
  out.eventModRevision[i] = rev;
  out.eventValueStart[i] = vs;
  out.eventValueEnd[i] = ve;
}

/** LeaseKeepAliveResponse.TTL (field 3); 0 when absent (etcd's answer for an unknown lease). */
export function keepAliveTtl(b: Buffer): number {
  pos = 0;
  let ttl = 0;
  while (pos < b.length) {
    const tag = varint(b);
    if (tag === (3 << 3)) ttl = varint(b);
    else skip(b, tag & 7);
  }
  return ttl >= int53Max ? -1 : ttl;
}

/** header.revision (field 1, then 3) of any response that starts with a ResponseHeader; 0 when absent. */
export function headerRevision(b: Buffer): number {
  pos = 0;
  while (pos < b.length) {
    const tag = varint(b);
    if (tag === ((1 << 3) | 2)) {
      const end = varint(b) + pos;
      while (pos < end) {
        const t = varint(b);
        if (t === (3 << 3)) return varint(b);
        skip(b, t & 7);
      }
      return 0;
    }
    skip(b, tag & 7);
  }
  return 0;
}
