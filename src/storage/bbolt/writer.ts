// Writes a fresh, compact bbolt file in one pass: every bucket's keys arrive
// in order and fill leaf pages front to back (a value too big for a page gets
// overflow pages), branch pages are cut as their children complete, small
// buckets without sub-buckets are stored inline as bbolt stores them, then
// an empty freelist page and the two meta pages. Memory holds one page per
// tree level per open bucket, whatever the number of keys.
import * as fs from 'node:fs/promises';
import { assert, limits } from '../../util';
import {
  bboltMagic, bboltVersion, branchPageFlag, bucketHeaderBytes, bucketLeafFlag, elementBytes, freelistPageFlag,
  leafPageFlag, metaPageFlag, pageHeaderBytes, pagesFor, writeMeta, writePageHeader,
} from './page';

/** A plain key/value, or a nested bucket given by its own ordered items. */
export type BboltItem = { key: Buffer; value: Buffer } | { key: Buffer; bucket: BboltSource };
/** Items in strictly increasing key order (bytewise, as bbolt orders keys). */
export type BboltSource = AsyncIterable<BboltItem> | Iterable<BboltItem>;

export interface BboltWriteOptions {
  /** bbolt's page size (etcd uses the OS page size, 4096 on its platforms). */
  pageSize?: number;
  /** The one transaction id both meta pages carry. */
  txid?: bigint;
}

export interface BboltWriteResult {
  /** High-water mark: pages in the file. */
  pages: number;
  sizeBytes: number;
}

/** bbolt's MaxKeySize. */
const keyBytesMax = 32768;
/** bbolt's MaxValueSize. */
const valueBytesMax = 2 ** 31 - 2;
const sinkBufferBytes = 1024 * 1024;

/**
 * Writes `file` (created or truncated) with the given top-level buckets, in
 * any order (their contents in key order). As in bbolt, the root bucket holds
 * only buckets.
 */
export async function writeBbolt(file: string, buckets: BboltSource, options: BboltWriteOptions = {}): Promise<BboltWriteResult> {
  const pageSize = options.pageSize ?? 4096;
  assert(pageSize >= 1024 && pageSize <= 65536, 'bbolt page size in [1024, 65536]');
  assert(pageSize % 512 === 0, 'bbolt page size is a multiple of 512');
  const handle = await fs.open(file, 'w', 0o600);
  try {
    const sink = new PageSink(handle, pageSize);
    const root = await writeRoot(sink, buckets);
    assert(root.inline === undefined, 'the root bucket is never inline');
    const freelist = await sink.page(freelistPageFlag, 0, Buffer.alloc(0));
    await sink.flush();
    const pages = sink.nextPgid;
    const txid = options.txid ?? 1n;
    for (const at of [0n, 1n]) {
      const buf = Buffer.alloc(pageSize);
      writePageHeader(buf, 0, { id: at, flags: metaPageFlag, count: 0, overflow: 0 });
      writeMeta(buf, pageHeaderBytes, {
        magic: bboltMagic, version: bboltVersion, pageSize, flags: 0, rootPgid: root.pgid, rootSequence: 0n,
        freelistPgid: freelist, pgid: pages, txid, checksum: 0n,
      });
      await handle.write(buf, 0, pageSize, Number(at) * pageSize);
    }
    await handle.sync();
    return { pages: Number(pages), sizeBytes: Number(pages) * pageSize };
  } finally {
    await handle.close();
  }
}

/** Allocates page ids in order and writes pages at their offsets, buffered. */
class PageSink {
  /** Pages 0 and 1 are the meta pages, written last. */
  nextPgid = 2n;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingAt: number;

  constructor(private readonly handle: fs.FileHandle, readonly pageSize: number) {
    this.pendingAt = 2 * pageSize;
  }

  /** Writes one page (padded to whole pages) around body and returns its id. */
  async page(flags: number, count: number, body: Buffer): Promise<bigint> {
    const pages = pagesFor(pageHeaderBytes + body.length, this.pageSize);
    assert(pages <= limits.bboltOverflowPagesMax + 1, 'bbolt page overflow within limit');
    const id = this.nextPgid;
    const buf = Buffer.alloc(pages * this.pageSize);
    writePageHeader(buf, 0, { id, flags, count, overflow: pages - 1 });
    body.copy(buf, pageHeaderBytes);
    this.nextPgid += BigInt(pages);
    assert(this.nextPgid <= BigInt(limits.bboltPagesMax), 'bbolt file within its page limit');
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= sinkBufferBytes) await this.flush();
    return id;
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    await this.handle.write(buf, 0, buf.length, this.pendingAt);
    this.pendingAt += buf.length;
    this.pending = [];
    this.pendingBytes = 0;
  }
}

interface LeafElement {
  flags: number;
  key: Buffer;
  value: Buffer;
}

interface BranchElement {
  key: Buffer;
  pgid: bigint;
}

/** Where a written bucket lives: a root page, or the inline page bytes its parent stores. */
interface TreeRoot {
  pgid: bigint;
  inline: Buffer | undefined;
}

/**
 * The root bucket's buckets may arrive in any order (a bucket's pages may sit
 * anywhere in the file): they are written as they come and their headers
 * sorted into the root's leaf at the end.
 */
async function writeRoot(sink: PageSink, source: BboltSource): Promise<TreeRoot> {
  const headers: LeafElement[] = [];
  for await (const item of source) {
    assert('bucket' in item, 'the root bucket holds only buckets');
    assert(item.key.length > 0, 'bbolt keys are not empty');
    assert(headers.length < limits.bboltRootBucketsMax, 'top-level buckets within limit');
    headers.push({ flags: bucketLeafFlag, key: item.key, value: bucketValue(await writeTree(sink, item.bucket, 1, false)) });
  }
  headers.sort((a, b) => Buffer.compare(a.key, b.key));
  const tree = new TreeBuilder(sink, true);
  for (const h of headers) await tree.add(h);
  return tree.finish();
}

async function writeTree(sink: PageSink, source: BboltSource, depth: number, isRoot: boolean): Promise<TreeRoot> {
  assert(depth < limits.bboltTreeDepthMax, 'bbolt buckets nested within the depth limit');
  const tree = new TreeBuilder(sink, isRoot);
  for await (const item of source) {
    assert(item.key.length > 0, 'bbolt keys are not empty');
    assert(item.key.length <= keyBytesMax, 'bbolt key within MaxKeySize');
    if ('bucket' in item) {
      const nested = await writeTree(sink, item.bucket, depth + 1, false);
      await tree.add({ flags: bucketLeafFlag, key: item.key, value: bucketValue(nested) });
    } else {
      assert(!isRoot, 'the root bucket holds only buckets');
      assert(item.value.length <= valueBytesMax, 'bbolt value within MaxValueSize');
      await tree.add({ flags: 0, key: item.key, value: item.value });
    }
  }
  return tree.finish();
}

function bucketValue(root: TreeRoot): Buffer {
  const header = Buffer.alloc(bucketHeaderBytes);
  header.writeBigUInt64LE(root.inline === undefined ? root.pgid : 0n, 0);
  return root.inline === undefined ? header : Buffer.concat([header, root.inline]);
}

/** One bucket's B+tree under construction: the open leaf and one open branch page per level. */
class TreeBuilder {
  private leaf: LeafElement[] = [];
  private leafBytes = pageHeaderBytes;
  private leavesWritten = 0;
  private hasBucket = false;
  private readonly levels: Array<{ entries: BranchElement[]; bytes: number; written: number }> = [];
  private lastKey: Buffer | undefined;

  constructor(private readonly sink: PageSink, private readonly isRoot: boolean) {}

  async add(e: LeafElement): Promise<void> {
    assert(this.lastKey === undefined || Buffer.compare(this.lastKey, e.key) < 0, 'bbolt keys arrive in increasing order');
    this.lastKey = e.key;
    const bytes = elementBytes + e.key.length + e.value.length;
    if (this.leaf.length > 0 && this.leafBytes + bytes > this.sink.pageSize) await this.flushLeaf();
    this.leaf.push(e);
    this.leafBytes += bytes;
    if ((e.flags & bucketLeafFlag) !== 0) this.hasBucket = true;
  }

  async finish(): Promise<TreeRoot> {
    // bbolt's inlineable(): a single leaf without sub-buckets, at most a quarter page.
    if (!this.isRoot && this.leavesWritten === 0 && !this.hasBucket && this.leafBytes <= this.sink.pageSize / 4) {
      return { pgid: 0n, inline: encodeLeaf(this.leaf, this.leafBytes) };
    }
    if (this.leaf.length > 0 || this.leavesWritten === 0) await this.flushLeaf();
    for (let level = 0; level < limits.bboltTreeDepthMax; level++) {
      const open = this.levels[level];
      assert(open !== undefined, 'every written page has a parent level');
      const first = open.entries[0];
      if (open.written === 0 && open.entries.length === 1 && this.levels[level + 1] === undefined && first !== undefined) {
        return { pgid: first.pgid, inline: undefined };
      }
      await this.flushBranch(level);
    }
    assert(false, 'bbolt tree within the depth limit');
  }

  private async flushLeaf(): Promise<void> {
    const page = encodeLeaf(this.leaf, this.leafBytes);
    const first = this.leaf[0];
    const pgid = await this.sink.page(leafPageFlag, this.leaf.length, page.subarray(pageHeaderBytes));
    this.leavesWritten++;
    this.leaf = [];
    this.leafBytes = pageHeaderBytes;
    // An empty leaf is only ever a bucket's sole (root) page; its parent entry is never read.
    await this.addBranch(0, { key: first?.key ?? Buffer.alloc(0), pgid });
  }

  private async addBranch(level: number, e: BranchElement): Promise<void> {
    assert(level < limits.bboltTreeDepthMax, 'bbolt tree within the depth limit');
    let open = this.levels[level];
    if (open === undefined) {
      open = { entries: [], bytes: pageHeaderBytes, written: 0 };
      this.levels[level] = open;
    }
    const bytes = elementBytes + e.key.length;
    if (open.entries.length > 0 && open.bytes + bytes > this.sink.pageSize) await this.flushBranch(level);
    open.entries.push(e);
    open.bytes += bytes;
  }

  private async flushBranch(level: number): Promise<void> {
    const open = this.levels[level];
    assert(open !== undefined, 'flushed branch level exists');
    const entries = open.entries;
    const first = entries[0];
    assert(first !== undefined, 'a branch page has elements');
    const pgid = await this.sink.page(branchPageFlag, entries.length, encodeBranch(entries, open.bytes).subarray(pageHeaderBytes));
    open.entries = [];
    open.bytes = pageHeaderBytes;
    open.written++;
    await this.addBranch(level + 1, { key: first.key, pgid });
  }
}

/** A leaf page's bytes (header with count, element table, then each key and value). */
function encodeLeaf(elements: readonly LeafElement[], bytes: number): Buffer {
  assert(elements.length <= 0xffff, 'bbolt page element count fits u16');
  const buf = Buffer.alloc(bytes);
  writePageHeader(buf, 0, { id: 0n, flags: leafPageFlag, count: elements.length, overflow: 0 });
  let data = pageHeaderBytes + elements.length * elementBytes;
  elements.forEach((e, i) => {
    const at = pageHeaderBytes + i * elementBytes;
    buf.writeUInt32LE(e.flags, at);
    buf.writeUInt32LE(data - at, at + 4);
    buf.writeUInt32LE(e.key.length, at + 8);
    buf.writeUInt32LE(e.value.length, at + 12);
    data += e.key.copy(buf, data);
    data += e.value.copy(buf, data);
  });
  assert(data === bytes, 'leaf page size as counted');
  return buf;
}

function encodeBranch(elements: readonly BranchElement[], bytes: number): Buffer {
  assert(elements.length <= 0xffff, 'bbolt page element count fits u16');
  const buf = Buffer.alloc(bytes);
  writePageHeader(buf, 0, { id: 0n, flags: branchPageFlag, count: elements.length, overflow: 0 });
  let data = pageHeaderBytes + elements.length * elementBytes;
  elements.forEach((e, i) => {
    const at = pageHeaderBytes + i * elementBytes;
    buf.writeUInt32LE(data - at, at);
    buf.writeUInt32LE(e.key.length, at + 4);
    buf.writeBigUInt64LE(e.pgid, at + 8);
    data += e.key.copy(buf, data);
  });
  assert(data === bytes, 'branch page size as counted');
  return buf;
}
