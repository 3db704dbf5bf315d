// keel's snapshot of a whole Backend, as a byte stream (raft snapshots sent to
// lagging followers, Maintenance.Snapshot, `keelctl snapshot save|restore|status`).
//
//   header   "KEELSNAP" u32 BE version (1)                            12 bytes
//   record   'K' u32 BE key bytes, u32 BE value bytes, key, value      per key, ascending
//   trailer  'T' u64 BE keys, u64 BE content bytes, sha256 (32 bytes)  49 bytes, then end of stream
//
// "Content" is everything before the trailer (header and records): the
// trailer's byte count and sha256 cover exactly that. Both sides stream:
// the writer emits chunks of at most limits.snapshotFileChunkBytes, the
// reader holds one record (and the chunk it sits in) at a time.
import { createHash, type Hash } from 'node:crypto';
import { assert, limits } from '../util';
import type { Backend, BatchOp } from './backend';

const magic = Buffer.from('KEELSNAP', 'latin1');
const version = 1;
const headerBytes = 12;
const tagRecord = 0x4b; // 'K'
const tagTrailer = 0x54; // 'T'
const recordHeaderBytes = 9;
const trailerBytes = 49;
const two32 = 2 ** 32;

/** A snapshot stream that is not a complete, intact keel snapshot. */
export class SnapshotFileError extends Error {
  override name = 'SnapshotFileError';
}

export interface SnapshotSummary {
  /** Key/value pairs in the snapshot. */
  keys: number;
  /** Bytes of content (header and records; the trailer is not counted). */
  bytes: number;
  /** sha256 of the content, hex. */
  sha256: string;
}

/**
 * Streams every key/value of the backend as of one moment (one Backend.iterate
 * snapshot), in chunks of at most limits.snapshotFileChunkBytes, ending with
 * the trailer.
 */
export async function* dumpBackend(backend: Backend): AsyncGenerator<Buffer, void, undefined> {
  const out = new ChunkWriter(limits.snapshotFileChunkBytes);
  const header = Buffer.alloc(headerBytes);
  magic.copy(header, 0);
  header.writeUInt32BE(version, 8);
  out.write(header);
  let keys = 0;
  for await (const [key, value] of backend.iterate({})) {
    if (key.length > limits.snapshotFileKeyBytesMax || value.length > limits.snapshotFileValueBytesMax) {
      throw new Error(`cannot snapshot key ${key.subarray(0, 64).toString('hex')}: ${key.length} + ${value.length} bytes exceed the snapshot format's limits`);
    }
    const rh = Buffer.allocUnsafe(recordHeaderBytes);
    rh[0] = tagRecord;
    rh.writeUInt32BE(key.length, 1);
    rh.writeUInt32BE(value.length, 5);
    out.write(rh);
    out.write(key);
    out.write(value);
    keys++;
    yield* out.takeFull();
  }
  const { bytes, sha256 } = out.endContent();
  const trailer = Buffer.allocUnsafe(trailerBytes);
  trailer[0] = tagTrailer;
  writeU64(trailer, 1, keys);
  writeU64(trailer, 9, bytes);
  sha256.copy(trailer, 17);
  out.write(trailer);
  yield* out.takeAll();
}

/** Counts and checks a snapshot without restoring it. Throws SnapshotFileError on a truncated or corrupt stream. */
export async function inspectSnapshot(chunks: AsyncIterable<Buffer | Uint8Array>): Promise<SnapshotSummary> {
  const src = new ByteSource(chunks);
  try {
    const reader = await SnapshotReader.start(src);
    while ((await reader.next()) !== null) {
      // Every record is checked as it is read; the trailer check ends the loop.
    }
    return reader.summary();
  } finally {
    await src.close();
  }
}

/**
 * Writes a snapshot into an empty backend (a non-empty one is refused),
 * checking every record and the trailer. The backend gets batches of at most
 * limits.snapshotRestoreBatchBytes, the last one synced only after the trailer
 * checked out; on any error what was written is deleted again. A crash
 * mid-restore leaves a partial backend: restore into a fresh dir and move it
 * into place only when this resolves.
 */
export async function restoreBackend(backend: Backend, chunks: AsyncIterable<Buffer | Uint8Array>): Promise<{ keys: number }> {
  for await (const _ of backend.iterate({ limit: 1 })) throw new Error('snapshot restore needs an empty backend');
  const src = new ByteSource(chunks);
  let wrote = false;
  try {
    const reader = await SnapshotReader.start(src);
    let batch: BatchOp[] = [];
    let batchBytes = 0;
    for (;;) {
      const record = await reader.next();
      if (record === null) break;
      // A full batch is written only once another record follows, so the last batch (synced below) is never empty.
      if (batch.length >= limits.snapshotRestoreBatchKeysMax || batchBytes >= limits.snapshotRestoreBatchBytes) {
        wrote = true;
        await backend.write(batch, { sync: false });
        batch = [];
        batchBytes = 0;
      }
      batch.push({ type: 'put', key: record[0], value: record[1] });
      batchBytes += record[0].length + record[1].length;
    }
    wrote = true;
    await backend.write(batch, { sync: true });
    return { keys: reader.summary().keys };
  } catch (e) {
    if (wrote) await clearBackend(backend).catch(() => undefined);
    throw e;
  } finally {
    await src.close();
  }
}

async function clearBackend(backend: Backend): Promise<void> {
  for (;;) {
    const ops: BatchOp[] = [];
    for await (const [key] of backend.iterate({ limit: limits.snapshotRestoreBatchKeysMax })) ops.push({ type: 'del', key });
    if (ops.length === 0) return;
    await backend.write(ops, { sync: true });
  }
}

function writeU64(buf: Buffer, at: number, v: number): void {
  buf.writeUInt32BE(Math.floor(v / two32), at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * two32 + buf.readUInt32BE(at + 4);
}

/** Packs writes into fixed-size chunks, hashing the content as chunks fill. */
class ChunkWriter {
  private buf: Buffer;
  private pos = 0;
  private full: Buffer[] = [];
  private readonly hash: Hash = createHash('sha256');
  private hashing = true;
  private contentBytes = 0;

  constructor(private readonly chunkBytes: number) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  write(src: Uint8Array): void {
    let at = 0;
    while (at < src.length) {
      const n = Math.min(src.length - at, this.chunkBytes - this.pos);
      this.buf.set(src.subarray(at, at + n), this.pos);
      this.pos += n;
      at += n;
      if (this.pos === this.chunkBytes) this.seal();
    }
  }

  /** Chunks that are full, handed over for good. */
  takeFull(): Buffer[] {
    const out = this.full;
    this.full = [];
    return out;
  }

  /** Ends the hashed content: what follows is the trailer. */
  endContent(): { bytes: number; sha256: Buffer } {
    assert(this.hashing, 'snapshot content ends once');
    this.hash.update(this.buf.subarray(0, this.pos));
    this.contentBytes += this.pos;
    this.hashing = false;
    return { bytes: this.contentBytes, sha256: this.hash.digest() };
  }

  takeAll(): Buffer[] {
    const out = this.takeFull();
    if (this.pos > 0) out.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    return out;
  }

  private seal(): void {
    if (this.hashing) {
      this.hash.update(this.buf);
      this.contentBytes += this.buf.length;
    }
    this.full.push(this.buf);
    this.buf = Buffer.allocUnsafe(this.chunkBytes);
    this.pos = 0;
  }
}

/** The bytes of a chunk stream, a window at a time; hashes what is consumed until told to stop. */
class ByteSource {
  private readonly it: AsyncIterator<Buffer | Uint8Array>;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** buf[hashedTo, pos) is consumed but not yet hashed. */
  private hashedTo = 0;
  /** Stream bytes before buf[0]. */
  private before = 0;
  private readonly hash: Hash = createHash('sha256');
  private hashing = true;

  constructor(chunks: AsyncIterable<Buffer | Uint8Array>) {
    this.it = chunks[Symbol.asyncIterator]();
  }

  /** Stream offset of the next unread byte. */
  position(): number {
    return this.before + this.pos;
  }

  /** Makes n unread bytes available; false if the stream ends first. */
  async need(n: number): Promise<boolean> {
    let have = this.buf.length - this.pos;
    if (have >= n) return true;
    this.flushHash();
    const parts: Buffer[] = have > 0 ? [this.buf.subarray(this.pos)] : [];
    this.before += this.pos;
    let ended = false;
    while (have < n) {
      const r = await this.it.next();
      if (r.done === true) {
        ended = true;
        break;
      }
      const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      if (c.length === 0) continue;
      parts.push(c);
      have += c.length;
    }
    this.buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, have);
    this.pos = 0;
    this.hashedTo = 0;
    return !ended;
  }

  peek(): number {
    const b = this.buf[this.pos];
    assert(b !== undefined, 'peek after need(1)');
    return b;
  }

  /** n bytes (a view: valid as long as the caller holds it) after need(n). */
  take(n: number): Buffer {
    assert(this.buf.length - this.pos >= n, 'take after need(n)');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The sha256 of everything consumed so far; stops hashing. */
  digest(): string {
    this.flushHash();
    this.hashing = false;
    return this.hash.digest('hex');
  }

  /** Lets the source go (closes a file stream left unread after an error). */
  async close(): Promise<void> {
    await this.it.return?.();
  }

  async atEnd(): Promise<boolean> {
    return !(await this.need(1));
  }

  private flushHash(): void {
    if (this.hashing && this.pos > this.hashedTo) this.hash.update(this.buf.subarray(this.hashedTo, this.pos));
    this.hashedTo = this.pos;
  }
}

function truncated(detail: string): SnapshotFileError {
  return new SnapshotFileError(`snapshot file is truncated: ${detail}`);
}

function corrupt(detail: string): SnapshotFileError {
  return new SnapshotFileError(`snapshot file is corrupt: ${detail}`);
}

class SnapshotReader {
  private keys = 0;
  private prevKey: Buffer | null = null;
  private result: SnapshotSummary | null = null;

  private constructor(private readonly src: ByteSource) {}

  static async start(src: ByteSource): Promise<SnapshotReader> {
    if (!(await src.need(headerBytes))) {
      if (src.position() === 0 && (await src.atEnd())) throw truncated('it is empty');
      throw truncated('the header is incomplete');
    }
    const header = src.take(headerBytes);
    if (!header.subarray(0, 8).equals(magic)) throw new SnapshotFileError('not a keel snapshot file (bad magic)');
    const v = header.readUInt32BE(8);
    if (v !== version) throw new SnapshotFileError(`unsupported snapshot file version ${v} (this keel reads version ${version})`);
    return new SnapshotReader(src);
  }

  /** The next key/value, or null once the trailer has been read and checked. */
  async next(): Promise<[Buffer, Buffer] | null> {
    if (this.result !== null) return null;
    const src = this.src;
    if (!(await src.need(1))) throw truncated(`no trailer after ${this.keys} keys`);
    const at = src.position();
    const tag = src.peek();
    if (tag === tagTrailer) {
      await this.readTrailer();
      return null;
    }
    if (tag !== tagRecord) throw corrupt(`unknown record tag 0x${tag.toString(16)} at byte ${at}`);
    if (!(await src.need(recordHeaderBytes))) throw truncated(`record ${this.keys + 1} at byte ${at} is incomplete`);
    const rh = src.take(recordHeaderBytes);
    const keyBytes = rh.readUInt32BE(1);
    const valueBytes = rh.readUInt32BE(5);
    if (keyBytes > limits.snapshotFileKeyBytesMax) throw corrupt(`record at byte ${at} claims a ${keyBytes}-byte key`);
    if (valueBytes > limits.snapshotFileValueBytesMax) throw corrupt(`record at byte ${at} claims a ${valueBytes}-byte value`);
    if (!(await src.need(keyBytes + valueBytes))) throw truncated(`record ${this.keys + 1} at byte ${at} is incomplete`);
    const key = src.take(keyBytes);
    const value = src.take(valueBytes);
    if (this.prevKey !== null && Buffer.compare(this.prevKey, key) >= 0) throw corrupt(`keys out of order at byte ${at}`);
    this.prevKey = key;
    this.keys++;
    return [key, value];
  }

  summary(): SnapshotSummary {
    assert(this.result !== null, 'snapshot summary after the trailer');
    return this.result;
  }

  private async readTrailer(): Promise<void> {
    const src = this.src;
    const bytes = src.position();
    const sha256 = src.digest();
    if (!(await src.need(trailerBytes))) throw truncated('the trailer is incomplete');
    const t = src.take(trailerBytes);
    const wantKeys = readU64(t, 1);
    const wantBytes = readU64(t, 9);
    const wantSha = t.subarray(17, 49).toString('hex');
    if (wantBytes !== bytes) throw corrupt(`trailer says ${wantBytes} bytes of content, found ${bytes}`);
    if (wantKeys !== this.keys) throw corrupt(`trailer says ${wantKeys} keys, found ${this.keys}`);
    if (wantSha !== sha256) throw corrupt(`sha256 mismatch: trailer ${wantSha}, content ${sha256}`);
    if (!(await src.atEnd())) throw corrupt(`data after the trailer at byte ${src.position()}`);
    this.result = { keys: this.keys, bytes, sha256 };
  }
}
