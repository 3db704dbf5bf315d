// keel's snapshot file: round trip through a real file between LevelDB
// backends, every truncation and every flipped byte detected, restore leaves
// nothing behind on error, and streaming stays bounded for 100 MB.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  SnapshotFileError, dumpBackend, inspectSnapshot, memoryBackend, openLevelBackend, restoreBackend,
  type Backend, type BatchOp, type IterateRange,
} from '../../src/storage';
import { limits } from '../../src/util';
import { Rng } from '../helpers/random';

const trailerBytes = 49;

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'keel-snapfile-'));
}

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const x = rng.u32();
    const pick = x & 7;
    b[i] = pick === 0 ? 0x00 : pick === 1 ? 0xff : x >>> 24;
  }
  return b;
}

async function entries(b: Backend): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of b.iterate({})) out.push(`${k.toString('hex')}=${v.toString('hex')}`);
  return out;
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return out;
}

async function* once(b: Buffer, piece = 7): AsyncGenerator<Buffer> {
  // Odd-sized pieces: records and the trailer straddle chunk boundaries.
  for (let at = 0; at < b.length; at += piece) yield b.subarray(at, at + piece);
}

async function smallSnapshot(keys = 20): Promise<Buffer> {
  const b = memoryBackend();
  const rng = new Rng(7);
  const ops: BatchOp[] = [];
  for (let i = 0; i < keys; i++) ops.push({ type: 'put', key: randomBytes(rng, rng.int(1, 6)), value: randomBytes(rng, rng.int(0, 20)) });
  await b.write(ops, { sync: false });
  return Buffer.concat(await collect(dumpBackend(b)));
}

test('10k random keys round-trip through a file between LevelDB backends', async () => {
  const dir = tempDir();
  try {
    const src = await openLevelBackend(path.join(dir, 'src'));
    const rng = new Rng(42);
    let ops: BatchOp[] = [];
    for (let i = 0; i < 10_000; i++) {
      const key = randomBytes(rng, rng.int(1, 40));
      const value = rng.bool(0.05) ? Buffer.alloc(0) : randomBytes(rng, rng.int(1, 400));
      ops.push({ type: 'put', key, value });
      if (ops.length === 1000) {
        await src.write(ops, { sync: false });
        ops = [];
      }
    }
    await src.write([...ops, { type: 'put', key: Buffer.from([0]), value: Buffer.from([0xff]) }, { type: 'put', key: Buffer.from([0xff, 0xff]), value: Buffer.alloc(0) }], { sync: true });
    const want = await entries(src);
    const file = path.join(dir, 'snap.db');
    const chunkSizes: number[] = [];
    const sizes = async function* (it: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const c of it) {
        chunkSizes.push(c.length);
        yield c;
      }
    };
    await pipeline(Readable.from(sizes(dumpBackend(src))), createWriteStream(file));
    assert.ok(chunkSizes.length > 1 && chunkSizes.every((n) => n > 0 && n <= limits.snapshotFileChunkBytes), 'bounded chunks');
    await src.close();

    const size = statSync(file).size;
    const info = await inspectSnapshot(createReadStream(file, { highWaterMark: 10_000 }));
    assert.equal(info.keys, want.length);
    assert.equal(info.bytes, size - trailerBytes);
    assert.equal(info.sha256, createHash('sha256').update(readFileSync(file).subarray(0, size - trailerBytes)).digest('hex'));

    const dst = await openLevelBackend(path.join(dir, 'dst'));
    assert.deepEqual(await restoreBackend(dst, createReadStream(file)), { keys: want.length });
    assert.deepEqual(await entries(dst), want);
    await dst.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an empty backend round-trips', async () => {
  const snap = Buffer.concat(await collect(dumpBackend(memoryBackend())));
  assert.equal((await inspectSnapshot(once(snap))).keys, 0);
  const dst = memoryBackend();
  assert.deepEqual(await restoreBackend(dst, once(snap)), { keys: 0 });
  assert.deepEqual(await entries(dst), []);
});

test('every truncation is detected by inspect and restore, and restore leaves nothing behind', async () => {
  const snap = await smallSnapshot();
  for (let n = 0; n < snap.length; n++) {
    await assert.rejects(inspectSnapshot(once(snap.subarray(0, n))), (e: unknown) => {
      assert.ok(e instanceof SnapshotFileError, `cut at ${n}: ${String(e)}`);
      assert.match(e.message, /truncated|not a keel snapshot/, `cut at ${n}`);
      return true;
    });
  }
  for (const n of [0, 11, 12, 40, Math.floor(snap.length / 2), snap.length - trailerBytes, snap.length - 1]) {
    const dst = memoryBackend();
    await assert.rejects(restoreBackend(dst, once(snap.subarray(0, n))), SnapshotFileError);
    assert.deepEqual(await entries(dst), [], `nothing restored from a cut at ${n}`);
  }
});

test('every flipped byte and any trailing data is detected', async () => {
  const snap = await smallSnapshot();
  for (let i = 0; i < snap.length; i++) {
    const bad = Buffer.from(snap);
    bad[i] = (bad[i] as number) ^ 0x41;
    await assert.rejects(inspectSnapshot(once(bad, 64)), SnapshotFileError, `byte ${i} flipped`);
  }
  await assert.rejects(inspectSnapshot(once(Buffer.concat([snap, Buffer.from([0])]))), /data after the trailer/);
  const bad = Buffer.from(snap);
  bad[30] = (bad[30] as number) ^ 1;
  const dst = memoryBackend();
  await assert.rejects(restoreBackend(dst, once(bad)), SnapshotFileError);
  assert.deepEqual(await entries(dst), []);
  await assert.rejects(inspectSnapshot(once(Buffer.from('SQLite format 3\0 and then some'))), /not a keel snapshot file/);
});

test('restore refuses a backend that is not empty', async () => {
  const snap = await smallSnapshot();
  const dst = memoryBackend();
  await dst.write([{ type: 'put', key: Buffer.from('x'), value: Buffer.from('y') }], { sync: false });
  await assert.rejects(restoreBackend(dst, once(snap)), /empty backend/);
  assert.deepEqual(await entries(dst), ['78=79']);
});

/** A backend that makes up 100 MB as it is read (and reuses one value buffer), so only the snapshot code holds memory. */
function syntheticBackend(totalBytes: number): Backend {
  const value = Buffer.alloc(64 * 1024, 0xab);
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 0xcd);
  return {
    get: async () => undefined,
    getMany: async (keys) => keys.map(() => undefined),
    iterate(_range: IterateRange): AsyncIterable<[Buffer, Buffer]> {
      return (async function* () {
        let sent = 0;
        for (let i = 0; sent < totalBytes; i++) {
          const key = Buffer.alloc(8);
          key.writeUInt32BE(i, 4);
          const v = i % 100 === 50 ? big : value;
          sent += v.length;
          yield [key, v] as [Buffer, Buffer];
        }
      })();
    },
    write: async () => undefined,
    sizeBytes: async () => totalBytes,
    defragment: async () => undefined,
    close: async () => undefined,
  };
}

/** Swallows writes, recording the largest batch. */
function countingBackend(): Backend & { keys: number; largestBatchBytes: number } {
  const b = {
    keys: 0,
    largestBatchBytes: 0,
    get: async () => undefined,
    getMany: async (keys: Buffer[]) => keys.map(() => undefined),
    iterate: (_r: IterateRange): AsyncIterable<[Buffer, Buffer]> => (async function* () {})(),
    async write(ops: BatchOp[]): Promise<void> {
      let n = 0;
      for (const op of ops) n += op.key.length + (op.value?.length ?? 0);
      b.keys += ops.length;
      b.largestBatchBytes = Math.max(b.largestBatchBytes, n);
    },
    sizeBytes: async () => 0,
    defragment: async () => undefined,
    close: async () => undefined,
  };
  return b;
}

test('a 100 MB backend streams through dump, inspect and restore in bounded chunks and memory', async () => {
  const total = 100 * 1024 * 1024;
  const held = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = held();
  let peak = 0;
  let chunks = 0;
  let largestChunk = 0;
  const tee = async function* (it: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of it) {
      chunks++;
      largestChunk = Math.max(largestChunk, c.length);
      if (chunks % 8 === 0) peak = Math.max(peak, held() - before);
      yield c;
    }
  };
  const info = await inspectSnapshot(tee(dumpBackend(syntheticBackend(total))));
  assert.ok(info.bytes > total);
  assert.ok(largestChunk <= limits.snapshotFileChunkBytes, `largest chunk ${largestChunk}`);
  assert.ok(chunks >= 100);

  const sink = countingBackend();
  const restored = await restoreBackend(sink, tee(dumpBackend(syntheticBackend(total))));
  assert.equal(restored.keys, info.keys);
  assert.equal(sink.keys, info.keys);
  assert.ok(sink.largestBatchBytes <= limits.snapshotRestoreBatchBytes + 4 * 1024 * 1024, `largest batch ${sink.largestBatchBytes}`);
  // Rough: a copy of the data would be 100 MB; the stream needs a few chunks, one record and garbage not yet collected.
  assert.ok(peak < 64 * 1024 * 1024, `memory grew by ${Math.round(peak / 1024 / 1024)} MB`);
  if (process.env['DEBUG_SNAPSHOT'] !== undefined) console.log(`peak growth ${Math.round(peak / 1024 / 1024)} MB over ${chunks} chunks`);
});
