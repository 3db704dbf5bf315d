// WalStorage on damaged and contended directories: a torn tail is cut, a
// flipped byte in the middle refuses with the file and offset, repairWal and
// inspectWal agree with what was written, the lock keeps a second opener out,
// the entry cache stays within its bound, failpoints are off by default.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { makeConfState, type Entry, type HardState } from '../../src/raft';
import { failpoint, failpointsActive, installFailpoints, parseFailpoints, uninstallFailpoints, FailpointError } from '../../src/util';
import { WalCorruptError, WalLockedError, WalRepairRefused, WalStorage, inspectWal, repairWal } from '../../src/wal';
import { crc32c, crc32cTable } from '../../src/wal';
import { digest } from '../storage/raft-model';
import { freePort, keelEntry } from '../helpers/procs';
import { runChild } from './wal-helpers';

const cs = makeConfState([1n]);
const opts = { segmentBytes: 64 * 1024, entryCacheBytesMax: 1 << 20 };
const ent = (index: number, term: number, data = `v${index}`): Entry => ({ index, term, type: 'normal', data: Buffer.from(data) });
const hs = (term: number, commit: number): HardState => ({ term, vote: 1n, commit });

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(tmpdir(), 'keel-wal-'));
    try {
      await fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(`${dir}.trace`, { force: true });
    }
  };
}

/** Saves n one-entry batches; returns the WAL's digest and each frame's start offset in segment 0. */
async function writeSaves(dir: string, n: number): Promise<{ digests: string[]; frameAt: number[]; file: string }> {
  const s = await WalStorage.open(dir, cs, opts);
  const digests: string[] = [];
  const frameAt: number[] = [];
  try {
    for (let i = 1; i <= n; i++) {
      // The first save also writes the segment's checkpoint frame before its own.
      frameAt.push(s.stats().syncedOffset);
      await s.save(hs(1, i - 1), [ent(i, 1, 'x'.repeat(100))], null);
      digests.push(digest(s));
    }
  } finally {
    await s.close();
  }
  return { digests, frameAt, file: path.join(dir, '0000000000000000.wal') };
}

function flipByte(file: string, at: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] = (b[0] as number) ^ 0x40;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
}

async function openDigest(dir: string): Promise<{ digest: string; torn: boolean }> {
  const s = await WalStorage.open(dir, cs, opts);
  try {
    return { digest: digest(s), torn: s.openReport.tornTail !== null };
  } finally {
    await s.close();
  }
}

test('CRC32C: the binding and the table agree with each other and with the check value, chained or not', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32cTable(Buffer.from('123456789')), 0xe3069283);
  const b = Buffer.alloc(5000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7919) & 0xff;
  for (const n of [0, 1, 7, 8, 9, 63, 400, 4999]) {
    assert.equal(crc32c(b.subarray(0, n)), crc32cTable(b.subarray(0, n)), `length ${n}`);
    assert.equal(crc32c(b.subarray(n), crc32c(b.subarray(0, n))), crc32cTable(b), `chained at ${n}`);
  }
});

test('a torn tail — a partial frame, stray bytes in the zeroed space, a bad checksum in the last frame — is cut at open', withDir(async (dir) => {
  const { digests, frameAt, file } = await writeSaves(dir, 10);
  const end = fs.statSync(file).size;
  const used = inspectWal(dir).segments[0]?.usedBytes ?? 0;
  assert.ok(used > 0 && used < end, 'the segment is preallocated beyond what is used');
  // A partial frame: the first 30 bytes of the last frame written again after the end.
  const last = fs.readFileSync(file).subarray(frameAt[9] as number, (frameAt[9] as number) + 30);
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, last, 0, last.length, used);
  fs.closeSync(fd);
  assert.ok(inspectWal(dir).tornTail !== null, 'inspect sees the torn tail');
  let r = await openDigest(dir);
  assert.deepEqual(r, { digest: digests[9], torn: true }, 'cut after the last whole frame');
  assert.equal(inspectWal(dir).tornTail, null, 'the cut is on disk');
  // A bad checksum in the very last frame: that save is lost, the rest stays.
  flipByte(file, (frameAt[9] as number) + 40);
  r = await openDigest(dir);
  assert.deepEqual(r, { digest: digests[8], torn: true });
  // The WAL keeps working after a cut.
  const s = await WalStorage.open(dir, cs, opts);
  await s.save(hs(1, 9), [ent(10, 1, 'again')], null);
  const d = digest(s);
  await s.close();
  assert.deepEqual(await openDigest(dir), { digest: d, torn: false });
}));

test('a flipped byte in the middle refuses to open, naming the file and the byte offset; repairWal refuses unless told to truncate', withDir(async (dir) => {
  const { digests, frameAt, file } = await writeSaves(dir, 10);
  const bad = frameAt[4] as number;
  flipByte(file, bad + 30);
  await assert.rejects(WalStorage.open(dir, cs, opts), (e: unknown) => {
    assert.ok(e instanceof WalCorruptError);
    assert.match(e.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at byte offset ${bad}: checksum mismatch`));
    assert.match(e.message, /followed by a valid frame/);
    return true;
  });
  const summary = inspectWal(dir);
  assert.deepEqual(summary.corruption && { file: summary.corruption.file, offset: summary.corruption.offset }, { file, offset: bad });
  assert.throws(() => repairWal(dir), WalRepairRefused);
  const rep = repairWal(dir, { truncateAtCorruption: true });
  assert.equal(rep.cut?.offset, bad);
  assert.equal(rep.after.corruption, null);
  assert.equal(rep.after.lastIndex, 4, 'saves 1–4 are kept');
  assert.deepEqual(await openDigest(dir), { digest: digests[3], torn: false });
}));

test('repairWal cuts a torn tail offline; inspectWal reports records, indexes, terms and segments', withDir(async (dir) => {
  const s = await WalStorage.open(dir, cs, opts);
  for (let i = 1; i <= 300; i++) await s.save(hs(1 + Math.floor(i / 100), i - 1), [ent(i, 1 + Math.floor(i / 100), 'y'.repeat(300))], null);
  await s.createSnapshotAndCompact(250, cs, Buffer.from('snap'), 50);
  await s.close();
  const info = inspectWal(dir);
  assert.ok(info.segments.length >= 1);
  assert.equal(info.firstIndex, 201);
  assert.equal(info.lastIndex, 300);
  assert.equal(info.snapshot?.index, 250);
  assert.equal(info.hardState?.commit, 299);
  assert.equal(info.highestTerm, 4);
  assert.equal(info.records.snapshotMark, 1);
  assert.equal(info.records.compact, 1);
  assert.equal(info.corruption, null);
  // Segments whose entries were all compacted are gone: only those from one before index 200 on remain.
  assert.ok(!fs.existsSync(path.join(dir, '0000000000000000.wal')), 'the first segment was released');
  const lastSeg = info.segments[info.segments.length - 1];
  assert.ok(lastSeg !== undefined);
  // Stray bytes at the start of the newest segment's free space.
  const fd = fs.openSync(lastSeg.file, 'r+');
  fs.writeSync(fd, Buffer.from('garbage!'), 0, 8, lastSeg.usedBytes);
  fs.closeSync(fd);
  const torn = inspectWal(dir);
  assert.equal(torn.corruption, null);
  assert.deepEqual(torn.tornTail && { file: torn.tornTail.file, offset: torn.tornTail.offset }, { file: lastSeg.file, offset: lastSeg.usedBytes });
  const rep = repairWal(dir);
  assert.equal(rep.cut?.offset, lastSeg.usedBytes);
  assert.equal(rep.after.tornTail, null);
  assert.equal(rep.after.lastIndex, 300, 'nothing written is lost');
  assert.equal(repairWal(dir).cut, null, 'a clean WAL needs no repair');
}));

test('a second opener is refused while the WAL is open, in this process or another; a dead owner\'s lock is taken over', withDir(async (dir) => {
  const s = await WalStorage.open(dir, cs, opts);
  await assert.rejects(WalStorage.open(dir, cs, opts), WalLockedError);
  await s.close();
  // A lock left by a process that is gone.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  fs.writeFileSync(path.join(dir, 'LOCK'), `${dead.stdout} 12345\n`);
  const again = await WalStorage.open(dir, cs, opts);
  await again.close();
  // Another process holding it: the crash child, killed once it is ready.
  let release: () => void = () => undefined;
  const held = runChild(dir, 1, { stop: new Promise<void>((r) => (release = r)) });
  // The child's trace starts with "open" once it holds the WAL (bounded wait for that event, not a timing guess).
  const opened = (): boolean => fs.existsSync(`${dir}.trace`) && fs.readFileSync(`${dir}.trace`, 'utf8').startsWith('open ');
  for (let tries = 0; tries < 1000 && !opened(); tries++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(opened(), 'the child opened the WAL');
  await assert.rejects(WalStorage.open(dir, cs, opts), WalLockedError);
  release();
  assert.equal((await held).signal, 'SIGKILL');
  const after = await WalStorage.open(dir, cs, opts);
  await after.close();
}));

test('the entry cache stays within its byte bound; older entries are read back from the segments', withDir(async (dir) => {
  const cacheMax = 8 * 1024;
  let s = await WalStorage.open(dir, cs, { segmentBytes: 128 * 1024, entryCacheBytesMax: cacheMax });
  const want: Entry[] = [];
  for (let i = 1; i <= 2000; i += 4) {
    const batch = [ent(i, 2, `a${i}`.repeat(30)), ent(i + 1, 2), ent(i + 2, 2, ''), ent(i + 3, 2, 'z'.repeat(i % 500))];
    await s.save(hs(2, i - 1), batch, null);
    want.push(...batch);
    assert.ok(s.stats().cacheBytes <= cacheMax, `cache ${s.stats().cacheBytes} ≤ ${cacheMax}`);
  }
  assert.ok(s.stats().segments > 1, 'the log spans several segments');
  const view = (e: Entry): string => `${e.index}/${e.term}/${Buffer.from(e.data).toString()}`;
  assert.deepEqual(s.entries(1, 2001, Infinity).map(view), want.map(view));
  // Bounded reads stop by bytes as MemoryStorage does, whatever mix of disk and cache they span.
  assert.deepEqual(s.entries(1, 2001, 1000).map(view), want.slice(0, s.entries(1, 2001, 1000).length).map(view));
  await s.close();
  s = await WalStorage.open(dir, cs, { segmentBytes: 128 * 1024, entryCacheBytesMax: cacheMax });
  assert.equal(s.stats().cacheBytes, 0, 'nothing is loaded into memory at open');
  assert.deepEqual(s.entries(1, 2001, Infinity).map(view), want.map(view));
  await s.close();
}));

test('failpoints are off by default, refuse unknown names and actions, and fire only when installed', async () => {
  assert.equal(failpointsActive(), false, 'nothing installed at start');
  failpoint('raft-before-save');
  assert.throws(() => parseFailpoints('raft-before-save=explode'), FailpointError);
  assert.throws(() => parseFailpoints('no-such-point=crash'), FailpointError);
  let kills = 0;
  installFailpoints({ spec: 'raft-after-save=crash,wal-before-sync=off', random: () => 0.5, kill: () => void kills++ });
  try {
    failpoint('raft-before-save');
    failpoint('wal-before-sync');
    assert.equal(kills, 0, 'unlisted and off points do nothing');
    failpoint('raft-after-save');
    assert.equal(kills, 1);
    installFailpoints({ spec: 'raft-after-save=crash', probability: '0.25', random: () => 0.5, kill: () => void kills++ });
    failpoint('raft-after-save');
    assert.equal(kills, 1, 'the dice said no');
  } finally {
    uninstallFailpoints();
  }
});

test('a child process without KEEL_FAILPOINTS passes every failpoint and exits cleanly', withDir(async (dir) => {
  const r = await runChild(dir, 7, { maxWrites: 300 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.acks, 300);
  assert.deepEqual((await openDigest(dir)).digest, r.acked);
}));

test('keel (bin/keel.js) refuses a bad KEEL_FAILPOINTS before opening its data dir', withDir(async (dir) => {
  const entry = keelEntry();
  assert.ok(entry !== undefined, 'bin/keel.js exists');
  const client = await freePort();
  const peer = await freePort();
  const r = spawnSync(process.execPath, [
    entry, '--name', 'fp', '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
  ], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KEEL_FAILPOINTS: 'raft-after-save=explode' } });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /invalid KEEL_FAILPOINTS/);
  assert.match(r.stderr, /unknown action \\"explode\\"/);
  assert.equal(fs.existsSync(path.join(dir, 'data')), false, 'nothing was opened');
}));
