// LevelDB layout of the MVCC store. A revision key is
//   'k' | main (8 bytes BE) | sub (8 bytes BE) [| 't' for a tombstone]
// so a scan of the 'k' prefix visits changes in revision order. Its value is
// a msgpackr array [key, value, createRevision, modRevision, version, lease]
// (a tombstone: [key]). Meta keys live under 'm'; the server's own keys (e.g.
// identity under 0x00) use other prefixes.
import { Packr } from 'msgpackr';
import { assert } from '../util';
import type { KeyValue } from './types';
import type { BatchOp } from '../storage';

export const revisionPrefix = 0x6b; // 'k'
export const metaPrefix = 0x6d; // 'm'
const tombstoneMark = 0x74; // 't'
const revisionKeyBytes = 17;

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: false });

export function revisionKey(main: number, sub: number, tombstone: boolean): Buffer {
  assert(Number.isSafeInteger(main) && main >= 0, 'revision main is a safe non-negative integer');
  assert(Number.isSafeInteger(sub) && sub >= 0, 'revision sub is a safe non-negative integer');
  const b = Buffer.allocUnsafe(tombstone ? revisionKeyBytes + 1 : revisionKeyBytes);
  b[0] = revisionPrefix;
  b.writeBigUInt64BE(BigInt(main), 1);
  b.writeBigUInt64BE(BigInt(sub), 9);
  if (tombstone) b[revisionKeyBytes] = tombstoneMark;
  return b;
}

export interface DecodedRevisionKey {
  main: number;
  sub: number;
  tombstone: boolean;
}

export function decodeRevisionKey(b: Buffer): DecodedRevisionKey {
  assert(b.length === revisionKeyBytes || b.length === revisionKeyBytes + 1, 'revision key has 17 or 18 bytes');
  assert(b[0] === revisionPrefix, 'revision key starts with the revision prefix');
  const main = Number(b.readBigUInt64BE(1));
  const sub = Number(b.readBigUInt64BE(9));
  return { main, sub, tombstone: b.length === revisionKeyBytes + 1 };
}

/** First key after every revision key. */
export const revisionKeyEnd = Buffer.from([revisionPrefix + 1]);
export const revisionKeyStart = Buffer.from([revisionPrefix]);

export function encodeKeyValue(kv: KeyValue): Buffer {
  return Buffer.from(packr.pack([kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease]));
}

export function encodeTombstone(key: Buffer): Buffer {
  return Buffer.from(packr.pack([key]));
}

/** A stored record; for a tombstone only the key is set. */
export function decodeRecord(b: Buffer): KeyValue {
  const a: unknown = packr.unpack(b);
  assert(Array.isArray(a), 'mvcc record is an array');
  const key = a[0] as unknown;
  assert(Buffer.isBuffer(key), 'mvcc record key is bytes');
  if (a.length === 1) return { key, value: Buffer.alloc(0), createRevision: 0, modRevision: 0, version: 0, lease: 0n };
  assert(a.length === 6, 'mvcc record has six fields');
  const [, value, createRevision, modRevision, version, lease] = a as unknown[];
  assert(Buffer.isBuffer(value), 'mvcc record value is bytes');
  assert(typeof createRevision === 'number', 'mvcc record createRevision is a number');
  assert(typeof modRevision === 'number', 'mvcc record modRevision is a number');
  assert(typeof version === 'number', 'mvcc record version is a number');
  assert(typeof lease === 'bigint', 'mvcc record lease is a bigint');
  return { key, value, createRevision, modRevision, version, lease };
}

export function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.from([metaPrefix]), Buffer.from(name, 'utf8')]);
}

export function encodeRevision(rev: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(BigInt(rev));
  return b;
}

export function decodeRevision(b: Buffer): number {
  assert(b.length === 8, 'meta revision has 8 bytes');
  return Number(b.readBigInt64BE(0));
}

/** A change applied in memory and not yet written to the backend. */
export interface UncommittedRecord {
  main: number;
  sub: number;
  key: Buffer;
  kv: KeyValue | undefined;
}

export function recordOp(r: UncommittedRecord): BatchOp {
  const tombstone = r.kv === undefined;
  return {
    type: 'put',
    key: revisionKey(r.main, r.sub, tombstone),
    value: r.kv === undefined ? encodeTombstone(r.key) : encodeKeyValue(r.kv),
  };
}
