// Reads any bbolt file (the db etcd keeps and the one `etcdctl snapshot save`
// writes): both meta pages, branch/leaf trees with overflow pages, nested and
// inline buckets, the freelist. Reads are positional and synchronous: this is
// for offline tools (snapshot status/restore), one page in memory per tree
// level. A malformed file raises BboltError, never an assertion.
import * as fs from 'node:fs';
import { limits } from '../../util';
import {
  branchPageFlag, bucketHeaderBytes, bucketLeafFlag, elementBytes, freelistCountOverflow, freelistPageFlag,
  leafPageFlag, metaPageFlag, metaProblem, noFreelistPgid, pageHeaderBytes, readMeta, readPageHeader,
  type Meta, type PageHeader,
} from './page';

export class BboltError extends Error {
  override name = 'BboltError';
}

export interface BboltEntry {
  key: Buffer;
  /** For a nested bucket: its header (and inline page, if any). */
  value: Buffer;
  bucket: boolean;
}

/** Where a bucket's tree lives: a root page, or (root 0) a page stored inline in its parent's value. */
export interface BucketRef {
  root: bigint;
  sequence: bigint;
  inline: Buffer | undefined;
}

interface Page {
  header: PageHeader;
  buf: Buffer;
  /** Offset of the page header in buf (non-zero only for inline pages). */
  base: number;
}

const minPageSize = 512;
const maxPageSize = 64 * 1024;

export class BboltReader {
  readonly meta: Meta;
  private readonly fd: number;
  private readonly fileBytes: number;

  private constructor(fd: number, meta: Meta, fileBytes: number) {
    this.fd = fd;
    this.meta = meta;
    this.fileBytes = fileBytes;
  }

  /** Opens a db file; trailing bytes past the last page (a snapshot's sha256) are ignored, as bbolt does. */
  static open(file: string): BboltReader {
    const fd = fs.openSync(file, 'r');
    try {
      const fileBytes = fs.fstatSync(fd).size;
      return new BboltReader(fd, pickMeta(fd, fileBytes), fileBytes);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get pageSize(): number {
    return this.meta.pageSize;
  }

  /** The db's size as bbolt's tx.Size() reports it: high-water mark × page size. */
  get sizeBytes(): number {
    return Number(this.meta.pgid) * this.meta.pageSize;
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  rootBucket(): BucketRef {
    return { root: this.meta.rootPgid, sequence: this.meta.rootSequence, inline: undefined };
  }

  /** The bucket at path (names from the root), or undefined when one is missing or not a bucket. */
  bucket(path: readonly Buffer[]): BucketRef | undefined {
    let ref = this.rootBucket();
    for (const name of path) {
      const entry = this.get(ref, name);
      if (entry === undefined || !entry.bucket) return undefined;
      ref = bucketRefOf(entry.value);
    }
    return ref;
  }

  /** One key's entry in a bucket (a walk down the tree, not a scan). */
  get(ref: BucketRef, key: Buffer): BboltEntry | undefined {
    let page = this.rootPage(ref);
    for (let depth = 0; depth < limits.bboltTreeDepthMax; depth++) {
      if ((page.header.flags & leafPageFlag) !== 0) {
        for (let i = 0; i < page.header.count; i++) {
          const e = leafElement(page, i);
          if (e.key.equals(key)) return e;
        }
        return undefined;
      }
      let child: bigint | undefined;
      for (let i = 0; i < page.header.count; i++) {
        const e = branchElement(page, i);
        if (i > 0 && Buffer.compare(e.key, key) > 0) break;
        child = e.pgid;
      }
      if (child === undefined) return undefined;
      page = this.readPage(child);
    }
    throw new BboltError(`tree deeper than ${limits.bboltTreeDepthMax} levels`);
  }

  /** Every entry of a bucket in key order (nested buckets appear as entries with bucket set). */
  *entries(ref: BucketRef): Generator<BboltEntry> {
    yield* this.walk(this.rootPage(ref), 0);
  }

  /** Every key of the bucket at path, in order; nothing when the bucket is missing. */
  *bucketEntries(path: readonly Buffer[]): Generator<BboltEntry> {
    const ref = this.bucket(path);
    if (ref !== undefined) yield* this.entries(ref);
  }

  /** Page ids on the freelist (empty when the db was written without one). */
  freePages(): bigint[] {
    if (this.meta.freelistPgid === noFreelistPgid) return [];
    const page = this.readPage(this.meta.freelistPgid, freelistPageFlag);
    let count = page.header.count;
    let at = page.base + pageHeaderBytes;
    if (count === freelistCountOverflow) {
      count = Number(page.buf.readBigUInt64LE(at));
      at += 8;
    }
    if (at + count * 8 > page.buf.length) throw new BboltError(`page ${page.header.id}: freelist overruns its page`);
    const ids: bigint[] = [];
    for (let i = 0; i < count; i++) ids.push(page.buf.readBigUInt64LE(at + i * 8));
    return ids;
  }

  /**
   * bbolt's tx.Check: every page below the high-water mark is reachable
   * exactly once or free, and every bucket's keys are in order. Returns the
   * problems found (empty for a sound file).
   */
  check(): string[] {
    // Without a stored freelist (etcd writes none) bbolt rebuilds it from the unreachable pages.
    const c = new Checker(this, this.meta.freelistPgid === noFreelistPgid);
    c.mark(0n, 0);
    c.mark(1n, 0);
    if (this.meta.freelistPgid !== noFreelistPgid) {
      c.mark(this.meta.freelistPgid, this.readPage(this.meta.freelistPgid, freelistPageFlag).header.overflow);
      for (const id of this.freePages()) c.free(id);
    }
    c.bucket(this.rootBucket(), 0);
    return c.finish();
  }

  /** Reads a page (with its overflow) and checks its id and type. */
  readPage(pgid: bigint, expectFlags = branchPageFlag | leafPageFlag): Page {
    if (pgid >= this.meta.pgid) throw new BboltError(`page ${pgid}: out of bounds: ${this.meta.pgid}`);
    const offset = Number(pgid) * this.pageSize;
    const head = this.readAt(offset, pageHeaderBytes);
    const header = readPageHeader(head, 0);
    if (header.id !== pgid) throw new BboltError(`page ${pgid}: header names page ${header.id}`);
    if ((header.flags & expectFlags) === 0) throw new BboltError(`page ${pgid}: invalid type: ${flagsName(header.flags)}`);
    if (header.overflow > limits.bboltOverflowPagesMax) throw new BboltError(`page ${pgid}: overflow ${header.overflow} too large`);
    const bytes = (header.overflow + 1) * this.pageSize;
    return { header, buf: this.readAt(offset, bytes), base: 0 };
  }

  rootPage(ref: BucketRef): Page {
    if (ref.inline === undefined) return this.readPage(ref.root);
    const header = readPageHeader(ref.inline, 0);
    if ((header.flags & leafPageFlag) === 0) throw new BboltError(`inline bucket page is not a leaf: ${flagsName(header.flags)}`);
    return { header, buf: ref.inline, base: 0 };
  }

  private *walk(page: Page, depth: number): Generator<BboltEntry> {
    if (depth >= limits.bboltTreeDepthMax) throw new BboltError(`tree deeper than ${limits.bboltTreeDepthMax} levels`);
    if ((page.header.flags & leafPageFlag) !== 0) {
      for (let i = 0; i < page.header.count; i++) yield leafElement(page, i);
      return;
    }
    const children: bigint[] = [];
    for (let i = 0; i < page.header.count; i++) children.push(branchElement(page, i).pgid);
    for (const child of children) yield* this.walk(this.readPage(child), depth + 1);
  }

  private readAt(offset: number, bytes: number): Buffer {
    if (offset + bytes > this.fileBytes) throw new BboltError(`file ends at ${this.fileBytes}, page needs ${offset + bytes}`);
    const buf = Buffer.allocUnsafe(bytes);
    const n = fs.readSync(this.fd, buf, 0, bytes, offset);
    if (n !== bytes) throw new BboltError(`short read at ${offset}: ${n} of ${bytes} bytes`);
    return buf;
  }
}

/** Splits a nested bucket's value into where its tree lives. */
export function bucketRefOf(value: Buffer): BucketRef {
  if (value.length < bucketHeaderBytes) throw new BboltError(`bucket value has ${value.length} bytes, less than its header`);
  const root = value.readBigUInt64LE(0);
  const sequence = value.readBigUInt64LE(8);
  if (root !== 0n) return { root, sequence, inline: undefined };
  if (value.length < bucketHeaderBytes + pageHeaderBytes) throw new BboltError('inline bucket without its page');
  return { root, sequence, inline: value.subarray(bucketHeaderBytes) };
}

function pickMeta(fd: number, fileBytes: number): Meta {
  const first = readMetaAt(fd, 0, fileBytes);
  const pageSize = first.meta?.pageSize ?? 4096;
  const second = pageSize >= minPageSize && pageSize <= maxPageSize ? readMetaAt(fd, pageSize, fileBytes) : { meta: undefined, problem: 'invalid page size' };
  const valid = [first.meta, second.meta].filter((m): m is Meta => m !== undefined);
  if (valid.length === 0) throw new BboltError(first.problem ?? second.problem ?? 'invalid database');
  const meta = valid.reduce((a, m) => (m.txid > a.txid ? m : a));
  if (meta.pageSize < minPageSize || meta.pageSize > maxPageSize) throw new BboltError(`invalid page size ${meta.pageSize}`);
  if (meta.pgid * BigInt(meta.pageSize) > BigInt(fileBytes)) throw new BboltError(`file has ${fileBytes} bytes, its meta ${meta.pgid} pages of ${meta.pageSize}`);
  return meta;
}

function readMetaAt(fd: number, offset: number, fileBytes: number): { meta: Meta | undefined; problem: string | undefined } {
  const bytes = pageHeaderBytes + 64;
  if (offset + bytes > fileBytes) return { meta: undefined, problem: 'file size too small' };
  const buf = Buffer.alloc(bytes);
  fs.readSync(fd, buf, 0, bytes, offset);
  const header = readPageHeader(buf, 0);
  if ((header.flags & metaPageFlag) === 0) return { meta: undefined, problem: 'invalid database' };
  const meta = readMeta(buf, pageHeaderBytes);
  const problem = metaProblem(buf, pageHeaderBytes, meta);
  return problem === undefined ? { meta, problem } : { meta: undefined, problem };
}

function elementAt(page: Page, i: number): number {
  const at = page.base + pageHeaderBytes + i * elementBytes;
  if (at + elementBytes > page.buf.length) throw new BboltError(`page ${page.header.id}: element ${i} past the page end`);
  return at;
}

function slice(page: Page, at: number, bytes: number): Buffer {
  if (at + bytes > page.buf.length) throw new BboltError(`page ${page.header.id}: data past the page end`);
  return page.buf.subarray(at, at + bytes);
}

function leafElement(page: Page, i: number): BboltEntry {
  const at = elementAt(page, i);
  const flags = page.buf.readUInt32LE(at);
  const pos = page.buf.readUInt32LE(at + 4);
  const ksize = page.buf.readUInt32LE(at + 8);
  const vsize = page.buf.readUInt32LE(at + 12);
  return {
    key: slice(page, at + pos, ksize),
    value: slice(page, at + pos + ksize, vsize),
    bucket: (flags & bucketLeafFlag) !== 0,
  };
}

function branchElement(page: Page, i: number): { key: Buffer; pgid: bigint } {
  const at = elementAt(page, i);
  const pos = page.buf.readUInt32LE(at);
  const ksize = page.buf.readUInt32LE(at + 4);
  return { key: slice(page, at + pos, ksize), pgid: page.buf.readBigUInt64LE(at + 8) };
}

function flagsName(flags: number): string {
  if ((flags & branchPageFlag) !== 0) return 'branch';
  if ((flags & leafPageFlag) !== 0) return 'leaf';
  if ((flags & metaPageFlag) !== 0) return 'meta';
  if ((flags & freelistPageFlag) !== 0) return 'freelist';
  return `unknown<${flags.toString(16).padStart(2, '0')}>`;
}

/** The bookkeeping of BboltReader.check. */
class Checker {
  private readonly reachable = new Map<bigint, true>();
  private readonly freed = new Map<bigint, true>();
  private readonly problems: string[] = [];

  constructor(private readonly reader: BboltReader, private readonly unreachableIsFree: boolean) {}

  mark(pgid: bigint, overflow: number): void {
    for (let i = 0n; i <= BigInt(overflow); i++) {
      const id = pgid + i;
      if (this.reachable.has(id)) this.report(`page ${id}: multiple references`);
      this.reachable.set(id, true);
    }
  }

  free(pgid: bigint): void {
    if (this.freed.has(pgid)) this.report(`page ${pgid}: already freed`);
    this.freed.set(pgid, true);
  }

  bucket(ref: BucketRef, depth: number): void {
    if (depth >= limits.bboltTreeDepthMax) throw new BboltError(`buckets nested deeper than ${limits.bboltTreeDepthMax}`);
    if (ref.inline === undefined) this.pages(ref.root, 0);
    let last: Buffer | undefined;
    for (const e of this.reader.entries(ref)) {
      if (last !== undefined && Buffer.compare(last, e.key) >= 0) this.report(`key ${e.key.toString('hex')} out of order after ${last.toString('hex')}`);
      last = e.key;
      if (e.bucket) this.bucket(bucketRefOf(e.value), depth + 1);
    }
  }

  finish(): string[] {
    for (let id = 0n; id < this.reader.meta.pgid; id++) {
      const r = this.reachable.has(id);
      const f = this.freed.has(id);
      if (!r && !f && !this.unreachableIsFree) this.report(`page ${id}: unreachable unfreed`);
      if (r && f) this.report(`page ${id}: reachable freed`);
    }
    return this.problems;
  }

  private pages(pgid: bigint, depth: number): void {
    if (depth >= limits.bboltTreeDepthMax) throw new BboltError(`tree deeper than ${limits.bboltTreeDepthMax} levels`);
    const page = this.reader.readPage(pgid);
    this.mark(pgid, page.header.overflow);
    if ((page.header.flags & branchPageFlag) === 0) return;
    if (page.header.count === 0) this.report(`page ${pgid}: branch without elements`);
    for (let i = 0; i < page.header.count; i++) this.pages(branchElement(page, i).pgid, depth + 1);
  }

  private report(problem: string): void {
    if (this.problems.length < limits.bboltCheckProblemsMax) this.problems.push(problem);
  }
}
