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
// (1 with --quick) that alternate between targets and are pooled. The
// watchers live in a worker thread (watch-side.ts), the writers in the main
// thread. Every server is started here and stopped on exit, error and
// Ctrl-C; every loop is bounded by a count and a time limit.
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { etcdService } from '../src/proto';
import { headerRevision, keepAliveTtl } from './pb-lite';
import {
  cleanup, cpuMark, cpuSeconds, exits, installSignalHandlers, logTail, otherCores, repoRoot, rssKiB, startEtcd, startKeel,
  waitIdle, type CpuMark, type Target,
} from './servers';
import { WatchSide, nowMs, type WaitReply } from './watch-side';

// ---- configuration ---------------------------------------------------------

type WorkloadId = 'mem' | 'lat' | 'tp' | 'lease';
const workloadIds: WorkloadId[] = ['mem', 'lat', 'tp', 'lease'];

interface Config {
  quick: boolean;
  etcd: '3.4' | '3.5' | 'both' | 'default';
  only: Set<WorkloadId>;
  skip: Set<string>;
  append: boolean;
  resultsFile: string;
  waitIdleSeconds: number;
}

interface Sizes {
  valueBytes: number;
  latWatchers: number; latStreams: number; latConns: number; latPuts: number; latWarmupPuts: number; latRate: number; latDrainS: number;
  tpWatchers: number; tpStreams: number; tpConns: number; tpPuts: number; tpCapS: number; tpInflight: number;
  tpWriterConns: number; tpKeys: number; tpDrainS: number;
  memWatchers: number; memStreams: number; memConns: number; memSettleS: number;
  leases: number; leaseTtlS: number; grantInflight: number; grantConns: number; grantCapS: number;
  kaStreams: number; kaConns: number; kaWindow: number; kaWarmupS: number; kaSeconds: number;
  /** Latency, throughput and keepalive runs are cut into this many slices per target, alternating between targets. */
  slices: number;
}

function sizes(quick: boolean): Sizes {
  // --quick keeps the shapes (watchers, streams, connections) and shortens the
  // counts; it grants 3,000 leases instead of 10,000 (granting is raft writes,
  // slow on a busy machine), which its table titles say.
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
    switch (a) {
      case '--quick': c.quick = true; break;
      case '--etcd': {
        const v = next();
        if (v !== '3.4' && v !== '3.5' && v !== 'both') throw new Error('--etcd must be 3.4, 3.5 or both');
        c.etcd = v;
        break;
      }
      case '--only': {
        c.only = new Set();
        for (const s of next().split(',')) {
          const id = s.trim() as WorkloadId;
          if (!workloadIds.includes(id)) throw new Error(`--only: unknown workload ${s} (mem, lat, tp, lease)`);
          c.only.add(id);
        }
        break;
      }
      case '--skip': for (const x of next().split(',')) c.skip.add(x.trim()); break;
      case '--no-append': c.append = false; break;
      case '--results': c.resultsFile = path.resolve(next()); break;
      case '--wait-idle': {
        const n = Number(next());
        if (!Number.isInteger(n) || n < 1) throw new Error('--wait-idle must be a positive integer');
        c.waitIdleSeconds = n;
        break;
      }
      case '--help':
        process.stdout.write('usage: watch-lease [--quick] [--etcd 3.5|3.4|both] [--only mem,lat,tp,lease] [--skip keel,etcd-3.5,etcd-3.4] [--no-append] [--results FILE] [--wait-idle S]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown flag ${a}`);
    }
  }
  return c;
}

const etcdBins: Record<'3.4' | '3.5', string> = { '3.4': '/usr/bin/etcd', '3.5': '/opt/etcd35/usr/bin/etcd' };

/** Which etcds to run: --etcd, or by default both (full run) or the faster one present, 3.5 before 3.4 (--quick). */
function etcdChoice(cfg: Config): ('3.4' | '3.5')[] {
  if (cfg.etcd === '3.4' || cfg.etcd === '3.5') return [cfg.etcd];
  const present = (['3.5', '3.4'] as const).filter((v) => fs.existsSync(etcdBins[v]));
  if (cfg.etcd === 'both' || !cfg.quick) return [...present];
  return present.slice(0, 1);
}

// ---- clients ---------------------------------------------------------------

const KV = etcdService('KV');
const Lease = etcdService('Lease');
type Method = grpc.MethodDefinition<object, object>;
const putMethod = KV.service['Put'] as Method;
const grantMethod = Lease.service['LeaseGrant'] as Method;
const keepAliveMethod = Lease.service['LeaseKeepAlive'] as Method;
const identity = (b: Buffer): Buffer => b;
const connectTimeoutMs = 10_000;
const errorKindsMax = 20;

function connect(ctor: grpc.ServiceClientConstructor, endpoint: string): grpc.Client {
  // A local subchannel pool gives every client its own TCP connection.
  return new ctor(endpoint, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1,
  });
}

async function connectAll(ctor: grpc.ServiceClientConstructor, endpoint: string, n: number): Promise<grpc.Client[]> {
  const clients = Array.from({ length: n }, () => connect(ctor, endpoint));
  const deadline = Date.now() + connectTimeoutMs;
  await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => {
    c.waitForReady(deadline, (err) => (err ? reject(new Error(`connect ${endpoint}: ${err.message}`)) : resolve()));
  })));
  return clients;
}

function unary(client: grpc.Client, method: Method, request: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, identity, identity, request, new grpc.Metadata(),
      { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => (err ? reject(err) : resolve(res as Buffer)));
  });
}

function errorKind(e: unknown): string {
  const err = e as Partial<grpc.ServiceError>;
  if (typeof err.code === 'number') {
    const details = String(err.details ?? err.message).split(',')[0] ?? '';
    return `${grpc.status[err.code] ?? err.code}: ${details.replace(/\d+(\.\d+)?/g, 'N').slice(0, 100)}`;
  }
  return e instanceof Error ? e.message.slice(0, 100) : String(e).slice(0, 100);
}

function countError(errors: Record<string, number>, kind: string): void {
  if (errors[kind] === undefined && Object.keys(errors).length >= errorKindsMax) kind = 'other';
  errors[kind] = (errors[kind] ?? 0) + 1;
}

function errorText(errors: Record<string, number>): string {
  return Object.entries(errors).map(([k, n]) => `${n}× ${k}`).join('; ');
}

/** `inflight` loops, each sending the next of `total` requests when its last one is answered, until the count or the time cap. */
async function closedLoop(total: number, inflight: number, capMs: number, send: (i: number) => Promise<void>): Promise<{ issued: number; capped: boolean }> {
  const stopAt = Date.now() + capMs;
  let next = 0;
  let capped = false;
  const loop = async (): Promise<void> => {
    while (next < total) {
      if (Date.now() >= stopAt) { capped = true; return; }
      await send(next++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, total) }, loop));
  return { issued: next, capped };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ---- measuring -------------------------------------------------------------

interface Usage { serverCpuS: number; clientCpuPercent: number; otherCores: number; wallS: number }

/** Server CPU (from /proc), this process's CPU (all threads) and other work on the machine over one measured stretch. */
class Meter {
  private cpu0 = 0;
  private self0: NodeJS.CpuUsage = process.cpuUsage();
  private mark0: CpuMark;
  private t0 = 0;
  constructor(private readonly pid: number, private readonly pids: number[]) {
    this.mark0 = cpuMark(pids);
  }

  start(): void {
    this.cpu0 = cpuSeconds(this.pid);
    this.self0 = process.cpuUsage();
    this.mark0 = cpuMark(this.pids);
    this.t0 = Date.now();
  }

  stop(): Usage {
    const wallS = Math.max(1e-3, (Date.now() - this.t0) / 1000);
    const self = process.cpuUsage(this.self0);
    return {
      serverCpuS: cpuSeconds(this.pid) - this.cpu0, clientCpuPercent: (100 * (self.user + self.system)) / 1e6 / wallS,
      otherCores: otherCores(this.mark0, cpuMark(this.pids)), wallS,
    };
  }
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function medianRss(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(300);
    xs.push(rssKiB(pid));
  }
  xs.sort((a, b) => a - b);
  return xs[1] as number;
}

// ---- results ---------------------------------------------------------------

type RowId = 'lat' | 'tp' | 'mem' | 'ka' | 'grant';

interface Result {
  /** The headline number(s) for the table. */
  value: number;
  /** lat only: p99 across deliveries and p99 of each put's slowest watcher. */
  p99?: number;
  slowestP99?: number;
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

interface Failure { failed: string }
type Outcome = Result | Failure;
type Results = Map<RowId, Map<string, Outcome>>;

function put(results: Results, row: RowId, target: string, o: Outcome): void {
  let m = results.get(row);
  if (m === undefined) { m = new Map(); results.set(row, m); }
  m.set(target, o);
}

function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–';
}

/** CPU µs per operation: one decimal below 10. */
function fmtCpu(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x < 10 ? x.toFixed(1) : fmtInt(x);
}

function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
}

// ---- workload 3: memory per watcher -----------------------------------------

async function memoryWorkload(t: Target, side: WatchSide, sz: Sizes, pids: number[]): Promise<Result> {
  const meter = new Meter(t.pid, pids);
  const problems: string[] = [];
  const rssStart = rssKiB(t.pid);
  await side.open({ endpoint: t.endpoint, conns: sz.memConns, streams: sz.memStreams, watchers: sz.memWatchers, mode: 'idle', latencyPuts: 0, latencyWarmupPuts: 0, timeoutMs: 20_000 });
  try {
    await sleep(1500);
    const base = await medianRss(t.pid);
    meter.start();
    const c = await side.create('distinct', '/bench/mem/', 60_000);
    const usage = meter.stop();
    const idle = await side.wait(0, sz.memSettleS * 1000);
    const after = await medianRss(t.pid);
    if (c.created < sz.memWatchers) problems.push(`${sz.memWatchers - c.created} of ${sz.memWatchers} watchers not created`);
    if (idle.foreign > 0) problems.push(`${idle.foreign} events on idle watchers`);
    if (Object.keys(idle.errors).length > 0) problems.push(errorText(idle.errors));
    const perWatcherBytes = c.created > 0 ? ((after - base) * 1024) / c.created : NaN;
    const perStreamKiB = (base - rssStart) / sz.memStreams;
    return {
      value: perWatcherBytes, cell: `${fmtInt(perWatcherBytes)} B`,
      detail: `RSS ${fmtInt(rssStart)} KiB idle → ${fmtInt(base)} KiB with ${sz.memConns} conns / ${sz.memStreams} streams `
        + `(${perStreamKiB.toFixed(1)} KiB per stream, connections included) → ${fmtInt(after)} KiB with ${fmtInt(c.created)} watchers; `
        + `creates took ${(c.createMs / 1000).toFixed(2)} s (${fmtInt(c.created / (c.createMs / 1000))}/s)`,
      opName: 'watcher created', serverCpuUsPerOp: c.created > 0 ? (usage.serverCpuS * 1e6) / c.created : NaN, usage, problems,
    };
  } finally {
    await side.close(10_000);
  }
}

// ---- pooling slices ----------------------------------------------------------
//
// Latency, throughput and keepalive runs are cut into slices that alternate
// between targets, and each target's slices are pooled, so a swing in the
// machine's other load is shared between targets rather than landing on one.

function addUsage(a: Usage | undefined, b: Usage): Usage {
  if (a === undefined) return { ...b };
  const wallS = a.wallS + b.wallS;
  return {
    serverCpuS: a.serverCpuS + b.serverCpuS, wallS,
    clientCpuPercent: (a.clientCpuPercent * a.wallS + b.clientCpuPercent * b.wallS) / wallS,
    otherCores: (a.otherCores * a.wallS + b.otherCores * b.wallS) / wallS,
  };
}

function pooledUsage(us: Usage[]): Usage {
  let u: Usage | undefined;
  for (const x of us) u = addUsage(u, x);
  return u ?? { serverCpuS: NaN, clientCpuPercent: NaN, otherCores: NaN, wallS: NaN };
}

function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((s, a) => s + a.length, 0));
  let at = 0;
  for (const a of arrays) { out.set(a, at); at += a.length; }
  return out;
}

function sliceProblems(slices: { problems: string[] }[]): string[] {
  if (slices.length === 1) return slices[0]?.problems ?? [];
  return slices.flatMap((s, i) => s.problems.map((p) => `slice ${i + 1}: ${p}`));
}

// ---- workload 1: put→event latency ---------------------------------------------

interface LatSlice {
  lat: Float64Array;
  slowest: Float64Array;
  acks: Float64Array;
  timedPuts: number;
  timedDeliveries: number;
  created: number;
  usage: Usage;
  elu: number;
  problems: string[];
}

async function latencySlice(t: Target, side: WatchSide, sz: Sizes, pids: number[], puts: number): Promise<LatSlice> {
  const meter = new Meter(t.pid, pids);
  const problems: string[] = [];
  const key = Buffer.from('/bench/lat');
  const total = sz.latWarmupPuts + puts;
  await side.open({
    endpoint: t.endpoint, conns: sz.latConns, streams: sz.latStreams, watchers: sz.latWatchers, mode: 'latency',
    latencyPuts: total, latencyWarmupPuts: sz.latWarmupPuts, timeoutMs: 20_000,
  });
  const [kv] = await connectAll(KV, t.endpoint, 1);
  try {
    const c = await side.create('one', key.toString(), 30_000);
    if (c.created < sz.latWatchers) problems.push(`${sz.latWatchers - c.created} of ${sz.latWatchers} watchers not created: ${errorText(c.errors)}`);
    const errors: Record<string, number> = {};
    const ackMs = new Float64Array(puts).fill(NaN);
    let ok = 0;
    let inflight = 0;
    let skipped = 0;
    const inflightMax = 100;
    const intervalMs = 1000 / sz.latRate;
    const t0 = nowMs();
    const sends: Promise<void>[] = [];
    // The first latWarmupPuts puts (at the same rate) warm both sides up and are not timed.
    for (let i = 0; i < total; i++) {
      const wait = t0 + i * intervalMs - nowMs();
      if (wait > 1) await sleep(wait);
      if (i === sz.latWarmupPuts) meter.start();
      if (inflight >= inflightMax) { skipped++; continue; }
      const value = Buffer.alloc(sz.valueBytes);
      value.writeUInt32LE(i, 8);
      const sentAt = nowMs();
      value.writeDoubleLE(sentAt, 0);
      inflight++;
      sends.push(unary(kv as grpc.Client, putMethod, putMethod.requestSerialize({ key, value }), 10_000).then(
        () => { ok++; if (i >= sz.latWarmupPuts) ackMs[i - sz.latWarmupPuts] = nowMs() - sentAt; },
        (e: unknown) => countError(errors, errorKind(e)),
      ).finally(() => { inflight--; }));
    }
    await Promise.all(sends);
    const r: WaitReply = await side.wait(ok, sz.latDrainS * 1000);
    const usage = meter.stop();
    const expected = ok * r.created;
    if (skipped > 0) problems.push(`${skipped} puts not sent (${inflightMax} already in flight)`);
    if (Object.keys(errors).length > 0) problems.push(`put errors: ${errorText(errors)}`);
    if (r.delivered < expected) problems.push(`${fmtInt(expected - r.delivered)} of ${fmtInt(expected)} events missing after ${sz.latDrainS} s`);
    if (r.delivered > expected) problems.push(`${fmtInt(r.delivered - expected)} events more than puts × watchers`);
    if (r.disorder > 0) problems.push(`${r.disorder} events out of revision order`);
    if (r.foreign > 0) problems.push(`${r.foreign} events with an unknown value`);
    if (Object.keys(r.errors).length > 0) problems.push(`watch: ${errorText(r.errors)}`);
    const perPut = r.perPutMaxMs ?? new Float64Array(0);
    const counts = r.perPutCount ?? new Uint32Array(0);
    const slowest: number[] = [];
    let timedDeliveries = 0;
    for (let i = sz.latWarmupPuts; i < perPut.length; i++) {
      timedDeliveries += counts[i] as number;
      if ((counts[i] as number) >= r.created && r.created > 0) slowest.push(perPut[i] as number);
    }
    return {
      lat: r.latenciesMs ?? new Float64Array(0), slowest: Float64Array.from(slowest), acks: ackMs.filter(Number.isFinite),
      timedPuts: ackMs.filter(Number.isFinite).length, timedDeliveries, created: r.created, usage, elu: r.elu, problems,
    };
  } finally {
    (kv as grpc.Client).close();
    await side.close(10_000);
  }
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
  const timedPuts = slices.reduce((n, s) => n + s.timedPuts, 0);
  const timedDeliveries = slices.reduce((n, s) => n + s.timedDeliveries, 0);
  const p50 = quantile(lat, 0.5);
  const p99 = quantile(lat, 0.99);
  const sp99 = quantile(slow, 0.99);
  const per = slices.length > 1 ? `; per slice: ${slices.map((s) => describeLat(s)).join(' | ')}` : '';
  return {
    value: p50, p99, slowestP99: sp99, cell: `${fmtMs(p50)} / ${fmtMs(p99)} (${fmtMs(sp99)})`,
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
  ok: number;
  issued: number;
  capped: boolean;
  delivered: number;
  expected: number;
  created: number;
  spanS: number;
  writerS: number;
  lagMs: number;
  usage: Usage;
  elu: number;
  /** The main thread's event-loop utilization while writing: near 1, the writer set the pace. */
  writerElu: number;
  problems: string[];
}

async function throughputSlice(t: Target, side: WatchSide, sz: Sizes, pids: number[], puts: number, capS: number): Promise<TpSlice> {
  const meter = new Meter(t.pid, pids);
  const problems: string[] = [];
  const prefix = '/bench/tp/';
  await side.open({
    endpoint: t.endpoint, conns: sz.tpConns, streams: sz.tpStreams, watchers: sz.tpWatchers, mode: 'count',
    latencyPuts: 0, latencyWarmupPuts: 0, timeoutMs: 20_000,
  });
  const writers = await connectAll(KV, t.endpoint, sz.tpWriterConns);
  try {
    const c = await side.create('prefix', prefix, 30_000);
    if (c.created < sz.tpWatchers) problems.push(`${sz.tpWatchers - c.created} of ${sz.tpWatchers} watchers not created: ${errorText(c.errors)}`);
    const value = Buffer.alloc(sz.valueBytes, 0x61);
    const requests = Array.from({ length: sz.tpKeys }, (_, k) =>
      putMethod.requestSerialize({ key: Buffer.from(`${prefix}${String(k).padStart(4, '0')}`), value }));
    const errors: Record<string, number> = {};
    let ok = 0;
    let firstRev = Infinity;
    let lastRev = 0;
    meter.start();
    const elu0 = performance.eventLoopUtilization();
    const t0 = nowMs();
    const { issued, capped } = await closedLoop(puts, sz.tpInflight, capS * 1000, async (i) => {
      try {
        const res = await unary(writers[i % writers.length] as grpc.Client, putMethod, requests[i % requests.length] as Buffer, 10_000);
        ok++;
        const rev = headerRevision(res);
        if (rev < firstRev) firstRev = rev;
        if (rev > lastRev) lastRev = rev;
      } catch (e) {
        countError(errors, errorKind(e));
      }
    });
    const tw = nowMs();
    const writerElu = performance.eventLoopUtilization(elu0).utilization;
    const r = await side.wait(ok, sz.tpDrainS * 1000);
    const usage = meter.stop();
    const expected = ok * r.created;
    if (Object.keys(errors).length > 0) problems.push(`put errors: ${errorText(errors)}`);
    if (r.delivered < expected) problems.push(`${fmtInt(expected - r.delivered)} of ${fmtInt(expected)} events missing after ${sz.tpDrainS} s (fewest per watcher ${r.minPerWatcher} of ${ok})`);
    if (r.delivered > expected) problems.push(`${fmtInt(r.delivered - expected)} events more than puts × watchers (most per watcher ${r.maxPerWatcher} of ${ok})`);
    if (ok > 0 && lastRev - firstRev + 1 !== ok) problems.push(`acknowledged puts span ${lastRev - firstRev + 1} revisions for ${ok} puts`);
    if (r.disorder > 0) problems.push(`${r.disorder} events out of revision order`);
    if (Object.keys(r.errors).length > 0) problems.push(`watch: ${errorText(r.errors)}`);
    return {
      ok, issued, capped, delivered: r.delivered, expected, created: r.created,
      spanS: Math.max(1e-3, ((r.lastRecvMs > 0 ? r.lastRecvMs : nowMs()) - t0) / 1000), writerS: Math.max(1e-3, (tw - t0) / 1000),
      lagMs: r.lastRecvMs > 0 ? r.lastRecvMs - tw : NaN, usage, elu: r.elu, writerElu, problems,
    };
  } finally {
    for (const w of writers) w.close();
    await side.close(10_000);
  }
}

function describeTp(s: TpSlice): string {
  return `${fmtInt(s.delivered / s.spanS)} events/s, ${fmtInt(s.ok / s.writerS)} puts/s`;
}

function throughputResult(slices: TpSlice[], sz: Sizes, capS: number): Result {
  const sum = (f: (s: TpSlice) => number): number => slices.reduce((n, s) => n + f(s), 0);
  const usage = pooledUsage(slices.map((s) => s.usage));
  const delivered = sum((s) => s.delivered);
  const eventsPerS = delivered / sum((s) => s.spanS);
  const putsPerS = sum((s) => s.ok) / sum((s) => s.writerS);
  const capped = slices.filter((s) => s.capped).length;
  const per = slices.length > 1 ? `; per slice: ${slices.map(describeTp).join(' | ')}` : '';
  return {
    value: eventsPerS, cell: fmtInt(eventsPerS),
    detail: `${sum((s) => s.ok)} of ${sum((s) => s.issued)} puts in ${slices.length} slice(s)`
      + `${capped > 0 ? ` (${capped} hit the ${capS} s cap before ${fmtInt(sz.tpPuts / slices.length)} puts)` : ''} at ${fmtInt(putsPerS)} puts/s `
      + `(${sz.tpInflight} in flight); ${fmtInt(delivered)} of ${fmtInt(sum((s) => s.expected))} events to ${slices.map((s) => s.created).join(', ')} watchers `
      + `over ${sum((s) => s.spanS).toFixed(2)} s; last event ${slices.map((s) => fmtInt(s.lagMs)).join(', ')} ms after the last put's answer; `
      + `writer (main) thread ELU ${slices.map((s) => s.writerElu.toFixed(2)).join(', ')}${per}`,
    opName: 'event delivered', serverCpuUsPerOp: delivered > 0 ? (usage.serverCpuS * 1e6) / delivered : NaN,
    usage, elu: Math.max(...slices.map((s) => s.elu)), problems: sliceProblems(slices),
  };
}

// ---- workload 4: lease grants, then keepalives ------------------------------------

async function grantLeases(t: Target, sz: Sizes, pids: number[]): Promise<{ result: Result; ids: string[] }> {
  const clients = await connectAll(Lease, t.endpoint, sz.grantConns);
  try {
    const meter = new Meter(t.pid, pids);
    const errors: Record<string, number> = {};
    const ids: string[] = [];
    const request = grantMethod.requestSerialize({ TTL: String(sz.leaseTtlS) });
    const rss0 = rssKiB(t.pid);
    meter.start();
    const t0 = nowMs();
    const g = await closedLoop(sz.leases, sz.grantInflight, sz.grantCapS * 1000, async (i) => {
      try {
        const res = grantMethod.responseDeserialize(await unary(clients[i % clients.length] as grpc.Client, grantMethod, request, 10_000)) as
          { ID: string; TTL: string; error: string };
        if (res.error !== '' || res.ID === '0') countError(errors, `grant answered error "${res.error}" ID ${res.ID}`);
        else ids.push(res.ID);
      } catch (e) {
        countError(errors, errorKind(e));
      }
    });
    const grantS = Math.max(1e-3, (nowMs() - t0) / 1000);
    const usage = meter.stop();
    const rss1 = rssKiB(t.pid);
    const problems: string[] = [];
    if (Object.keys(errors).length > 0) problems.push(errorText(errors));
    if (g.capped) problems.push(`hit the ${sz.grantCapS} s cap: ${ids.length} of ${sz.leases} leases granted`);
    if (new Set(ids).size !== ids.length) problems.push('duplicate lease IDs');
    const perS = ids.length / grantS;
    const result: Result = {
      value: perS, cell: fmtInt(perS),
      detail: `${ids.length} of ${sz.leases} leases (TTL ${sz.leaseTtlS} s) in ${grantS.toFixed(2)} s, ${sz.grantInflight} in flight over ${sz.grantConns} conns; `
        + `server RSS ${fmtInt(rss0 / 1024)} → ${fmtInt(rss1 / 1024)} MiB while granting`,
      opName: 'lease granted', serverCpuUsPerOp: ids.length > 0 ? (usage.serverCpuS * 1e6) / ids.length : NaN, usage, problems,
    };
    return { result, ids };
  } finally {
    for (const c of clients) c.close();
  }
}

interface KaSlice {
  timed: number;
  spanS: number;
  perSecond: number[];
  leases: number;
  usage: Usage;
  problems: string[];
}

/** Stream s keeps leases s, s+S, s+2S, … alive, round and round, with kaWindow requests in flight. */
async function keepAliveSlice(t: Target, ids: string[], sz: Sizes, pids: number[], seconds: number): Promise<KaSlice> {
  if (ids.length === 0) throw new Error('no lease granted');
  const clients = await connectAll(Lease, t.endpoint, sz.kaConns);
  const problems: string[] = [];
  const requests = ids.map((ID) => keepAliveMethod.requestSerialize({ ID }));
  const errors: Record<string, number> = {};
  const sentMax = 5_000_000;
  let sent = 0;
  let answered = 0;
  let badTtl = 0;
  let running = true;
  let lastAnswer = 0;
  const streams = Math.min(sz.kaStreams, ids.length);
  const calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
  const inflight = new Array<number>(streams).fill(0);
  const cursor = Array.from({ length: streams }, (_, s) => s);
  let ended = 0;
  let wakeEnded: (() => void) | undefined;
  const pump = (s: number): void => {
    const call = calls[s] as grpc.ClientDuplexStream<Buffer, Buffer>;
    while (running && (inflight[s] as number) < sz.kaWindow && sent < sentMax) {
      call.write(requests[cursor[s] as number] as Buffer);
      cursor[s] = (cursor[s] as number) + streams >= requests.length ? s : (cursor[s] as number) + streams;
      inflight[s] = (inflight[s] as number) + 1;
      sent++;
    }
  };
  try {
    const meter = new Meter(t.pid, pids);
    for (let s = 0; s < streams; s++) {
      const call = (clients[s % clients.length] as grpc.Client).makeBidiStreamRequest(keepAliveMethod.path, identity, identity,
        new grpc.Metadata(), {}) as grpc.ClientDuplexStream<Buffer, Buffer>;
      calls.push(call);
      let checked = false;
      call.on('data', (b: Buffer) => {
        inflight[s] = (inflight[s] as number) - 1;
        answered++;
        lastAnswer = nowMs();
        const ttl = keepAliveTtl(b);
        if (ttl <= 0) badTtl++;
        if (!checked) {
          checked = true;
          const full = keepAliveMethod.responseDeserialize(b) as { TTL: string };
          if (Number(full.TTL) !== ttl) countError(errors, 'pb-lite disagrees with the proto decoder');
        }
        pump(s);
      });
      call.on('error', (e: grpc.ServiceError) => { if (e.code !== grpc.status.CANCELLED) countError(errors, errorKind(e)); });
      call.on('status', () => { ended++; wakeEnded?.(); });
    }
    // A short untimed warm-up at full load, then the timed stretch.
    for (let s = 0; s < streams; s++) pump(s);
    await sleep(sz.kaWarmupS * 1000);
    const answeredAtStart = answered;
    meter.start();
    const t0 = nowMs();
    // Answers per second, to show whether the rate was steady.
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
    const usage = meter.stop();
    const timed = answered - answeredAtStart;
    const unanswered = sent - answered;
    if (endedEarly > 0) problems.push(`${endedEarly} streams ended by the server while running`);
    if (unanswered > 0) problems.push(`${fmtInt(unanswered)} keepalives unanswered 3 s after the stop`);
    if (badTtl > 0) problems.push(`${badTtl} keepalives answered TTL ≤ 0`);
    if (Object.keys(errors).length > 0) problems.push(errorText(errors));
    const spanS = Math.max(1e-3, ((lastAnswer > t0 ? lastAnswer : t0 + seconds * 1000) - t0) / 1000);
    return { timed, spanS, perSecond, leases: ids.length, usage, problems };
  } finally {
    running = false;
    for (const call of calls) call.end();
    // Both servers end a keepalive stream when the client half-closes it; cancel it if not.
    await withTimeout(new Promise<void>((resolve) => {
      if (ended >= calls.length) { resolve(); return; }
      wakeEnded = () => { if (ended >= calls.length) resolve(); };
    }), 5000, 'keepalive streams to end').catch(() => { for (const call of calls) call.cancel(); });
    for (const c of clients) c.close();
  }
}

function keepAliveResult(slices: KaSlice[], sz: Sizes): Result {
  const timed = slices.reduce((n, s) => n + s.timed, 0);
  const spanS = slices.reduce((n, s) => n + s.spanS, 0);
  const usage = pooledUsage(slices.map((s) => s.usage));
  const perS = timed / spanS;
  const leases = slices[0]?.leases ?? 0;
  return {
    value: perS, cell: fmtInt(perS),
    detail: `${fmtInt(timed)} answered over ${spanS.toFixed(2)} s in ${slices.length} slice(s), each after a ${sz.kaWarmupS} s untimed warm-up, `
      + `for ${fmtInt(leases)} leases, ${sz.kaStreams} streams on ${sz.kaConns} conns, ${sz.kaWindow} in flight each; `
      + `answered per second: ${slices.map((s) => s.perSecond.map(fmtInt).join(', ')).join(' | ')}`,
    opName: 'keepalive answered', serverCpuUsPerOp: timed > 0 ? (usage.serverCpuS * 1e6) / timed : NaN, usage,
    problems: sliceProblems(slices),
  };
}

// ---- the run ---------------------------------------------------------------

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

interface RowSpec { id: RowId; title: string; higherIsBetter: boolean }

function rowSpecs(sz: Sizes): RowSpec[] {
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
  run(t: Target, slice: number): Promise<S>;
  describe(s: S): string;
  finish(t: Target, parts: S[]): [RowId, Result][];
}

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv.slice(2));
  const sz = sizes(cfg.quick);
  installSignalHandlers('watch-lease');
  if (cfg.waitIdleSeconds > 0) await waitIdle(cfg.waitIdleSeconds, log);
  const startedAt = new Date();
  const loadBefore = os.loadavg();

  const targets: Target[] = [];
  const unavailable: { name: string; reason: string }[] = [];
  const candidates: [string, () => Promise<Target>][] = [['keel', startKeel]];
  for (const v of etcdChoice(cfg)) candidates.push([`etcd-${v}`, () => startEtcd(`etcd-${v}`, etcdBins[v])]);
  for (const [name, start] of candidates) {
    if (cfg.skip.has(name)) { unavailable.push({ name, reason: 'skipped (--skip)' }); continue; }
    try {
      const t = await start();
      targets.push(t);
      log(`started ${name} (${t.version}) pid ${t.pid} at ${t.endpoint}`);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      unavailable.push({ name, reason });
      log(`${name} not available: ${reason}`);
    }
  }
  if (targets.length === 0) throw new Error('no server started');
  const pids = targets.map((t) => t.pid);
  const side = new WatchSide();
  const results: Results = new Map();
  const measureStart = cpuMark(pids);
  const rssAtStart = new Map(targets.map((t) => [t.name, rssKiB(t.pid)]));

  const logResult = (row: RowId, t: Target, r: Result): void => {
    log(`${row.padEnd(5)} ${t.name.padEnd(9)} ${r.cell.padStart(22)}  server ${fmtInt(r.serverCpuUsPerOp)} µs/${r.opName}  `
      + `client ${fmtInt(r.usage.clientCpuPercent)}%${r.elu !== undefined ? ` (watch thread ELU ${r.elu.toFixed(2)})` : ''}  `
      + `other ${r.usage.otherCores.toFixed(2)} cores${r.problems.length > 0 ? `  PROBLEMS: ${r.problems.join('; ')}` : ''}`);
    log(`      ${r.detail}`);
  };

  const runWorkload = async <S>(wi: number, r: Runner<S>): Promise<void> => {
    const parts = new Map<string, S[]>();
    const failed = new Set<string>();
    const fail = (t: Target, slice: number, e: unknown): void => {
      const raw = exits.has(t.pid) ? `server ${exits.get(t.pid) ?? 'exited'}` : (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
      const why = r.slices > 1 ? `${raw} (slice ${slice + 1} of ${r.slices})` : raw;
      for (const row of r.rows) put(results, row, t.name, { failed: why });
      failed.add(t.name);
      log(`${r.name} ${t.name}: FAILED: ${why}`);
    };
    for (let slice = 0; slice < r.slices; slice++) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + wi + slice) % targets.length] as Target;
        if (failed.has(t.name)) continue;
        if (exits.has(t.pid)) { fail(t, slice, new Error('server exited')); continue; }
        try {
          const s = await withTimeout(r.run(t, slice), r.timeoutMs, `${r.name} workload`);
          let list = parts.get(t.name);
          if (list === undefined) { list = []; parts.set(t.name, list); }
          list.push(s);
          if (r.slices > 1) log(`${r.name.padEnd(5)} ${t.name.padEnd(9)} slice ${slice + 1}/${r.slices}: ${r.describe(s)}`);
        } catch (e) {
          fail(t, slice, e);
          // A workload that timed out may have left its streams open: start the next one clean.
          await side.restart().catch(() => undefined);
        }
      }
    }
    for (const t of targets) {
      const list = parts.get(t.name);
      if (failed.has(t.name) || list === undefined || list.length === 0) continue;
      for (const [row, res] of r.finish(t, list)) {
        put(results, row, t.name, res);
        logResult(row, t, res);
      }
    }
  };

  const slices = sz.slices;
  const leaseIds = new Map<string, string[]>();
  const grants = new Map<string, Result>();
  const order = workloadIds.filter((w) => cfg.only.has(w));
  for (const [wi, w] of order.entries()) {
    if (w === 'mem') {
      await runWorkload<Result>(wi, {
        name: 'mem', rows: ['mem'], slices: 1, timeoutMs: 120_000,
        run: (t) => memoryWorkload(t, side, sz, pids), describe: (s) => s.cell, finish: (_t, p) => [['mem', p[0] as Result]],
      });
    } else if (w === 'lat') {
      const puts = Math.ceil(sz.latPuts / slices);
      await runWorkload<LatSlice>(wi, {
        name: 'lat', rows: ['lat'], slices, timeoutMs: ((sz.latWarmupPuts + puts) / sz.latRate + sz.latDrainS + 90) * 1000,
        run: (t) => latencySlice(t, side, sz, pids, puts), describe: describeLat, finish: (_t, p) => [['lat', latencyResult(p, sz)]],
      });
    } else if (w === 'tp') {
      const puts = Math.ceil(sz.tpPuts / slices);
      const capS = Math.max(2, Math.round(sz.tpCapS / slices));
      await runWorkload<TpSlice>(wi, {
        name: 'tp', rows: ['tp'], slices, timeoutMs: (capS + sz.tpDrainS + 90) * 1000,
        run: (t) => throughputSlice(t, side, sz, pids, puts, capS), describe: describeTp,
        finish: (_t, p) => [['tp', throughputResult(p, sz, capS)]],
      });
    } else {
      const seconds = Math.max(2, Math.round(sz.kaSeconds / slices));
      await runWorkload<KaSlice>(wi, {
        name: 'lease', rows: ['grant', 'ka'], slices, timeoutMs: (sz.grantCapS + sz.kaWarmupS + seconds + 60) * 1000,
        run: async (t, slice) => {
          if (slice === 0) {
            const g = await grantLeases(t, sz, pids);
            leaseIds.set(t.name, g.ids);
            grants.set(t.name, g.result);
            log(`grant ${t.name.padEnd(9)} ${g.result.detail}`);
          }
          return keepAliveSlice(t, leaseIds.get(t.name) ?? [], sz, pids, seconds);
        },
        describe: (s) => `${fmtInt(s.timed / s.spanS)} keepalives/s`,
        finish: (t, p) => {
          const g = grants.get(t.name);
          const rows: [RowId, Result][] = g !== undefined ? [['grant', g]] : [];
          rows.push(['ka', keepAliveResult(p, sz)]);
          return rows;
        },
      });
    }
  }

  const otherDuring = otherCores(measureStart, cpuMark(pids));
  const rssAtEnd = new Map(targets.map((t) => [t.name, rssKiB(t.pid)]));
  for (const t of targets) {
    const why = exits.get(t.pid);
    if (why !== undefined) t.exited = `${why}; last log lines:\n${logTail(t.pid, 15).join('\n')}`;
  }
  const loadAfter = os.loadavg();
  await side.stop();
  await cleanup();

  const section = renderSection({
    cfg, sz, startedAt, finishedAt: new Date(), loadBefore, loadAfter, targets, unavailable, results, otherDuring, rssAtStart, rssAtEnd,
  });
  process.stdout.write(`${section}\n`);
  if (cfg.append) {
    if (!fs.existsSync(cfg.resultsFile) || fs.readFileSync(cfg.resultsFile, 'utf8').trim() === '') {
      fs.writeFileSync(cfg.resultsFile, '# keel benchmark results\n');
    }
    fs.appendFileSync(cfg.resultsFile, `\n${section}\n`);
    log(`appended to ${path.relative(process.cwd(), cfg.resultsFile) || cfg.resultsFile}`);
  }
}

// ---- the report ------------------------------------------------------------

interface SectionInput {
  cfg: Config;
  sz: Sizes;
  startedAt: Date;
  finishedAt: Date;
  loadBefore: number[];
  loadAfter: number[];
  targets: Target[];
  unavailable: { name: string; reason: string }[];
  results: Results;
  otherDuring: number;
  rssAtStart: Map<string, number>;
  rssAtEnd: Map<string, number>;
}

function isResult(o: Outcome | undefined): o is Result {
  return o !== undefined && !('failed' in o);
}

function mainTable(s: SectionInput): string {
  const names = s.targets.map((t) => t.name);
  const etcds = names.filter((n) => n.startsWith('etcd'));
  const head = ['workload', ...names, 'keel / best etcd', 'server CPU µs per op (keel / best etcd)'];
  const rows = [head, head.map(() => '---')];
  for (const spec of rowSpecs(s.sz)) {
    const byTarget = s.results.get(spec.id);
    if (byTarget === undefined) continue;
    const cells = names.map((n) => {
      const o = byTarget.get(n);
      if (o === undefined) return 'n/a';
      if (!isResult(o)) return '**failed**';
      return `${o.cell}${o.problems.length > 0 ? ' ⚠' : ''}`;
    });
    const keel = byTarget.get('keel');
    const etcdResults = etcds.map((n) => byTarget.get(n)).filter(isResult).filter((r) => Number.isFinite(r.value));
    const pick = (f: (r: Result) => number): number => {
      const xs = etcdResults.map(f).filter(Number.isFinite);
      if (xs.length === 0) return NaN;
      return spec.higherIsBetter ? Math.max(...xs) : Math.min(...xs);
    };
    let ratio = '–';
    if (isResult(keel)) {
      const better = spec.higherIsBetter ? 'higher' : 'lower';
      if (spec.id === 'lat') {
        const r50 = keel.value / pick((r) => r.value);
        const r99 = (keel.p99 ?? NaN) / pick((r) => r.p99 ?? NaN);
        if (Number.isFinite(r50)) ratio = `p50 ${r50.toFixed(2)}× / p99 ${r99.toFixed(2)}× (${better} is better)`;
      } else {
        const r = keel.value / pick((x) => x.value);
        if (Number.isFinite(r)) ratio = `${r.toFixed(2)}× (${better} is better)`;
      }
    }
    const keelCpu = isResult(keel) ? keel.serverCpuUsPerOp : NaN;
    const etcdCpus = etcdResults.map((r) => r.serverCpuUsPerOp).filter(Number.isFinite);
    const etcdCpu = etcdCpus.length > 0 ? Math.min(...etcdCpus) : NaN;
    const opName = (isResult(keel) ? keel : etcdResults[0])?.opName ?? 'op';
    const cpu = Number.isFinite(keelCpu) && Number.isFinite(etcdCpu)
      ? `${fmtCpu(keelCpu)} / ${fmtCpu(etcdCpu)} = ${(keelCpu / etcdCpu).toFixed(2)}× per ${opName}`
      : Number.isFinite(etcdCpu) ? `– / ${fmtCpu(etcdCpu)} per ${opName}` : '–';
    rows.push([spec.title, ...cells, ratio, cpu]);
  }
  return rows.map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function detailTable(s: SectionInput): string {
  const head = ['workload', 'target', 'measured', 'server CPU µs per op', 'client CPU % of a core', 'watch thread ELU', 'other work (cores)', 'problems'];
  const rows = [head, head.map(() => '---')];
  const clean = (x: string): string => x.replace(/\|/g, '/').replace(/\n/g, ' ');
  for (const spec of rowSpecs(s.sz)) {
    for (const t of s.targets) {
      const o = s.results.get(spec.id)?.get(t.name);
      if (o === undefined) continue;
      if (!isResult(o)) { rows.push([spec.id, t.name, '–', '–', '–', '–', '–', clean(`failed: ${o.failed}`).slice(0, 400)]); continue; }
      rows.push([
        spec.id, t.name, clean(o.detail), `${fmtCpu(o.serverCpuUsPerOp)} per ${o.opName}`, fmtInt(o.usage.clientCpuPercent),
        o.elu !== undefined ? o.elu.toFixed(2) : '–', o.usage.otherCores.toFixed(2),
        o.problems.length === 0 ? 'none' : clean(o.problems.join('; ')).slice(0, 600),
      ]);
    }
  }
  return rows.map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function renderSection(s: SectionInput): string {
  const stamp = s.startedAt.toISOString().replace('T', ' ').slice(0, 16);
  const cpus = os.cpus();
  const cores = os.availableParallelism();
  const la = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  const args = process.argv.slice(2);
  const sz = s.sz;
  const out: string[] = [];
  out.push(`## ${stamp} UTC — bench:watch${s.cfg.quick ? ' --quick' : ''}`);
  out.push('');
  out.push(`- Machine: ${cores} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, `
    + `${os.type()} ${os.release()}, Node ${process.version}`);
  out.push(`- Other work on the machine while measuring: ${s.otherDuring.toFixed(2)} of ${cores} cores on average `
    + `(load average 1/5/15 min before: ${la(s.loadBefore)}; after: ${la(s.loadAfter)})`
    + (s.otherDuring > 0.25
      ? ' — **the machine was shared: rates and latencies are disturbed, more for single-threaded keel and the'
        + ' Node client than for multi-threaded etcd; server CPU per operation is the fairer comparison here**'
      : ''));
  out.push(`- Servers: ${s.targets.map((t) => `${t.name} = ${t.version}`).join('; ')}`);
  for (const u of s.unavailable) out.push(`- Not measured: ${u.name} — ${u.reason.split('\n')[0]}`);
  const rss = (m: Map<string, number>): string => s.targets.map((t) => `${t.name} ${((m.get(t.name) ?? NaN) / 1024).toFixed(0)} MiB`).join(', ');
  out.push(`- ${sz.slices > 1 ? `Latency, throughput and keepalives run in ${sz.slices} slices per server, pooled; the memory run and the grants once`
    : 'One run of each workload per server'} (targets take turns; the order rotates per workload and slice); took `
    + `${Math.round((s.finishedAt.getTime() - s.startedAt.getTime()) / 1000)} s; server RSS at the start: ${rss(s.rssAtStart)}; at the end: ${rss(s.rssAtEnd)}`);
  out.push('');
  out.push('Node client (grpc-js; watchers in a worker thread, writers in the main thread). `⚠` marks a cell whose run had errors or'
    + ' missing or extra events (see problems below); **failed** means no number.');
  out.push('');
  out.push(mainTable(s));
  out.push('');
  out.push('<details><summary>per-run details, server CPU, client CPU, problems</summary>');
  out.push('');
  out.push(detailTable(s));
  out.push('');
  out.push('</details>');
  for (const t of s.targets) {
    if (t.exited === undefined) continue;
    out.push('');
    out.push(`**${t.name} ${t.exited.split('\n')[0] ?? ''}**`);
    out.push('');
    out.push('```');
    out.push(t.exited.split('\n').slice(1).join('\n').replace(/```/g, "'''"));
    out.push('```');
  }
  out.push('');
  out.push('<details><summary>exact commands and parameters</summary>');
  out.push('');
  out.push('```');
  out.push(`npm run bench:watch${args.length > 0 ? ` -- ${args.join(' ')}` : ''}    # = node dist/bench/watch-lease.js${args.length > 0 ? ` ${args.join(' ')}` : ''}`);
  for (const t of s.targets) out.push(`# ${t.name}: ${t.command}`);
  out.push(`# values: ${sz.valueBytes} bytes; each workload opens its own connections and closes them after`);
  const per = sz.slices > 1 ? ` per slice, ${sz.slices} slices` : '';
  out.push(`# lat:   ${sz.latWatchers} watchers on key /bench/lat over ${sz.latStreams} Watch streams on ${sz.latConns} conns; `
    + `${sz.latWarmupPuts} untimed + ${Math.ceil(sz.latPuts / sz.slices)} timed puts${per}, paced at ${sz.latRate}/s on 1 conn (value = send time + sequence); drain up to ${sz.latDrainS} s`);
  out.push(`# tp:    ${sz.tpWatchers} watchers on prefix /bench/tp/ over ${sz.tpStreams} streams on ${sz.tpConns} conns; `
    + `${fmtInt(Math.ceil(sz.tpPuts / sz.slices))} puts (cap ${Math.max(2, Math.round(sz.tpCapS / sz.slices))} s)${per}, over ${sz.tpKeys} keys, ${sz.tpInflight} in flight on ${sz.tpWriterConns} conns; drain up to ${sz.tpDrainS} s`);
  out.push(`# mem:   ${sz.memConns} conns, ${sz.memStreams} streams; RSS (median of 3 reads) 1.5 s after opening them, then `
    + `${fmtInt(sz.memWatchers)} watchers on distinct keys /bench/mem/NNNNNN, RSS again after ${sz.memSettleS} s`);
  out.push(`# lease: ${fmtInt(sz.leases)} LeaseGrant TTL ${sz.leaseTtlS} (cap ${sz.grantCapS} s), ${sz.grantInflight} in flight on ${sz.grantConns} conns; `
    + `then LeaseKeepAlive for ${sz.kaWarmupS} s untimed + ${Math.max(2, Math.round(sz.kaSeconds / sz.slices))} s${per}, on ${sz.kaStreams} streams over ${sz.kaConns} conns, ${sz.kaWindow} in flight per stream`);
  out.push('```');
  out.push('');
  out.push('</details>');
  return out.join('\n');
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    async (e: unknown) => {
      process.stderr.write(`watch-lease: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      await cleanup();
      process.exit(1);
    },
  );
}
