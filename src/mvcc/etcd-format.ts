// etcd's encodings of the MVCC data in its bbolt "key" bucket, which its
// HashKV hashes and its snapshots carry: a revision key is
//   main (8 bytes BE) | '_' | sub (8 bytes BE) [| 't' for a tombstone]
// and its value an mvccpb.KeyValue as Go's gogoproto marshals it (fields in
// number order, zero values left out; a tombstone carries only the key).
import type { BatchOp } from '../storage';
import { assert } from '../util';
import {
  decodeRecord, decodeRevision, decodeRevisionKey, encodeKeyValue, encodeRevision, encodeTombstone, metaKey, metaPrefix,
  revisionKey, revisionPrefix,
} from './codec';
import type { KeyValue } from './types';

const revisionBytes = 17;
const separator = 0x5f; // '_'
const tombstoneMark = 0x74; // 't'

export class EtcdFormatError extends Error {
  override name = 'EtcdFormatError';
}

export interface EtcdRevision {
  main: number;
  sub: number;
  tombstone: boolean;
}

export function etcdRevisionBytes(main: number, sub: number, tombstone: boolean): Buffer {
  assert(Number.isSafeInteger(main) && main >= 0, 'revision main is a safe non-negative integer');
  assert(Number.isSafeInteger(sub) && sub >= 0, 'revision sub is a safe non-negative integer');
  const b = Buffer.allocUnsafe(tombstone ? revisionBytes + 1 : revisionBytes);
  b.writeBigUInt64BE(BigInt(main), 0);
  b[8] = separator;
  b.writeBigUInt64BE(BigInt(sub), 9);
  if (tombstone) b[revisionBytes] = tombstoneMark;
  return b;
}

/** Reads a key-bucket key; malformed input (a file from elsewhere) raises EtcdFormatError. */
export function parseEtcdRevisionBytes(b: Buffer): EtcdRevision {
  const tombstone = b.length === revisionBytes + 1 && b[revisionBytes] === tombstoneMark;
  if (b.length !== revisionBytes && !tombstone) throw new EtcdFormatError(`revision key ${b.toString('hex')}: not 17 bytes (18 with 't')`);
  if (b[8] !== separator) throw new EtcdFormatError(`revision key ${b.toString('hex')}: no '_' after the main revision`);
  const main = b.readBigInt64BE(0);
  const sub = b.readBigInt64BE(9);
  if (main < 0n || main > BigInt(Number.MAX_SAFE_INTEGER)) throw new EtcdFormatError(`revision key ${b.toString('hex')}: main revision out of range`);
  if (sub < 0n || sub > BigInt(Number.MAX_SAFE_INTEGER)) throw new EtcdFormatError(`revision key ${b.toString('hex')}: sub revision out of range`);
  return { main: Number(main), sub: Number(sub), tombstone };
}

// ---- protobuf, just what etcd's stored records need ----

const varintBytesMax = 10;

/** Appends protobuf fields to a growing list of chunks. */
export class ProtoWriter {
  private readonly chunks: Buffer[] = [];

  /** An int64 field (negative values take ten bytes, as Go writes them); zero is left out. */
  int64(field: number, v: bigint | number): this {
    const n = BigInt.asUintN(64, BigInt(v));
    if (n === 0n) return this;
    this.tag(field, 0);
    this.chunks.push(varint(n));
    return this;
  }

  /** A bytes or string field; empty is left out. */
  bytes(field: number, v: Buffer): this {
    if (v.length === 0) return this;
    this.tag(field, 2);
    this.chunks.push(varint(BigInt(v.length)), v);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }

  private tag(field: number, wireType: number): void {
    this.chunks.push(varint(BigInt(field * 8 + wireType)));
  }
}

function varint(n: bigint): Buffer {
  const out = Buffer.allocUnsafe(varintBytesMax);
  let i = 0;
  let v = n;
  while (v >= 0x80n) {
    out[i++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[i++] = Number(v);
  return out.subarray(0, i);
}

/** One decoded protobuf field: varints as int64 bigint, length-delimited as bytes. */
export type ProtoField = { field: number; int: bigint; bytes: undefined } | { field: number; int: undefined; bytes: Buffer };

/** Decodes a message's fields in order; unknown wire types or truncation raise EtcdFormatError. */
export function* protoFields(b: Buffer): Generator<ProtoField> {
  let at = 0;
  while (at < b.length) {
    const [tag, afterTag] = readVarint(b, at);
    const field = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (wireType === 0) {
      const [v, next] = readVarint(b, afterTag);
      at = next;
      yield { field, int: BigInt.asIntN(64, v), bytes: undefined };
    } else if (wireType === 2) {
      const [len, start] = readVarint(b, afterTag);
      const end = start + Number(len);
      if (len > BigInt(b.length) || end > b.length) throw new EtcdFormatError('protobuf field runs past the message');
      at = end;
      yield { field, int: undefined, bytes: b.subarray(start, end) };
    } else if (wireType === 1 || wireType === 5) {
      at = afterTag + (wireType === 1 ? 8 : 4);
      if (at > b.length) throw new EtcdFormatError('protobuf field runs past the message');
    } else {
      throw new EtcdFormatError(`protobuf wire type ${wireType} not expected`);
    }
  }
}

function readVarint(b: Buffer, start: number): [bigint, number] {
  let v = 0n;
  for (let i = 0; i < varintBytesMax; i++) {
    const byte = b[start + i];
    if (byte === undefined) throw new EtcdFormatError('protobuf varint runs past the message');
    v |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if (byte < 0x80) return [v, start + i + 1];
  }
  throw new EtcdFormatError('protobuf varint longer than ten bytes');
}

/** mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6. */
export function encodeEtcdKeyValue(kv: KeyValue): Buffer {
  return new ProtoWriter()
    .bytes(1, kv.key).int64(2, kv.createRevision).int64(3, kv.modRevision).int64(4, kv.version)
    .bytes(5, kv.value).int64(6, kv.lease).finish();
}

/** A tombstone's value in etcd's key bucket: a KeyValue with only the key. */
export function encodeEtcdTombstone(key: Buffer): Buffer {
  return new ProtoWriter().bytes(1, key).finish();
}

export function decodeEtcdKeyValue(b: Buffer): KeyValue {
  const kv: KeyValue = { key: Buffer.alloc(0), createRevision: 0, modRevision: 0, version: 0, value: Buffer.alloc(0), lease: 0n };
  for (const f of protoFields(b)) {
    if (f.bytes !== undefined) {
      if (f.field === 1) kv.key = f.bytes;
      else if (f.field === 5) kv.value = f.bytes;
    } else if (f.field === 2) kv.createRevision = safeNumber(f.int, 'create_revision');
    else if (f.field === 3) kv.modRevision = safeNumber(f.int, 'mod_revision');
    else if (f.field === 4) kv.version = safeNumber(f.int, 'version');
    else if (f.field === 6) kv.lease = f.int;
  }
  return kv;
}

function safeNumber(v: bigint, name: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new EtcdFormatError(`KeyValue ${name} ${v} out of range`);
  return Number(v);
}

// ---- between keel's store layout (codec.ts) and etcd's key bucket ----

/** The store's own meta names for its revisions (store.ts keeps them under 'mvcc/'). */
const storeCurrentRevisionMeta = 'mvcc/current_revision';
const storeCompactRevisionMeta = 'mvcc/compact_revision';

export interface EtcdKeyBucketEntry {
  /** Revision bytes, as etcd's key bucket keys. */
  key: Buffer;
  /** mvccpb.KeyValue bytes. */
  value: Buffer;
  revision: EtcdRevision;
  /** The user key the revision belongs to. */
  mvccKey: Buffer;
}

export function isStoreRevisionKey(k: Buffer): boolean {
  return k[0] === revisionPrefix;
}

/** A store backend entry ('k' revision key, msgpack record) as etcd's key bucket holds it. */
export function storeEntryToEtcd(k: Buffer, v: Buffer): EtcdKeyBucketEntry {
  const revision = decodeRevisionKey(k);
  const record = decodeRecord(v);
  return {
    key: etcdRevisionBytes(revision.main, revision.sub, revision.tombstone),
    value: revision.tombstone ? encodeEtcdTombstone(record.key) : encodeEtcdKeyValue(record),
    revision,
    mvccKey: record.key,
  };
}

/** An etcd key-bucket entry as a store backend entry; malformed input raises EtcdFormatError. */
export function etcdEntryToStore(key: Buffer, value: Buffer): { k: Buffer; v: Buffer; revision: EtcdRevision } {
  const revision = parseEtcdRevisionBytes(key);
  const kv = decodeEtcdKeyValue(value);
  if (kv.key.length === 0) throw new EtcdFormatError(`revision ${revision.main}_${revision.sub}: KeyValue without a key`);
  if (!revision.tombstone && kv.modRevision !== revision.main) throw new EtcdFormatError(`revision ${revision.main}_${revision.sub}: mod_revision ${kv.modRevision}`);
  return {
    k: revisionKey(revision.main, revision.sub, revision.tombstone),
    v: revision.tombstone ? encodeTombstone(kv.key) : encodeKeyValue(kv),
    revision,
  };
}

/** The store's meta name of a backend key, or undefined for keys that are not store meta. */
export function storeMetaName(k: Buffer): string | undefined {
  return k[0] === metaPrefix ? k.subarray(1).toString('utf8') : undefined;
}

/** The current and compact revisions a store keeps in its meta (compact -1: never compacted). */
export function storeRevisions(meta: ReadonlyMap<string, Buffer>): { current: number; compact: number } {
  const current = meta.get(storeCurrentRevisionMeta);
  const compact = meta.get(storeCompactRevisionMeta);
  return { current: current === undefined ? 1 : decodeRevision(current), compact: compact === undefined ? -1 : decodeRevision(compact) };
}

/** Backend writes that set a store's current and compact revisions (compact < 0: never compacted). */
export function storeRevisionOps(current: number, compact: number): BatchOp[] {
  const ops: BatchOp[] = [{ type: 'put', key: metaKey(storeCurrentRevisionMeta), value: encodeRevision(current) }];
  if (compact >= 0) ops.push({ type: 'put', key: metaKey(storeCompactRevisionMeta), value: encodeRevision(compact) });
  return ops;
}
