// bench:watch — the Watch and Lease workloads of issue 3 against a
// single-member keel and a single-member etcd (3.5 and/or 3.4) in one run,
// alternating targets, then a markdown section appended to bench/RESULTS.md:
//
//   1. put→event latency: 1,000 watchers on one key (10 streams, 5
//      connections), puts paced at 20/s; latency from a put's send to each
//      watcher's receipt of its event (the send time travels in the value).
//   2. event throughput: 100 watchers on a prefix; a writer puts as fast as it
//      can (64 in flight) for a bounded count; events/s delivered, summed over
//      watchers, and every watcher must see every revision once, in order.
//   3. memory per watcher: server RSS with 100 open streams, then with 10,000
//      idle watchers on them (distinct keys); the difference / 10,000.
//   4. keepalives/s on 10,000 leases: grant 10,000 leases (256 in flight), then
//      keep them all alive over 8 LeaseKeepAlive streams (64 in flight each)
//      for a bounded time; answered keepalives/s.
//
//   npm run bench:watch                # ~3–4 minutes: keel, etcd 3.5 and etcd 3.4
//   npm run bench:watch -- --quick     # ~1 minute, smaller counts (3,000 leases): keel and etcd 3.5 (else 3.4)
//   (same as node dist/bench/watch-lease.js [flags])
//   flags: --etcd 3.5|3.4|both --only mem,lat,tp,lease --skip keel,etcd-3.5,etcd-3.4
//          --no-append --results FILE --wait-idle S
//
// Latency, throughput and keepalive runs are cut into 2 slices per target
// (1 with --quick) that alternate between targets and are pooled, so a swing
// in the machine's other load is shared between targets. The watchers live in
// a worker thread (watch-side.ts), the writers in the main thread. Every
// server is started here and stopped on exit, error and Ctrl-C; every loop is
// bounded by a count and a time limit.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, codecFor } from '../src/client';
import { grantLeases } from './workloads/lease';
import { countError, errorText, forEachLimited, LoopControl } from './workloads/loop';
import {
  cleanup, cpuMark, cpuSeconds, errorMessage, etcdBins, etcdSpec, exits, installSignalHandlers, keelSpec, otherCores, repoRoot, runMain, sleep,
  startCluster, statusKiB, waitIdle, type Cluster,
} from './procs';
import { appendSection, cellText, concat, details, fenced, fmtCpu, fmtInt, fmtMs, machineLine, otherWorkLine, quantile, stamp, table } from './stats';
import { WatchSide, nowMs, type OpenCommand } from './watch-side';

type WorkloadId = 'mem' | 'lat' | 'tp' | 'lease';
const workloadIds: WorkloadId[] = ['mem', 'lat', 'tp', 'lease'];

interface Config {
  quick: boolean;
  etcd: string;
  only: Set<WorkloadId>;
  skip: Set<string>;
  append: boolean;
  resultsFile: string;
  waitIdleSeconds: number;
}

function parseConfig(argv: string[]): Config {
  const c: Config = {
    quick: false, etcd: 'default', only: new Set(workloadIds), skip: new Set(), append: true,
    resultsFile: path.join(repoRoot, 'bench', 'RESULTS.md'), waitIdleSeconds: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') c.quick = true;
    else if (a === '--etcd') {
      c.etcd = next();
      if (!['3.4', '3.5', 'both'].includes(c.etcd)) throw new Error('--etcd must be 3.4, 3.5 or both');
    } else if (a === '--only') {
      c.only = new Set(next().split(',').map((s) => s.trim() as WorkloadId));
      for (const id of c.only) if (!workloadIds.includes(id)) throw new Error(`--only: unknown workload ${id} (mem, lat, tp, lease)`);
    } else if (a === '--skip') for (const x of next().split(',')) c.skip.add(x.trim());
    else if (a === '--no-append') c.append = false;
    else if (a === '--results') c.resultsFile = path.resolve(next());
    else if (a === '--wait-idle') {
      c.waitIdleSeconds = Number(next());
      if (!Number.isInteger(c.waitIdleSeconds) || c.waitIdleSeconds < 1) throw new Error('--wait-idle must be a positive integer');
    } else if (a === '--help') {
      process.stdout.write('usage: watch-lease [--quick] [--etcd 3.5|3.4|both] [--only mem,lat,tp,lease] [--skip keel,etcd-3.5,etcd-3.4] [--no-append] [--results FILE] [--wait-idle S]\n');
      process.exit(0);
    } else throw new Error(`unknown flag ${a}`);
  }
  return c;
}

/** Which etcds to run: --etcd, or by default both (full run) or the faster one present, 3.5 before 3.4 (--quick). */
function etcdChoice(cfg: Config): string[] {
  if (cfg.etcd === '3.4' || cfg.etcd === '3.5') return [cfg.etcd];
  const present = ['3.5', '3.4'].filter((v) => fs.existsSync(etcdBins[v] as string));
  return cfg.etcd === 'both' || !cfg.quick ? present : present.slice(0, 1);
}

// --quick keeps the shapes (watchers, streams, connections) and shortens the
// counts; it grants 3,000 leases instead of 10,000 (granting is raft writes,
// slow on a busy machine), which its table titles say.
function sizes(quick: boolean) {
  return {
    valueBytes: 256,
    latWatchers: 1000, latStreams: 10, latConns: 5, latPuts: quick ? 100 : 400, latWarmupPuts: quick ? 20 : 40, latRate: 20, latDrainS: 15,
    tpWatchers: 100, tpStreams: 10, tpConns: 5, tpPuts: quick ? 8_000 : 30_000, tpCapS: quick ? 5 : 16, tpInflight: 64,
    tpWriterConns: 4, tpKeys: 1000, tpDrainS: 20,
    memWatchers: 10_000, memStreams: 100, memConns: 10, memSettleS: 2,
    leases: quick ? 3_000 : 10_000, leaseTtlS: 600, grantInflight: 256, grantConns: 4, grantCapS: quick ? 15 : 40,
    kaStreams: 8, kaConns: 4, kaWindow: 64, kaWarmupS: 1, kaSeconds: quick ? 4 : 10,
    slices: quick ? 1 : 2,
  };
}
type Sizes = ReturnType<typeof sizes>;

// ---- measuring -------------------------------------------------------------

const put = codecFor('KV', 'Put');
const keepAlive = codecFor('Lease', 'LeaseKeepAlive');
const pidOf = (t: Cluster): number => t.members[0]?.pid ?? 0;
const problemText = (errors: Record<string, number>): string => Object.entries(errors).map(([k, n]) => `${n}× ${k}`).join('; ');

async function connectAll(endpoint: string, n: number): Promise<Client[]> {
  const clients = Array.from({ length: n }, () => new Client({ endpoints: [endpoint], ownConnection: true }));
  await Promise.all(clients.map((c) => c.status({ timeoutMs: 10_000 })));
  return clients;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

interface Usage { serverCpuS: number; clientCpuPercent: number; otherCores: number; wallS: number }

/** Server CPU (from /proc), this process's CPU (all threads) and other work on the machine over one measured stretch. */
function meter(t: Cluster, pids: number[]): { start(): void; stop(): Usage } {
  let cpu0 = 0;
  let self0 = process.cpuUsage();
  let mark0 = cpuMark(pids);
  let t0 = Date.now();
  return {
    start: () => { cpu0 = cpuSeconds(pidOf(t)); self0 = process.cpuUsage(); mark0 = cpuMark(pids); t0 = Date.now(); },
    stop: () => {
      const wallS = Math.max(1e-3, (Date.now() - t0) / 1000);
      const self = process.cpuUsage(self0);
      return {
        serverCpuS: cpuSeconds(pidOf(t)) - cpu0, clientCpuPercent: (100 * (self.user + self.system)) / 1e6 / wallS,
        otherCores: otherCores(mark0, cpuMark(pids)), wallS,
      };
    },
  };
}

/** Pools slices' usage, weighting rates by wall time. */
function pooledUsage(us: Usage[]): Usage {
  const wallS = us.reduce((s, u) => s + u.wallS, 0);
  const w = (f: (u: Usage) => number): number => us.reduce((s, u) => s + f(u) * u.wallS, 0) / wallS;
  return { serverCpuS: us.reduce((s, u) => s + u.serverCpuS, 0), wallS, clientCpuPercent: w((u) => u.clientCpuPercent), otherCores: w((u) => u.otherCores) };
}

async function medianRss(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(300);
    xs.push(statusKiB(pid, 'VmRSS'));
  }
  return xs.sort((a, b) => a - b)[1] as number;
}

type RowId = 'lat' | 'tp' | 'mem' | 'ka' | 'grant';

interface Result {
  /** The headline number for the table (lat: p50), and lat's p99 across deliveries. */
  value: number;
  p99?: number;
  cell: string;
  detail: string;
  opName: string;
  serverCpuUsPerOp: number;
  usage: Usage;
  /** Watch thread event-loop utilization (watch rows). */
  elu?: number;
  /** Errors, missing or extra events: anything that makes the number less than clean. */
  problems: string[];
}
type Outcome = Result | { failed: string };
const isResult = (o: Outcome | undefined): o is Result => o !== undefined && !('failed' in o);

function sliceProblems(slices: { problems: string[] }[]): string[] {
  return slices.length === 1 ? slices[0]?.problems ?? [] : slices.flatMap((s, i) => s.problems.map((p) => `slice ${i + 1}: ${p}`));
}

interface Run { t: Cluster; side: WatchSide; sz: Sizes; pids: number[] }

/** Opens a watch phase on the worker, runs `body`, closes the phase whatever happened. */
async function watchPhase<T>(r: Run, cmd: Omit<OpenCommand, 'endpoint' | 'timeoutMs'>, body: () => Promise<T>): Promise<T> {
  await r.side.open({ ...cmd, endpoint: r.t.endpoints, timeoutMs: 20_000 });
  try {
    return await body();
  } finally {
    await r.side.close(10_000);
  }
}

// ---- workload 3: memory per watcher -----------------------------------------

function memoryWorkload(r: Run): Promise<Result> {
  const { t, side, sz } = r;
  const m = meter(t, r.pids);
  const rssStart = statusKiB(pidOf(t), 'VmRSS');
  return watchPhase(r, { conns: sz.memConns, streams: sz.memStreams, watchers: sz.memWatchers, mode: 'idle', latencyPuts: 0, latencyWarmupPuts: 0 }, async () => {
    await sleep(1500);
    const base = await medianRss(pidOf(t));
    m.start();
    const c = await side.create('distinct', '/bench/mem/', 60_000);
    const usage = m.stop();
    const idle = await side.wait(0, sz.memSettleS * 1000);
    const after = await medianRss(pidOf(t));
    const problems: string[] = [];
    if (c.created < sz.memWatchers) problems.push(`${sz.memWatchers - c.created} of ${sz.memWatchers} watchers not created`);
    if (idle.foreign > 0) problems.push(`${idle.foreign} events on idle watchers`);
    if (Object.keys(idle.errors).length > 0) problems.push(problemText(idle.errors));
    const perWatcherBytes = c.created > 0 ? ((after - base) * 1024) / c.created : NaN;
    return {
      value: perWatcherBytes, cell: `${fmtInt(perWatcherBytes)} B`,
      detail: `RSS ${fmtInt(rssStart)} KiB idle → ${fmtInt(base)} KiB with ${sz.memConns} conns / ${sz.memStreams} streams `
        + `(${((base - rssStart) / sz.memStreams).toFixed(1)} KiB per stream, connections included) → ${fmtInt(after)} KiB with ${fmtInt(c.created)} watchers; `
        + `creates took ${(c.createMs / 1000).toFixed(2)} s (${fmtInt(c.created / (c.createMs / 1000))}/s)`,
      opName: 'watcher created', serverCpuUsPerOp: c.created > 0 ? (usage.serverCpuS * 1e6) / c.created : NaN, usage, problems,
    };
  });
}

// ---- workload 1: put→event latency ---------------------------------------------

interface LatSlice { lat: Float64Array; slowest: Float64Array; acks: Float64Array; timedDeliveries: number; created: number; usage: Usage; elu: number; problems: string[] }

function latencySlice(r: Run, puts: number): Promise<LatSlice> {
  const { t, side, sz } = r;
  const key = Buffer.from('/bench/lat');
  const total = sz.latWarmupPuts + puts;
  const cmd = { conns: sz.latConns, streams: sz.latStreams, watchers: sz.latWatchers, mode: 'latency' as const, latencyPuts: total, latencyWarmupPuts: sz.latWarmupPuts };
  return watchPhase(r, cmd, async () => {
    const [kv] = await connectAll(t.endpoints, 1);
    try {
      const problems: string[] = [];
      const c = await side.create('one', key.toString(), 30_000);
      if (c.created < sz.latWatchers) problems.push(`${sz.latWatchers - c.created} of ${sz.latWatchers} watchers not created: ${problemText(c.errors)}`);
      const m = meter(t, r.pids);
      const errors: Record<string, number> = {};
      const ackMs = new Float64Array(puts).fill(NaN);
      let ok = 0;
      let inflight = 0;
      let skipped = 0;
      const inflightMax = 100;
      const t0 = nowMs();
      const sends: Promise<void>[] = [];
      // The first latWarmupPuts puts (at the same rate) warm both sides up and are not timed.
      for (let i = 0; i < total; i++) {
        const wait = t0 + (i * 1000) / sz.latRate - nowMs();
        if (wait > 1) await sleep(wait);
        if (i === sz.latWarmupPuts) m.start();
        if (inflight >= inflightMax) { skipped++; continue; }
        const value = Buffer.alloc(sz.valueBytes);
        value.writeUInt32LE(i, 8);
        const sentAt = nowMs();
        value.writeDoubleLE(sentAt, 0);
        inflight++;
        sends.push((kv as Client).callRaw('KV', 'Put', put.encode({ key, value }), { timeoutMs: 10_000 }).then(
          () => { ok++; if (i >= sz.latWarmupPuts) ackMs[i - sz.latWarmupPuts] = nowMs() - sentAt; },
          (e: unknown) => countError(errors, errorText(e)),
        ).finally(() => { inflight--; }));
      }
      await Promise.all(sends);
      const w = await side.wait(ok, sz.latDrainS * 1000);
      const usage = m.stop();
      const expected = ok * w.created;
      if (skipped > 0) problems.push(`${skipped} puts not sent (${inflightMax} already in flight)`);
      if (Object.keys(errors).length > 0) problems.push(`put errors: ${problemText(errors)}`);
      if (w.delivered < expected) problems.push(`${fmtInt(expected - w.delivered)} of ${fmtInt(expected)} events missing after ${sz.latDrainS} s`);
      if (w.delivered > expected) problems.push(`${fmtInt(w.delivered - expected)} events more than puts × watchers`);
      if (w.disorder > 0) problems.push(`${w.disorder} events out of revision order`);
      if (w.foreign > 0) problems.push(`${w.foreign} events with an unknown value`);
      if (Object.keys(w.errors).length > 0) problems.push(`watch: ${problemText(w.errors)}`);
      const perPut = w.perPutMaxMs ?? new Float64Array(0);
      const counts = w.perPutCount ?? new Uint32Array(0);
      const slowest: number[] = [];
      let timedDeliveries = 0;
      for (let i = sz.latWarmupPuts; i < perPut.length; i++) {
        timedDeliveries += counts[i] as number;
        if ((counts[i] as number) >= w.created && w.created > 0) slowest.push(perPut[i] as number);
      }
      return {
        lat: w.latenciesMs ?? new Float64Array(0), slowest: Float64Array.from(slowest), acks: ackMs.filter(Number.isFinite),
        timedDeliveries, created: w.created, usage, elu: w.elu, problems,
      };
    } finally {
      (kv as Client).close();
    }
  });
}

function describeLat(s: LatSlice): string {
  const lat = s.lat.slice().sort();
  return `p50 ${fmtMs(quantile(lat, 0.5))} ms, p99 ${fmtMs(quantile(lat, 0.99))} ms, ${fmtInt(s.timedDeliveries)} deliveries`;
}

function latencyResult(slices: LatSlice[], sz: Sizes): Result {
  const lat = concat(slices.map((s) => s.lat)).sort();
  const slow = concat(slices.map((s) => s.slowest)).sort();
  const acks = concat(slices.map((s) => s.acks)).sort();
  const usage = pooledUsage(slices.map((s) => s.usage));
  const timedPuts = acks.length;
  const timedDeliveries = slices.reduce((n, s) => n + s.timedDeliveries, 0);
  const [p50, p99, sp99] = [quantile(lat, 0.5), quantile(lat, 0.99), quantile(slow, 0.99)];
  const per = slices.length > 1 ? `; per slice: ${slices.map(describeLat).join(' | ')}` : '';
  return {
    value: p50, p99, cell: `${fmtMs(p50)} / ${fmtMs(p99)} (${fmtMs(sp99)})`,
    detail: `${timedPuts} timed puts in ${slices.length} slice(s) (each after ${sz.latWarmupPuts} untimed) at ${sz.latRate}/s `
      + `to ${slices.map((s) => s.created).join(', ')} watchers; ${fmtInt(timedDeliveries)} timed deliveries; `
      + `ms p50 ${fmtMs(p50)}, p90 ${fmtMs(quantile(lat, 0.9))}, p99 ${fmtMs(p99)}, p99.9 ${fmtMs(quantile(lat, 0.999))}, max ${fmtMs(lat[lat.length - 1] ?? NaN)}; `
      + `slowest watcher per put (${slow.length} complete puts): p50 ${fmtMs(quantile(slow, 0.5))}, p99 ${fmtMs(sp99)}; `
      + `put answered in ms p50 ${fmtMs(quantile(acks, 0.5))}, p99 ${fmtMs(quantile(acks, 0.99))}; `
      + `server CPU ${fmtInt((usage.serverCpuS * 1e6) / Math.max(1, timedPuts))} µs per put${per}`,
    opName: 'event delivered', serverCpuUsPerOp: timedDeliveries > 0 ? (usage.serverCpuS * 1e6) / timedDeliveries : NaN,
    usage, elu: Math.max(...slices.map((s) => s.elu)), problems: sliceProblems(slices),
  };
}

// ---- workload 2: event throughput ---------------------------------------------

interface TpSlice {
  ok: number; issued: number; capped: boolean; delivered: number; expected: number; created: number;
  spanS: number; writerS: number; lagMs: number; usage: Usage; elu: number;
  /** The main thread's event-loop utilization while writing: near 1, the writer set the pace. */
  writerElu: number;
  problems: string[];
}

function throughputSlice(r: Run, puts: number, capS: number): Promise<TpSlice> {
  const { t, side, sz } = r;
  const prefix = '/bench/tp/';
  const cmd = { conns: sz.tpConns, streams: sz.tpStreams, watchers: sz.tpWatchers, mode: 'count' as const, latencyPuts: 0, latencyWarmupPuts: 0 };
  return watchPhase(r, cmd, async () => {
    const writers = await connectAll(t.endpoints, sz.tpWriterConns);
    try {
      const problems: string[] = [];
      const c = await side.create('prefix', prefix, 30_000);
      if (c.created < sz.tpWatchers) problems.push(`${sz.tpWatchers - c.created} of ${sz.tpWatchers} watchers not created: ${problemText(c.errors)}`);
      const value = Buffer.alloc(sz.valueBytes, 0x61);
      const requests = Array.from({ length: sz.tpKeys }, (_, k) => put.encode({ key: Buffer.from(`${prefix}${String(k).padStart(4, '0')}`), value }));
      const errors: Record<string, number> = {};
      let [ok, issued, firstRev, lastRev] = [0, 0, Infinity, 0];
      const m = meter(t, r.pids);
      m.start();
      const elu0 = performance.eventLoopUtilization();
      const t0 = nowMs();
      const stopAt = t0 + capS * 1000;
      await forEachLimited(Array.from({ length: sz.tpInflight }, (_, k) => k), sz.tpInflight, async () => {
        while (issued < puts && nowMs() < stopAt) {
          const i = issued++;
          try {
            const res = await (writers[i % writers.length] as Client).callRaw('KV', 'Put', requests[i % requests.length] as Buffer, { timeoutMs: 10_000 });
            ok++;
            const rev = Number((put.decode(res) as { header?: { revision?: string } }).header?.revision ?? 0);
            firstRev = Math.min(firstRev, rev);
            lastRev = Math.max(lastRev, rev);
          } catch (e) {
            countError(errors, errorText(e));
          }
        }
      });
      const tw = nowMs();
      const writerElu = performance.eventLoopUtilization(elu0).utilization;
      const w = await side.wait(ok, sz.tpDrainS * 1000);
      const usage = m.stop();
      const expected = ok * w.created;
      if (Object.keys(errors).length > 0) problems.push(`put errors: ${problemText(errors)}`);
      if (w.delivered < expected) problems.push(`${fmtInt(expected - w.delivered)} of ${fmtInt(expected)} events missing after ${sz.tpDrainS} s (fewest per watcher ${w.minPerWatcher} of ${ok})`);
      if (w.delivered > expected) problems.push(`${fmtInt(w.delivered - expected)} events more than puts × watchers (most per watcher ${w.maxPerWatcher} of ${ok})`);
      if (ok > 0 && lastRev - firstRev + 1 !== ok) problems.push(`acknowledged puts span ${lastRev - firstRev + 1} revisions for ${ok} puts`);
      if (w.disorder > 0) problems.push(`${w.disorder} events out of revision order`);
      if (Object.keys(w.errors).length > 0) problems.push(`watch: ${problemText(w.errors)}`);
      return {
        ok, issued, capped: issued < puts, delivered: w.delivered, expected, created: w.created,
        spanS: Math.max(1e-3, ((w.lastRecvMs > 0 ? w.lastRecvMs : nowMs()) - t0) / 1000), writerS: Math.max(1e-3, (tw - t0) / 1000),
        lagMs: w.lastRecvMs > 0 ? w.lastRecvMs - tw : NaN, usage, elu: w.elu, writerElu, problems,
      };
    } finally {
      for (const c of writers) c.close();
    }
  });
}

const describeTp = (s: TpSlice): string => `${fmtInt(s.delivered / s.spanS)} events/s, ${fmtInt(s.ok / s.writerS)} puts/s`;

function throughputResult(slices: TpSlice[], sz: Sizes, capS: number): Result {
  const sum = (f: (s: TpSlice) => number): number => slices.reduce((n, s) => n + f(s), 0);
  const usage = pooledUsage(slices.map((s) => s.usage));
  const delivered = sum((s) => s.delivered);
  const eventsPerS = delivered / sum((s) => s.spanS);
  const capped = slices.filter((s) => s.capped).length;
  const per = slices.length > 1 ? `; per slice: ${slices.map(describeTp).join(' | ')}` : '';
  return {
    value: eventsPerS, cell: fmtInt(eventsPerS),
    detail: `${sum((s) => s.ok)} of ${sum((s) => s.issued)} puts in ${slices.length} slice(s)`
      + `${capped > 0 ? ` (${capped} hit the ${capS} s cap before ${fmtInt(sz.tpPuts / slices.length)} puts)` : ''} at ${fmtInt(sum((s) => s.ok) / sum((s) => s.writerS))} puts/s `
      + `(${sz.tpInflight} in flight); ${fmtInt(delivered)} of ${fmtInt(sum((s) => s.expected))} events to ${slices.map((s) => s.created).join(', ')} watchers `
      + `over ${sum((s) => s.spanS).toFixed(2)} s; last event ${slices.map((s) => fmtInt(s.lagMs)).join(', ')} ms after the last put's answer; `
      + `writer (main) thread ELU ${slices.map((s) => s.writerElu.toFixed(2)).join(', ')}${per}`,
    opName: 'event delivered', serverCpuUsPerOp: delivered > 0 ? (usage.serverCpuS * 1e6) / delivered : NaN,
    usage, elu: Math.max(...slices.map((s) => s.elu)), problems: sliceProblems(slices),
  };
}

// ---- workload 4: lease grants, then keepalives ------------------------------------

async function grantWorkload(r: Run): Promise<{ result: Result; ids: bigint[] }> {
  const { t, sz } = r;
  const clients = await connectAll(t.endpoints, sz.grantConns);
  try {
    const m = meter(t, r.pids);
    const rss0 = statusKiB(pidOf(t), 'VmRSS');
    m.start();
    const t0 = nowMs();
    const problems: string[] = [];
    const ids = await grantLeases(clients, sz.leases, sz.leaseTtlS, new LoopControl(sz.grantCapS)).catch((e: unknown) => { problems.push(errorMessage(e)); return []; });
    const grantS = Math.max(1e-3, (nowMs() - t0) / 1000);
    const usage = m.stop();
    if (new Set(ids).size !== ids.length) problems.push('duplicate lease IDs');
    return {
      ids,
      result: {
        value: ids.length / grantS, cell: fmtInt(ids.length / grantS),
        detail: `${ids.length} of ${sz.leases} leases (TTL ${sz.leaseTtlS} s) in ${grantS.toFixed(2)} s, ${sz.grantInflight} in flight over ${sz.grantConns} conns; `
          + `server RSS ${fmtInt(rss0 / 1024)} → ${fmtInt(statusKiB(pidOf(t), 'VmRSS') / 1024)} MiB while granting`,
        opName: 'lease granted', serverCpuUsPerOp: ids.length > 0 ? (usage.serverCpuS * 1e6) / ids.length : NaN, usage, problems,
      },
    };
  } finally {
    for (const c of clients) c.close();
  }
}

interface KaSlice { timed: number; spanS: number; perSecond: number[]; leases: number; usage: Usage; problems: string[] }

/** Stream s keeps leases s, s+S, s+2S, … alive, round and round, with kaWindow requests in flight. */
async function keepAliveSlice(r: Run, ids: bigint[], seconds: number): Promise<KaSlice> {
  const { t, sz } = r;
  if (ids.length === 0) throw new Error('no lease granted');
  const clients = await connectAll(t.endpoints, sz.kaConns);
  const requests = ids.map((ID) => keepAlive.encode({ ID: ID.toString() }));
  const errors: Record<string, number> = {};
  const streams = Math.min(sz.kaStreams, ids.length);
  const inflight = new Array<number>(streams).fill(0);
  const cursor = Array.from({ length: streams }, (_, s) => s);
  const sentMax = 5_000_000;
  let [sent, answered, badTtl, lastAnswer, ended] = [0, 0, 0, 0, 0];
  let running = true;
  const calls = await Promise.all(Array.from({ length: streams }, (_, s) => (clients[s % clients.length] as Client).duplexRaw('Lease', 'LeaseKeepAlive')));
  const pump = (s: number): void => {
    while (running && (inflight[s] as number) < sz.kaWindow && sent < sentMax) {
      calls[s]?.write(requests[cursor[s] as number] as Buffer);
      cursor[s] = (cursor[s] as number) + streams >= requests.length ? s : (cursor[s] as number) + streams;
      inflight[s] = (inflight[s] as number) + 1;
      sent++;
    }
  };
  try {
    const m = meter(t, r.pids);
    calls.forEach((call, s) => {
      call.on('data', (b: Buffer) => {
        inflight[s] = (inflight[s] as number) - 1;
        answered++;
        lastAnswer = nowMs();
        if (Number((keepAlive.decode(b) as { TTL?: string }).TTL ?? 0) <= 0) badTtl++;
        pump(s);
      });
      call.on('error', (e: unknown) => { if (!errorText(e).startsWith('Canceled')) countError(errors, errorText(e)); });
      call.on('status', () => { ended++; });
    });
    // A short untimed warm-up at full load, then the timed stretch, answers counted per second to show whether the rate was steady.
    for (let s = 0; s < streams; s++) pump(s);
    await sleep(sz.kaWarmupS * 1000);
    const answeredAtStart = answered;
    m.start();
    const t0 = nowMs();
    const perSecond: number[] = [];
    for (let i = 0, last = answered; i < seconds; i++) {
      await sleep(Math.max(0, t0 + (i + 1) * 1000 - nowMs()));
      perSecond.push(answered - last);
      last = answered;
    }
    running = false;
    const endedEarly = ended;
    // Answers to what is still in flight, up to a short grace.
    for (let i = 0; i < 30 && inflight.some((n) => n > 0) && ended < streams; i++) await sleep(100);
    const usage = m.stop();
    const problems: string[] = [];
    if (endedEarly > 0) problems.push(`${endedEarly} streams ended by the server while running`);
    if (sent > answered) problems.push(`${fmtInt(sent - answered)} keepalives unanswered 3 s after the stop`);
    if (badTtl > 0) problems.push(`${badTtl} keepalives answered TTL ≤ 0`);
    if (Object.keys(errors).length > 0) problems.push(problemText(errors));
    const spanS = Math.max(1e-3, ((lastAnswer > t0 ? lastAnswer : t0 + seconds * 1000) - t0) / 1000);
    return { timed: answered - answeredAtStart, spanS, perSecond, leases: ids.length, usage, problems };
  } finally {
    running = false;
    // Both servers end a keepalive stream when the client half-closes it; cancel it if not.
    for (const call of calls) call.end();
    for (let i = 0; i < 50 && ended < calls.length; i++) await sleep(100);
    for (const call of calls) call.cancel();
    for (const c of clients) c.close();
  }
}

function keepAliveResult(slices: KaSlice[], sz: Sizes): Result {
  const timed = slices.reduce((n, s) => n + s.timed, 0);
  const spanS = slices.reduce((n, s) => n + s.spanS, 0);
  const usage = pooledUsage(slices.map((s) => s.usage));
  return {
    value: timed / spanS, cell: fmtInt(timed / spanS),
    detail: `${fmtInt(timed)} answered over ${spanS.toFixed(2)} s in ${slices.length} slice(s), each after a ${sz.kaWarmupS} s untimed warm-up, `
      + `for ${fmtInt(slices[0]?.leases ?? 0)} leases, ${sz.kaStreams} streams on ${sz.kaConns} conns, ${sz.kaWindow} in flight each; `
      + `answered per second: ${slices.map((s) => s.perSecond.map(fmtInt).join(', ')).join(' | ')}`,
    opName: 'keepalive answered', serverCpuUsPerOp: timed > 0 ? (usage.serverCpuS * 1e6) / timed : NaN, usage, problems: sliceProblems(slices),
  };
}

// ---- the run ---------------------------------------------------------------

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

function rowSpecs(sz: Sizes): { id: RowId; title: string; higherIsBetter: boolean }[] {
  return [
    { id: 'lat', title: `put→event latency, ${fmtInt(sz.latWatchers)} watchers on one key, ${sz.latRate} puts/s — ms p50 / p99 (p99 of each put's slowest watcher)`, higherIsBetter: false },
    { id: 'tp', title: `event throughput to ${sz.tpWatchers} watchers on a prefix — events/s delivered`, higherIsBetter: true },
    { id: 'mem', title: `memory per watcher, ${fmtInt(sz.memWatchers)} idle watchers — server RSS bytes per watcher`, higherIsBetter: false },
    { id: 'ka', title: `keepalives/s on ${fmtInt(sz.leases)} leases (${sz.kaStreams} streams)`, higherIsBetter: true },
    { id: 'grant', title: `lease grants/s (setting up the above, ${sz.grantInflight} in flight)`, higherIsBetter: true },
  ];
}

/** One workload: its slices (targets alternating, order rotating), then each target's slices pooled into table rows. */
interface Runner<S> {
  name: string;
  rows: RowId[];
  slices: number;
  timeoutMs: number;
  run(r: Run, slice: number): Promise<S>;
  describe(s: S): string;
  finish(t: Cluster, parts: S[]): [RowId, Result][];
}

interface SectionInput {
  cfg: Config;
  sz: Sizes;
  startedAt: Date;
  loadBefore: number[];
  loadAfter: number[];
  targets: Cluster[];
  unavailable: { name: string; reason: string }[];
  exited: Map<string, string>;
  results: Map<RowId, Map<string, Outcome>>;
  otherDuring: number;
  rssAtStart: Map<string, number>;
  rssAtEnd: Map<string, number>;
}

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv.slice(2));
  const sz = sizes(cfg.quick);
  installSignalHandlers('watch-lease');
  if (cfg.waitIdleSeconds > 0) await waitIdle(cfg.waitIdleSeconds, log);
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const targets: Cluster[] = [];
  const unavailable: { name: string; reason: string }[] = [];
  for (const [name, spec] of [['keel', () => keelSpec(1)], ...etcdChoice(cfg).map((v) => [`etcd-${v}`, () => etcdSpec(1, v)] as const)] as const) {
    if (cfg.skip.has(name)) { unavailable.push({ name, reason: 'skipped (--skip)' }); continue; }
    try {
      const t = await startCluster(spec(), log);
      targets.push(t);
      log(`started ${name} (${t.version}) pid ${pidOf(t)} at ${t.endpoints}`);
    } catch (e) {
      unavailable.push({ name, reason: errorMessage(e) });
      log(`${name} not available: ${errorMessage(e)}`);
    }
  }
  if (targets.length === 0) throw new Error('no server started');
  const pids = targets.map(pidOf);
  const side = new WatchSide();
  const results = new Map<RowId, Map<string, Outcome>>();
  const record = (row: RowId, target: string, o: Outcome): void => {
    results.set(row, (results.get(row) ?? new Map<string, Outcome>()).set(target, o));
  };
  const measureStart = cpuMark(pids);
  const rssAtStart = new Map(targets.map((t) => [t.name, statusKiB(pidOf(t), 'VmRSS')]));

  const runWorkload = async <S>(wi: number, w: Runner<S>): Promise<void> => {
    const parts = new Map<string, S[]>();
    const failed = new Set<string>();
    for (let slice = 0; slice < w.slices; slice++) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + wi + slice) % targets.length] as Cluster;
        if (failed.has(t.name)) continue;
        try {
          if (exits.has(pidOf(t))) throw new Error('server exited');
          const s = await withTimeout(w.run({ t, side, sz, pids }, slice), w.timeoutMs, `${w.name} workload`);
          parts.set(t.name, [...(parts.get(t.name) ?? []), s]);
          if (w.slices > 1) log(`${w.name.padEnd(5)} ${t.name.padEnd(9)} slice ${slice + 1}/${w.slices}: ${w.describe(s)}`);
        } catch (e) {
          const raw = exits.has(pidOf(t)) ? `server ${exits.get(pidOf(t)) ?? 'exited'}` : errorMessage(e).split('\n')[0] ?? '';
          const why = w.slices > 1 ? `${raw} (slice ${slice + 1} of ${w.slices})` : raw;
          for (const row of w.rows) record(row, t.name, { failed: why });
          failed.add(t.name);
          log(`${w.name} ${t.name}: FAILED: ${why}`);
          // A workload that timed out may have left its streams open: start the next one clean.
          await side.restart().catch(() => undefined);
        }
      }
    }
    for (const t of targets) {
      const list = parts.get(t.name);
      if (failed.has(t.name) || list === undefined) continue;
      for (const [row, res] of w.finish(t, list)) {
        record(row, t.name, res);
        log(`${row.padEnd(5)} ${t.name.padEnd(9)} ${res.cell.padStart(22)}  server ${fmtInt(res.serverCpuUsPerOp)} µs/${res.opName}  `
          + `client ${fmtInt(res.usage.clientCpuPercent)}%${res.elu !== undefined ? ` (watch thread ELU ${res.elu.toFixed(2)})` : ''}  `
          + `other ${res.usage.otherCores.toFixed(2)} cores${res.problems.length > 0 ? `  PROBLEMS: ${res.problems.join('; ')}` : ''}\n      ${res.detail}`);
      }
    }
  };

  const slices = sz.slices;
  const leaseIds = new Map<string, bigint[]>();
  const grants = new Map<string, Result>();
  const latPuts = Math.ceil(sz.latPuts / slices);
  const tpPuts = Math.ceil(sz.tpPuts / slices);
  const tpCapS = Math.max(2, Math.round(sz.tpCapS / slices));
  const kaSeconds = Math.max(2, Math.round(sz.kaSeconds / slices));
  for (const [wi, w] of workloadIds.filter((x) => cfg.only.has(x)).entries()) {
    if (w === 'mem') {
      await runWorkload<Result>(wi, {
        name: 'mem', rows: ['mem'], slices: 1, timeoutMs: 120_000, run: memoryWorkload, describe: (s) => s.cell, finish: (_t, p) => [['mem', p[0] as Result]],
      });
    } else if (w === 'lat') {
      await runWorkload<LatSlice>(wi, {
        name: 'lat', rows: ['lat'], slices, timeoutMs: ((sz.latWarmupPuts + latPuts) / sz.latRate + sz.latDrainS + 90) * 1000,
        run: (r) => latencySlice(r, latPuts), describe: describeLat, finish: (_t, p) => [['lat', latencyResult(p, sz)]],
      });
    } else if (w === 'tp') {
      await runWorkload<TpSlice>(wi, {
        name: 'tp', rows: ['tp'], slices, timeoutMs: (tpCapS + sz.tpDrainS + 90) * 1000,
        run: (r) => throughputSlice(r, tpPuts, tpCapS), describe: describeTp, finish: (_t, p) => [['tp', throughputResult(p, sz, tpCapS)]],
      });
    } else {
      await runWorkload<KaSlice>(wi, {
        name: 'lease', rows: ['grant', 'ka'], slices, timeoutMs: (sz.grantCapS + sz.kaWarmupS + kaSeconds + 60) * 1000,
        run: async (r, slice) => {
          if (slice === 0) {
            const g = await grantWorkload(r);
            leaseIds.set(r.t.name, g.ids);
            grants.set(r.t.name, g.result);
            log(`grant ${r.t.name.padEnd(9)} ${g.result.detail}`);
          }
          return keepAliveSlice(r, leaseIds.get(r.t.name) ?? [], kaSeconds);
        },
        describe: (s) => `${fmtInt(s.timed / s.spanS)} keepalives/s`,
        finish: (t, p) => {
          const g = grants.get(t.name);
          return [...(g !== undefined ? [['grant', g] as [RowId, Result]] : []), ['ka', keepAliveResult(p, sz)]];
        },
      });
    }
  }

  const otherDuring = otherCores(measureStart, cpuMark(pids));
  const rssAtEnd = new Map(targets.map((t) => [t.name, statusKiB(pidOf(t), 'VmRSS')]));
  const exited = new Map<string, string>();
  for (const t of targets) {
    const why = exits.get(pidOf(t));
    if (why !== undefined) exited.set(t.name, `${why}; last log lines:\n${(t.members[0]?.tail ?? []).slice(-15).join('\n')}`);
  }
  const loadAfter = os.loadavg();
  await side.stop();
  await cleanup();
  const section = renderSection({ cfg, sz, startedAt, loadBefore, loadAfter, targets, unavailable, exited, results, otherDuring, rssAtStart, rssAtEnd });
  process.stdout.write(`${section}\n`);
  if (cfg.append) appendSection(cfg.resultsFile, section, '# keel benchmark results\n', log);
}

// ---- the report ------------------------------------------------------------

function mainTable(s: SectionInput): string {
  const names = s.targets.map((t) => t.name);
  const etcds = names.filter((n) => n.startsWith('etcd'));
  const rows: string[][] = [];
  for (const spec of rowSpecs(s.sz)) {
    const byTarget = s.results.get(spec.id);
    if (byTarget === undefined) continue;
    const cells = names.map((n) => {
      const o = byTarget.get(n);
      return o === undefined ? 'n/a' : !isResult(o) ? '**failed**' : `${o.cell}${o.problems.length > 0 ? ' ⚠' : ''}`;
    });
    const keel = byTarget.get('keel');
    const etcdResults = etcds.map((n) => byTarget.get(n)).filter(isResult).filter((r) => Number.isFinite(r.value));
    const pick = (f: (r: Result) => number): number => {
      const xs = etcdResults.map(f).filter(Number.isFinite);
      return xs.length === 0 ? NaN : spec.higherIsBetter ? Math.max(...xs) : Math.min(...xs);
    };
    let ratio = '–';
    if (isResult(keel)) {
      const better = `(${spec.higherIsBetter ? 'higher' : 'lower'} is better)`;
      const r = keel.value / pick((x) => x.value);
      if (spec.id === 'lat' && Number.isFinite(r)) ratio = `p50 ${r.toFixed(2)}× / p99 ${((keel.p99 ?? NaN) / pick((x) => x.p99 ?? NaN)).toFixed(2)}× ${better}`;
      else if (Number.isFinite(r)) ratio = `${r.toFixed(2)}× ${better}`;
    }
    const keelCpu = isResult(keel) ? keel.serverCpuUsPerOp : NaN;
    const etcdCpu = Math.min(...etcdResults.map((r) => r.serverCpuUsPerOp).filter(Number.isFinite));
    const opName = (isResult(keel) ? keel : etcdResults[0])?.opName ?? 'op';
    const cpu = Number.isFinite(keelCpu) && Number.isFinite(etcdCpu) ? `${fmtCpu(keelCpu)} / ${fmtCpu(etcdCpu)} = ${(keelCpu / etcdCpu).toFixed(2)}× per ${opName}`
      : Number.isFinite(etcdCpu) ? `– / ${fmtCpu(etcdCpu)} per ${opName}` : '–';
    rows.push([spec.title, ...cells, ratio, cpu]);
  }
  return table(['workload', ...names, 'keel / best etcd', 'server CPU µs per op (keel / best etcd)'], rows);
}

function detailTable(s: SectionInput): string {
  const rows: string[][] = [];
  for (const spec of rowSpecs(s.sz)) {
    for (const t of s.targets) {
      const o = s.results.get(spec.id)?.get(t.name);
      if (o === undefined) continue;
      if (!isResult(o)) { rows.push([spec.id, t.name, '–', '–', '–', '–', '–', cellText(`failed: ${o.failed}`, 400)]); continue; }
      rows.push([spec.id, t.name, cellText(o.detail, 10_000), `${fmtCpu(o.serverCpuUsPerOp)} per ${o.opName}`, fmtInt(o.usage.clientCpuPercent),
        o.elu !== undefined ? o.elu.toFixed(2) : '–', o.usage.otherCores.toFixed(2), o.problems.length === 0 ? 'none' : cellText(o.problems.join('; '), 600)]);
    }
  }
  return table(['workload', 'target', 'measured', 'server CPU µs per op', 'client CPU % of a core', 'watch thread ELU', 'other work (cores)', 'problems'], rows);
}

function renderSection(s: SectionInput): string {
  const args = process.argv.slice(2);
  const sz = s.sz;
  const rss = (m: Map<string, number>): string => s.targets.map((t) => `${t.name} ${((m.get(t.name) ?? NaN) / 1024).toFixed(0)} MiB`).join(', ');
  const out = [`## ${stamp(s.startedAt)} UTC — bench:watch${s.cfg.quick ? ' --quick' : ''}`, '', `- Machine: ${machineLine()}`];
  out.push(otherWorkLine(s.otherDuring, s.loadBefore, s.loadAfter, 'the machine was shared: rates and latencies are disturbed, more for single-threaded keel '
    + 'and the Node client than for multi-threaded etcd; server CPU per operation is the fairer comparison here'));
  out.push(`- Servers: ${s.targets.map((t) => `${t.name} = ${t.version}`).join('; ')}`);
  for (const u of s.unavailable) out.push(`- Not measured: ${u.name} — ${u.reason.split('\n')[0] ?? ''}`);
  out.push(`- ${sz.slices > 1 ? `Latency, throughput and keepalives run in ${sz.slices} slices per server, pooled; the memory run and the grants once`
    : 'One run of each workload per server'} (targets take turns; the order rotates per workload and slice); took `
    + `${Math.round((Date.now() - s.startedAt.getTime()) / 1000)} s; server RSS at the start: ${rss(s.rssAtStart)}; at the end: ${rss(s.rssAtEnd)}`, '');
  out.push('Node client (grpc-js; watchers in a worker thread, writers in the main thread). `⚠` marks a cell whose run had errors or'
    + ' missing or extra events (see problems below); **failed** means no number.', '', mainTable(s), '');
  out.push(...details('per-run details, server CPU, client CPU, problems', [detailTable(s)]));
  for (const [name, x] of s.exited) out.push('', `**${name} ${x.split('\n')[0] ?? ''}**`, '', ...fenced(x.split('\n').slice(1).join('\n')));
  const per = sz.slices > 1 ? ` per slice, ${sz.slices} slices` : '';
  const cmds = [`npm run bench:watch${args.length > 0 ? ` -- ${args.join(' ')}` : ''}    # = node dist/bench/watch-lease.js${args.length > 0 ? ` ${args.join(' ')}` : ''}`,
    ...s.targets.map((t) => `# ${t.name}: ${t.members[0]?.command ?? ''}`),
    `# values: ${sz.valueBytes} bytes; each workload opens its own connections and closes them after`,
    `# lat:   ${sz.latWatchers} watchers on key /bench/lat over ${sz.latStreams} Watch streams on ${sz.latConns} conns; `
    + `${sz.latWarmupPuts} untimed + ${Math.ceil(sz.latPuts / sz.slices)} timed puts${per}, paced at ${sz.latRate}/s on 1 conn (value = send time + sequence); drain up to ${sz.latDrainS} s`,
    `# tp:    ${sz.tpWatchers} watchers on prefix /bench/tp/ over ${sz.tpStreams} streams on ${sz.tpConns} conns; `
    + `${fmtInt(Math.ceil(sz.tpPuts / sz.slices))} puts (cap ${Math.max(2, Math.round(sz.tpCapS / sz.slices))} s)${per}, over ${sz.tpKeys} keys, ${sz.tpInflight} in flight on ${sz.tpWriterConns} conns; drain up to ${sz.tpDrainS} s`,
    `# mem:   ${sz.memConns} conns, ${sz.memStreams} streams; RSS (median of 3 reads) 1.5 s after opening them, then `
    + `${fmtInt(sz.memWatchers)} watchers on distinct keys /bench/mem/NNNNNN, RSS again after ${sz.memSettleS} s`,
    `# lease: ${fmtInt(sz.leases)} LeaseGrant TTL ${sz.leaseTtlS} (cap ${sz.grantCapS} s), ${sz.grantInflight} in flight on ${sz.grantConns} conns; `
    + `then LeaseKeepAlive for ${sz.kaWarmupS} s untimed + ${Math.max(2, Math.round(sz.kaSeconds / sz.slices))} s${per}, on ${sz.kaStreams} streams over ${sz.kaConns} conns, ${sz.kaWindow} in flight per stream`];
  out.push('', ...details('exact commands and parameters', fenced(cmds.join('\n'))));
  return out.join('\n');
}

if (require.main === module) runMain('watch-lease', main);
