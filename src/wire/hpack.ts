// HPACK (RFC 7541): the decoder for request header blocks and the encoder for
// response header blocks. Header names and values are latin1 strings (one
// char per byte) so that any octet survives a round trip.
import { assert } from '../util';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman';

// prettier-ignore
const staticTable: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
const staticCount = staticTable.length;
/** RFC 7541 4.1: an entry's size is its name and value lengths plus 32. */
const entryOverheadBytes = 32;

export class HpackError extends Error {
  override name = 'HpackError';
}

/** The dynamic table: a ring of entries, newest at index 0. */
class DynamicTable {
  private names: string[];
  private values: string[];
  private head = 0; // slot of the newest entry
  count = 0;
  bytes = 0;
  private readonly slots: number;

  constructor(public maxBytes: number, bytesMax: number) {
    this.slots = Math.floor(bytesMax / entryOverheadBytes) + 1;
    this.names = new Array<string>(this.slots).fill('');
    this.values = new Array<string>(this.slots).fill('');
  }

  name(i: number): string {
    return this.names[(this.head + i) % this.slots] as string;
  }

  value(i: number): string {
    return this.values[(this.head + i) % this.slots] as string;
  }

  /** Adds an entry; returns how many old entries were evicted. */
  add(name: string, value: string): number {
    const size = name.length + value.length + entryOverheadBytes;
    let evicted = this.evictTo(this.maxBytes - size);
    if (size > this.maxBytes) {
      evicted += this.evictTo(0);
      return evicted; // RFC 7541 4.4: an entry larger than the table empties it and is not added
    }
    this.head = (this.head + this.slots - 1) % this.slots;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.bytes += size;
    assert(this.count < this.slots, 'hpack: dynamic table within its slots');
    return evicted;
  }

  resize(maxBytes: number): number {
    this.maxBytes = maxBytes;
    return this.evictTo(maxBytes);
  }

  private evictTo(bytes: number): number {
    let evicted = 0;
    while (this.count > 0 && this.bytes > bytes) {
      const i = this.count - 1;
      this.bytes -= this.name(i).length + this.value(i).length + entryOverheadBytes;
      this.count--;
      evicted++;
    }
    return evicted;
  }
}

/** Thrown-free result of decoding one header block. */
export const enum DecodeStatus {
  Ok = 0,
  /** The list passed the size bound: the block was decoded (the table stays in sync) but fields were dropped. */
  TooLarge = 1,
}

export class HpackDecoder {
  private readonly table: DynamicTable;
  private scratch = Buffer.allocUnsafe(4096);

  /** tableBytesMax: the SETTINGS_HEADER_TABLE_SIZE this side advertised. */
  constructor(private readonly tableBytesMax: number) {
    this.table = new DynamicTable(tableBytesMax, tableBytesMax);
  }

  /**
   * Decodes block into out as [name0, value0, name1, value1, …]. Throws
   * HpackError on a compression error (a connection error in HTTP/2).
   */
  decode(block: Uint8Array, listBytesMax: number, out: string[]): DecodeStatus {
    let pos = 0;
    let listBytes = 0;
    let fields = 0;
    const end = block.length;
    while (pos < end) {
      const b = block[pos] as number;
      let name: string;
      let value: string;
      if (b >= 0x80) {
        pos = this.readInt(block, pos, 7);
        const index = this.intValue;
        if (index === 0) throw new HpackError('hpack: index 0');
        name = this.nameAt(index);
        value = this.valueAt(index);
      } else if (b >= 0x40 || b < 0x20) {
        const indexing = b >= 0x40;
        pos = this.readInt(block, pos, indexing ? 6 : 4);
        const index = this.intValue;
        if (index === 0) {
          pos = this.readString(block, pos);
          name = this.str;
        } else {
          name = this.nameAt(index);
        }
        pos = this.readString(block, pos);
        value = this.str;
        if (indexing) this.table.add(name, value);
      } else {
        // Dynamic table size update: only at the start of a block (RFC 7541 4.2).
        if (fields > 0) throw new HpackError('hpack: table size update after a field');
        pos = this.readInt(block, pos, 5);
        if (this.intValue > this.tableBytesMax) throw new HpackError('hpack: table size update above the advertised size');
        this.table.resize(this.intValue);
        continue;
      }
      fields++;
      listBytes += name.length + value.length + entryOverheadBytes;
      if (listBytes <= listBytesMax) out.push(name, value);
    }
    return listBytes <= listBytesMax ? DecodeStatus.Ok : DecodeStatus.TooLarge;
  }

  private intValue = 0;
  private str = '';

  private nameAt(index: number): string {
    if (index <= staticCount) return (staticTable[index - 1] as readonly [string, string])[0];
    const i = index - staticCount - 1;
    if (i >= this.table.count) throw new HpackError(`hpack: index ${index} beyond the table`);
    return this.table.name(i);
  }

  private valueAt(index: number): string {
    if (index <= staticCount) return (staticTable[index - 1] as readonly [string, string])[1];
    return this.table.value(index - staticCount - 1);
  }

  /** Reads an integer with an n-bit prefix at block[pos] into intValue; returns the next position. */
  private readInt(block: Uint8Array, pos: number, n: number): number {
    const mask = (1 << n) - 1;
    let v = (block[pos] as number) & mask;
    let p = pos + 1;
    if (v < mask) {
      this.intValue = v;
      return p;
    }
    // At most 4 continuation bytes: values stay below 2^28 + mask (no header block needs more).
    for (let shift = 0; shift <= 21; shift += 7) {
      if (p >= block.length) throw new HpackError('hpack: truncated integer');
      const c = block[p++] as number;
      v += (c & 0x7f) * 2 ** shift;
      if (c < 0x80) {
        this.intValue = v;
        return p;
      }
    }
    throw new HpackError('hpack: integer too large');
  }

  /** Reads a string literal at block[pos] into str; returns the next position. */
  private readString(block: Uint8Array, pos: number): number {
    if (pos >= block.length) throw new HpackError('hpack: truncated string');
    const huffman = (block[pos] as number) >= 0x80;
    const p = this.readInt(block, pos, 7);
    const len = this.intValue;
    if (p + len > block.length) throw new HpackError('hpack: string beyond the block');
    if (!huffman) {
      this.str = latin1(block, p, p + len);
      return p + len;
    }
    // Huffman output is at most 8/5 of its input.
    const cap = Math.ceil((len * 8) / 5);
    if (this.scratch.length < cap) this.scratch = Buffer.allocUnsafe(cap);
    const n = huffmanDecode(block, p, p + len, this.scratch);
    if (n < 0) throw new HpackError('hpack: invalid huffman string');
    this.str = this.scratch.toString('latin1', 0, n);
    return p + len;
  }
}

function latin1(block: Uint8Array, start: number, end: number): string {
  if (block instanceof Buffer) return block.toString('latin1', start, end);
  return Buffer.from(block.buffer, block.byteOffset, block.byteLength).toString('latin1', start, end);
}

// --- encoding -------------------------------------------------------------

const staticExact = new Map<string, number>();
const staticName = new Map<string, number>();
for (let i = staticCount - 1; i >= 0; i--) {
  const [n, v] = staticTable[i] as readonly [string, string];
  staticExact.set(n + '\0' + v, i + 1);
  staticName.set(n, i + 1);
}

/** Headers whose values vary per response: never entered in the dynamic table. */
const unindexedNames = new Set(['grpc-message', 'content-length', 'date', 'grpc-status-details-bin', 'etag', 'last-modified']);
/** Fields longer than this are sent literally, not indexed. */
const indexedFieldBytesMax = 512;

/** Growable output for one header block; the caller owns and reuses it. */
export interface ByteSink {
  buf: Buffer;
  pos: number;
}

export class HpackEncoder {
  private readonly table: DynamicTable;
  /** name\0value → insertion number of the newest entry holding it. */
  private readonly exact = new Map<string, number>();
  private inserted = 0;
  private pendingResize = -1;
  private readonly bytesMax: number;

  constructor(bytesMax: number) {
    this.bytesMax = bytesMax;
    this.table = new DynamicTable(Math.min(4096, bytesMax), bytesMax);
  }

  /** The peer's SETTINGS_HEADER_TABLE_SIZE changed: the next block starts with a size update. */
  setPeerTableBytes(peerBytes: number): void {
    const size = Math.min(peerBytes, this.bytesMax);
    if (size === this.table.maxBytes && this.pendingResize < 0) return;
    this.pendingResize = this.pendingResize < 0 ? size : Math.min(this.pendingResize, size);
    this.pendingFinal = size;
  }

  private pendingFinal = -1;

  /** Bumped whenever the dynamic table changes: cached blocks of indices stay valid only within one generation. */
  private generation = 0;
  private readonly cachedFields: Array<readonly string[] | undefined> = [undefined, undefined, undefined, undefined];
  private readonly cachedBlocks: Buffer[] = [];
  private readonly cachedGenerations: number[] = [];
  private cacheNext = 0;

  /**
   * Appends the block for [name0, value0, …] (names lowercase, latin1) at
   * sink.pos. The same array (a caller's constant, like the OK headers)
   * encoded again while the table is unchanged is copied from a small cache.
   */
  encode(fields: readonly string[], sink: ByteSink): void {
    if (this.pendingResize >= 0) this.emitResizes(sink);
    const slot = this.cachedFields.indexOf(fields);
    if (slot >= 0 && this.cachedGenerations[slot] === this.generation) {
      const b = this.cachedBlocks[slot] as Buffer;
      ensure(sink, b.length);
      b.copy(sink.buf, sink.pos);
      sink.pos += b.length;
      return;
    }
    const start = sink.pos;
    const generation = this.generation;
    for (let i = 0; i + 1 < fields.length; i += 2) this.encodeField(fields[i] as string, fields[i + 1] as string, sink);
    if (generation === this.generation) this.remember(fields, sink.buf.subarray(start, sink.pos));
  }

  private remember(fields: readonly string[], block: Buffer): void {
    const slot = this.cacheNext;
    this.cacheNext = (slot + 1) % this.cachedFields.length;
    this.cachedFields[slot] = fields;
    this.cachedBlocks[slot] = Buffer.from(block);
    this.cachedGenerations[slot] = this.generation;
  }

  private emitResizes(sink: ByteSink): void {
    // RFC 7541 4.2: the smallest size reached since the last block, then the final one.
    const low = this.pendingResize;
    const final = this.pendingFinal;
    this.pendingResize = -1;
    this.generation++;
    this.evictMap(this.table.resize(low));
    writeInt(sink, 0x20, 5, low);
    if (final !== low) {
      this.table.resize(final);
      writeInt(sink, 0x20, 5, final);
    }
  }

  private encodeField(name: string, value: string, sink: ByteSink): void {
    const key = name + '\0' + value;
    const s = staticExact.get(key);
    if (s !== undefined) {
      writeInt(sink, 0x80, 7, s);
      return;
    }
    const d = this.exact.get(key);
    if (d !== undefined) {
      writeInt(sink, 0x80, 7, staticCount + 1 + this.inserted - d);
      return;
    }
    const nameIndex = this.nameIndex(name);
    // grpc-message of an OK status is always empty: worth one byte from the table, unlike real messages.
    const index = (value === '' || !unindexedNames.has(name)) && name.length + value.length <= indexedFieldBytesMax && this.table.maxBytes > 0;
    if (index) writeInt(sink, 0x40, 6, nameIndex);
    else writeInt(sink, 0x00, 4, nameIndex);
    if (nameIndex === 0) writeString(sink, name);
    writeString(sink, value);
    if (index) this.insert(name, value, key);
  }

  private nameIndex(name: string): number {
    return staticName.get(name) ?? 0;
  }

  private insert(name: string, value: string, key: string): void {
    this.generation++;
    this.evictMap(this.table.add(name, value));
    if (name.length + value.length + entryOverheadBytes > this.table.maxBytes) return;
    this.inserted++;
    this.exact.set(key, this.inserted);
  }

  /** Forgets map entries whose table entries were evicted (the oldest ones). */
  private evictMap(evicted: number): void {
    if (evicted === 0) return;
    const oldestKept = this.inserted - this.table.count + 1;
    for (const [k, n] of this.exact) {
      if (n < oldestKept) this.exact.delete(k);
    }
  }
}

function ensure(sink: ByteSink, more: number): void {
  if (sink.pos + more <= sink.buf.length) return;
  const next = Buffer.allocUnsafe(Math.max(sink.buf.length * 2, sink.pos + more));
  sink.buf.copy(next, 0, 0, sink.pos);
  sink.buf = next;
}

export function writeInt(sink: ByteSink, first: number, n: number, value: number): void {
  ensure(sink, 6);
  const mask = (1 << n) - 1;
  const buf = sink.buf;
  if (value < mask) {
    buf[sink.pos++] = first | value;
    return;
  }
  buf[sink.pos++] = first | mask;
  let v = value - mask;
  while (v >= 0x80) {
    buf[sink.pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[sink.pos++] = v;
}

function writeString(sink: ByteSink, s: string): void {
  const h = huffmanEncodedLength(s);
  if (h < s.length) {
    writeInt(sink, 0x80, 7, h);
    ensure(sink, h);
    sink.pos = huffmanEncode(s, sink.buf, sink.pos);
    return;
  }
  writeInt(sink, 0x00, 7, s.length);
  ensure(sink, s.length);
  sink.pos += sink.buf.write(s, sink.pos, 'latin1');
}
