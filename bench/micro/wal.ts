// The raft log's hot path: save() of one 300-byte entry plus a hard state,
// synced — what a single-client put waits for on the leader. keel's WAL
// (src/wal) against DurableRaftStorage (LevelDB), alternating in blocks in one
// run so both see the same disk and the same neighbours. Also the bare cost
// of pwrite + fdatasync on a preallocated file and on a growing one (why the
// WAL preallocates its segments).
//
//   npx tsc -p tsconfig.json && node dist/bench/micro/wal.js [--saves N] [--rounds R]
//
// Latency is wall time per call (p50/p99 over every call of every round); CPU
// per save is the process's CPU time (all threads: libuv's, LevelDB's) over
// the block divided by its saves. Run it under `flock /tmp/keel-bench.lock`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Entry, HardState } from '../../src/raft';
import { DurableRaftStorage } from '../../src/storage';
import { WalStorage, crc32cImplementation } from '../../src/wal';

interface Target {
  readonly name: string;
  /** One measured operation: the i-th save (1-based). */
  run(i: number): Promise<void>;
  close(): Promise<void>;
}

const entryBytes = 300;

function arg(name: string, fallback: number): number {
  const k = process.argv.indexOf(name);
  const v = k >= 0 ? Number(process.argv[k + 1]) : fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`${name} takes a positive integer`);
  return v;
}

function saver(name: string, s: WalStorage | DurableRaftStorage): Target {
  const data = Buffer.alloc(entryBytes, 0x61);
  return {
    name,
    run: (i) => {
      const e: Entry = { index: i, term: 1, type: 'normal', data };
      const hs: HardState = { term: 1, vote: 1n, commit: i - 1 };
      return s.save(hs, [e], null, true);
    },
    close: () => s.close(),
  };
}

/** pwrite of one record-sized buffer at the end + fdatasync, on a file preallocated with zeros or growing. */
function bareFile(dir: string, preallocated: boolean, bytesMax: number): Target {
  const file = path.join(dir, preallocated ? 'pre.bin' : 'grow.bin');
  const fd = fs.openSync(file, 'w+');
  if (preallocated) {
    const zeros = Buffer.alloc(1 << 20);
    for (let at = 0; at < bytesMax; at += zeros.length) fs.writeSync(fd, zeros, 0, zeros.length, at);
    fs.fsyncSync(fd);
  }
  const rec = Buffer.alloc(384, 0x62);
  return {
    name: preallocated ? 'pwrite+fdatasync, preallocated file' : 'pwrite+fdatasync, growing file',
    run: (i) =>
      new Promise((resolve, reject) => {
        fs.write(fd, rec, 0, rec.length, (i - 1) * rec.length, (err) => {
          if (err !== null) return reject(err);
          fs.fdatasync(fd, (e) => (e === null ? resolve() : reject(e)));
        });
      }),
    close: async () => fs.closeSync(fd),
  };
}

interface Samples {
  latUs: number[];
  cpuUs: number;
  saves: number;
}

async function block(t: Target, from: number, n: number, into: Samples): Promise<void> {
  const cpu0 = process.cpuUsage();
  for (let i = from; i < from + n; i++) {
    const t0 = process.hrtime.bigint();
    await t.run(i);
    into.latUs.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  into.cpuUs += cpu.user + cpu.system;
  into.saves += n;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const saves = arg('--saves', 500);
  const rounds = arg('--rounds', 6);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-wal-'));
  const bytesMax = (saves * rounds + 1) * 512;
  try {
    const targets: Target[] = [
      saver('WAL (src/wal)', await WalStorage.open(path.join(root, 'wal'), { voters: [1n], learners: [] })),
      saver('DurableRaftStorage (LevelDB)', await DurableRaftStorage.open(path.join(root, 'level'), { voters: [1n], learners: [] })),
      bareFile(root, true, bytesMax),
      bareFile(root, false, bytesMax),
    ];
    const samples = targets.map((): Samples => ({ latUs: [], cpuUs: 0, saves: 0 }));
    // One warm-up save each (the WAL's first save waits for its first segment), not measured.
    for (const t of targets) await t.run(1);
    // The WAL prepares its next segment (64 MiB of zeros) in the background: let that finish before measuring.
    for (let k = 0; k < 3000 && !fs.existsSync(path.join(root, 'wal', 'next.segment')); k++) await new Promise((r) => setTimeout(r, 10));
    for (let r = 0; r < rounds; r++) {
      // Alternate the order every round so neither always runs first after the other's writes.
      const order = r % 2 === 0 ? targets.map((_, k) => k) : targets.map((_, k) => targets.length - 1 - k);
      for (const k of order) await block(targets[k] as Target, 2 + r * saves, saves, samples[k] as Samples);
    }
    console.log(`| save() of one ${entryBytes}-byte entry + hard state, synced (${rounds} × ${saves} alternating, CRC32C: ${crc32cImplementation}) | p50 µs | p99 µs | CPU µs/save |`);
    console.log('|---|---:|---:|---:|');
    targets.forEach((t, k) => {
      const s = samples[k] as Samples;
      const sorted = [...s.latUs].sort((a, b) => a - b);
      console.log(`| ${t.name} | ${pct(sorted, 0.5).toFixed(0)} | ${pct(sorted, 0.99).toFixed(0)} | ${(s.cpuUs / s.saves).toFixed(1)} |`);
    });
    for (const t of targets) await t.close();
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
