// bbolt's on-disk layout (the format of etcd's member/snap/db and of the file
// `etcdctl snapshot save` writes before its sha256). All integers are
// little-endian (bbolt writes its structs in the host's order; etcd's
// platforms are little-endian). A page starts with a 16-byte header:
//   id u64 | flags u16 | count u16 | overflow u32
// and spans overflow+1 consecutive pages of pageSize bytes.
export const pageHeaderBytes = 16;
/** Both leaf and branch elements are 16 bytes; their pos is relative to the element itself. */
export const elementBytes = 16;
/** A bucket's value starts with its header: root pgid u64 | sequence u64 (root 0: the bucket's page follows inline). */
export const bucketHeaderBytes = 16;
export const metaBytes = 64;
/** The checksum covers the meta struct up to (not including) the checksum field. */
export const metaChecksummedBytes = 56;

export const branchPageFlag = 0x01;
export const leafPageFlag = 0x02;
export const metaPageFlag = 0x04;
export const freelistPageFlag = 0x10;
/** Leaf element flag: the value is a nested bucket. */
export const bucketLeafFlag = 0x01;

export const bboltMagic = 0xed0cdaed;
export const bboltVersion = 2;
/** meta.freelist when the db was written with NoFreelistSync (the freelist is rebuilt on open). */
export const noFreelistPgid = 0xffffffffffffffffn;
/** A freelist page whose count is this holds the real count in its first u64. */
export const freelistCountOverflow = 0xffff;

export interface PageHeader {
  id: bigint;
  flags: number;
  count: number;
  overflow: number;
}

export interface Meta {
  magic: number;
  version: number;
  pageSize: number;
  flags: number;
  rootPgid: bigint;
  rootSequence: bigint;
  freelistPgid: bigint;
  /** High-water mark: the number of pages the db uses. */
  pgid: bigint;
  txid: bigint;
  checksum: bigint;
}

export function readPageHeader(buf: Buffer, offset: number): PageHeader {
  return {
    id: buf.readBigUInt64LE(offset),
    flags: buf.readUInt16LE(offset + 8),
    count: buf.readUInt16LE(offset + 10),
    overflow: buf.readUInt32LE(offset + 12),
  };
}

export function writePageHeader(buf: Buffer, offset: number, h: PageHeader): void {
  buf.writeBigUInt64LE(h.id, offset);
  buf.writeUInt16LE(h.flags, offset + 8);
  buf.writeUInt16LE(h.count, offset + 10);
  buf.writeUInt32LE(h.overflow, offset + 12);
}

const fnvOffset64 = 0xcbf29ce484222325n;
const fnvPrime64 = 0x100000001b3n;
const mask64 = 0xffffffffffffffffn;

/** FNV-1a, 64 bits (Go's hash/fnv New64a), which bbolt uses for the meta checksum. */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = fnvOffset64;
  for (const byte of bytes) h = ((h ^ BigInt(byte)) * fnvPrime64) & mask64;
  return h;
}

/** Reads the meta struct that follows a meta page's header. */
export function readMeta(buf: Buffer, offset: number): Meta {
  return {
    magic: buf.readUInt32LE(offset),
    version: buf.readUInt32LE(offset + 4),
    pageSize: buf.readUInt32LE(offset + 8),
    flags: buf.readUInt32LE(offset + 12),
    rootPgid: buf.readBigUInt64LE(offset + 16),
    rootSequence: buf.readBigUInt64LE(offset + 24),
    freelistPgid: buf.readBigUInt64LE(offset + 32),
    pgid: buf.readBigUInt64LE(offset + 40),
    txid: buf.readBigUInt64LE(offset + 48),
    checksum: buf.readBigUInt64LE(offset + 56),
  };
}

/** Writes meta (its checksum computed here, whatever meta.checksum says) at offset. */
export function writeMeta(buf: Buffer, offset: number, m: Meta): void {
  buf.writeUInt32LE(m.magic, offset);
  buf.writeUInt32LE(m.version, offset + 4);
  buf.writeUInt32LE(m.pageSize, offset + 8);
  buf.writeUInt32LE(m.flags, offset + 12);
  buf.writeBigUInt64LE(m.rootPgid, offset + 16);
  buf.writeBigUInt64LE(m.rootSequence, offset + 24);
  buf.writeBigUInt64LE(m.freelistPgid, offset + 32);
  buf.writeBigUInt64LE(m.pgid, offset + 40);
  buf.writeBigUInt64LE(m.txid, offset + 48);
  buf.writeBigUInt64LE(fnv1a64(buf.subarray(offset, offset + metaChecksummedBytes)), offset + 56);
}

/** Why a meta cannot be used, or undefined when it is valid (bbolt's meta.validate). */
export function metaProblem(buf: Buffer, offset: number, m: Meta): string | undefined {
  if (m.magic !== bboltMagic) return 'invalid database'; // bbolt's ErrInvalid
  if (m.version !== bboltVersion) return 'version mismatch'; // bbolt's ErrVersionMismatch
  if (m.checksum !== fnv1a64(buf.subarray(offset, offset + metaChecksummedBytes))) return 'checksum error'; // bbolt's ErrChecksum
  return undefined;
}

/** Bytes a leaf page holding these elements takes (header, element table, keys and values). */
export function leafBytes(count: number, dataBytes: number): number {
  return pageHeaderBytes + count * elementBytes + dataBytes;
}

export function pagesFor(bytes: number, pageSize: number): number {
  return Math.max(1, Math.ceil(bytes / pageSize));
}
