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
import { countError, errorText, LoopControl } from './workloads/loop';
import {
  cleanup, cpuMark, cpuSeconds, errorMessage, etcdBins, etcdSpec, exitedBlocks, exits, installSignalHandlers, keelSpec, lastJsonLine,
  notMeasured, otherCores, repoRoot, runChild, runMain, sleep, startTargets, statusKiB, waitIdle, type Cluster,
  type ClusterSpec, type Unavailable,
} from './procs';
import { appendSection, cellText, details, fenced, fmtCpu, fmtInt, fmtMs, machineLine, otherWorkLine, parseFlags, stamp, table } from './stats';
import { loadScript } from './compare';
import type { Report } from './load';
import { WatchStreams } from './watchers';
import type { SeriesStats } from './workloads/report';

type WorkloadId = 'mem' | 'lat' | 'tp' | 'lease';
const workloadIds: WorkloadId[] = ['mem', 'lat', 'tp', 'lease'];

interface Config { quick: boolean; etcd: string; only: Set<WorkloadId>; skip: Set<string>; append: boolean; resultsFile: string; waitIdleSeconds: number }

function parseConfig(argv: string[]): Config {
  const f = parseFlags(argv, {
    '--quick': 'bool', '--etcd': 'str', '--only': 'str', '--skip': 'str', '--no-append': 'bool', '--results': 'str', '--wait-idle': 'int',
  }, 'usage: watch-lease [--quick] [--etcd 3.5|3.4|both] [--only mem,lat,tp,lease] [--skip keel,etcd-3.5,etcd-3.4] [--no-append] [--results FILE] [--wait-idle S]');
  const c: Config = {
    quick: f.has('--quick'), etcd: f.get('--etcd') ?? 'default', only: new Set((f.get('--only') ?? workloadIds.join(',')).split(',').map((x) => x.trim() as WorkloadId)),
    skip: new Set((f.get('--skip') ?? '').split(',').map((x) => x.trim())), append: !f.has('--no-append'),
    resultsFile: path.resolve(f.get('--results') ?? path.join(repoRoot, 'bench', 'RESULTS.md')), waitIdleSeconds: Number(f.get('--wait-idle') ?? 0),
  };
  if (!['3.4', '3.5', 'both', 'default'].includes(c.etcd)) throw new Error('--etcd must be 3.4, 3.5 or both');
  for (const id of c.only) if (!workloadIds.includes(id)) throw new Error(`--only: unknown workload ${id} (mem, lat, tp, lease)`);
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
    latWatchers: 1000, latStreams: 10, latConns: 5, latPuts: quick ? 100 : 400, latRate: 20, latDrainS: 15,
    tpWatchers: 100, tpStreams: 10, tpConns: 5, tpPuts: quick ? 8_000 : 30_000, tpCapS: quick ? 5 : 16, tpInflight: 64, tpDrainS: 20,
    memWatchers: 10_000, memStreams: 100, memConns: 10, memSettleS: 2,
    leases: quick ? 3_000 : 10_000, leaseTtlS: 600, grantInflight: 256, grantConns: 4, grantCapS: quick ? 15 : 40,
    kaStreams: 8, kaConns: 4, kaWindow: 64, kaWarmupS: 1, kaSeconds: quick ? 4 : 10,
    slices: quick ? 1 : 2,
  };
}
type Sizes = ReturnType<typeof sizes>;

// ---- measuring -------------------------------------------------------------

const nowMs = (): number => performance.now();
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

/** value: the headline number (lat: p50, with its p99); elu: the watching thread's event-loop use; problems: anything that makes the number less than clean. */
interface Result { value: number; p99?: number; cell: string; detail: string; opName: string; serverCpuUsPerOp: number; usage: Usage; elu?: number; problems: string[] }
type Outcome = Result | { failed: string };
const isResult = (o: Outcome | undefined): o is Result => o !== undefined && !('failed' in o);

function sliceProblems(slices: { problems: string[] }[]): string[] {
  return slices.length === 1 ? slices[0]?.problems ?? [] : slices.flatMap((s, i) => s.problems.map((p) => `slice ${i + 1}: ${p}`));
}

interface Run { t: Cluster; sz: Sizes; pids: number[] }

// ---- workload 3: memory per watcher -----------------------------------------

async function memoryWorkload(r: Run): Promise<Result> {
  const { t, sz } = r;
  const m = meter(t, r.pids);
  const rssStart = statusKiB(pidOf(t), 'VmRSS');
  const conns = await connectAll(t.endpoints, sz.memConns);
  let events = 0;
  const ws = await WatchStreams.open(conns, sz.memStreams, { events: (_w, e) => { events += e.length; } }, nowMs);
  try {
    await sleep(1500);
    const base = await medianRss(pidOf(t));
    m.start();
    const t0 = nowMs();
    const errors: Record<string, number> = {};
    let created = 0;
    await Promise.all(Array.from({ length: sz.memWatchers }, (_, w) => ws.create(w, { key: Buffer.from(`/bench/mem/${String(w).padStart(6, '0')}`) }, 60_000)
      .then(() => { created++; }, (e: unknown) => countError(errors, errorMessage(e).slice(0, 100)))));
    const createMs = nowMs() - t0;
    const usage = m.stop();
    await sleep(sz.memSettleS * 1000);
    const after = await medianRss(pidOf(t));
    const problems: string[] = [];
    if (created < sz.memWatchers) problems.push(`${sz.memWatchers - created} of ${sz.memWatchers} watchers not created: ${problemText(errors)}`);
    if (events > 0) problems.push(`${events} events on idle watchers`);
    const perWatcherBytes = created > 0 ? ((after - base) * 1024) / created : NaN;
    return {
      value: perWatcherBytes, cell: `${fmtInt(perWatcherBytes)} B`,
      detail: `RSS ${fmtInt(rssStart)} KiB idle → ${fmtInt(base)} KiB with ${sz.memConns} conns / ${sz.memStreams} streams `
        + `(${((base - rssStart) / sz.memStreams).toFixed(1)} KiB per stream, connections included) → ${fmtInt(after)} KiB with ${fmtInt(created)} watchers; `
        + `creates took ${(createMs / 1000).toFixed(2)} s (${fmtInt(created / (createMs / 1000))}/s)`,
      opName: 'watcher created', serverCpuUsPerOp: created > 0 ? (usage.serverCpuS * 1e6) / created : NaN, usage, problems,
    };
  } finally {
    await ws.close(10_000);
    for (const c of conns) c.close();
  }
}

// ---- workloads 1 and 2: keel-bench's watch, put→event latency and event throughput ----

/** One keel-bench watch run (its own process: watchers and writer in its main thread), with the server's CPU around it. */
async function watchRun(r: Run, args: string[], capS: number): Promise<{ rep: Report; usage: Usage; problems: string[] }> {
  const m = meter(r.t, r.pids);
  m.start();
  const rep = lastJsonLine<Report>(await runChild(process.execPath, [loadScript, 'watch', ...args, '--val-size', String(r.sz.valueBytes),
    '--endpoints', r.t.endpoints, '--duration-max', String(capS), '--json'], (capS + 30) * 1000));
  const usage = { ...m.stop(), clientCpuPercent: rep.cpu.core_percent };
  const c = (k: string): number => rep.counters[k] ?? 0;
  const problems: string[] = [];
  if (c('watchers_created') < c('watchers_planned')) problems.push(`${c('watchers_planned') - c('watchers_created')} of ${c('watchers_planned')} watchers not created`);
  if (rep.series['put']?.errors !== 0) problems.push(`put errors: ${problemText(rep.series['put']?.errorKinds ?? {})}`);
  if (c('events_received') < c('events_expected')) problems.push(`${fmtInt(c('events_expected') - c('events_received'))} of ${fmtInt(c('events_expected'))} events missing`);
  if (c('events_disorder') > 0) problems.push(`${c('events_disorder')} events out of revision order`);
  if (c('events_foreign') > 0) problems.push(`${c('events_foreign')} events with an unknown value`);
  if (rep.hardStopped) problems.push(`hit the ${capS} s cap`);
  return { rep, usage, problems };
}

type WatchSlice = Awaited<ReturnType<typeof watchRun>>;

/** The slices' statistic, weighted by each slice's samples (keel-bench reports percentiles, not samples). */
function pooled(slices: WatchSlice[], series: string, f: (s: SeriesStats) => number): number {
  const xs = slices.map((x) => x.rep.series[series]).filter((x): x is SeriesStats => x !== undefined && x.ok > 0);
  return xs.reduce((a, x) => a + f(x) * x.ok, 0) / xs.reduce((a, x) => a + x.ok, 0);
}

function watchResult(slices: WatchSlice[], value: number, cell: string, detail: string): Result {
  const delivered = slices.reduce((n, s) => n + (s.rep.counters['events_received'] ?? 0), 0);
  const usage = pooledUsage(slices.map((s) => s.usage));
  return {
    value, cell, detail, opName: 'event delivered', serverCpuUsPerOp: delivered > 0 ? (usage.serverCpuS * 1e6) / delivered : NaN,
    usage, elu: Math.max(...slices.map((s) => s.rep.cpu.elu[0] ?? NaN)), problems: sliceProblems(slices),
  };
}

function latencyResult(slices: WatchSlice[], sz: Sizes): Result {
  const p = (series: string, k: keyof SeriesStats): number => pooled(slices, series, (x) => x[k] as number);
  const [p50, p99, sp99] = [p('watch', 'p50_ms'), p('watch', 'p99_ms'), p('slowest', 'p99_ms')];
  const r = watchResult(slices, p50, `${fmtMs(p50)} / ${fmtMs(p99)} (${fmtMs(sp99)})`,
    `${slices.map((s) => s.rep.series['put']?.ok ?? 0).join(' + ')} puts in ${slices.length} slice(s) at ${sz.latRate}/s to `
    + `${slices.map((s) => s.rep.counters['watchers_created']).join(', ')} watchers; ${fmtInt(slices.reduce((n, s) => n + (s.rep.series['watch']?.ok ?? 0), 0))} deliveries; `
    + `ms p50 ${fmtMs(p50)}, p90 ${fmtMs(p('watch', 'p90_ms'))}, p99 ${fmtMs(p99)}, p99.9 ${fmtMs(p('watch', 'p999_ms'))}, max ${fmtMs(Math.max(...slices.map((s) => s.rep.series['watch']?.slowest_ms ?? NaN)))}; `
    + `slowest watcher per put: p50 ${fmtMs(p('slowest', 'p50_ms'))}, p99 ${fmtMs(sp99)}; put answered in ms p50 ${fmtMs(p('put', 'p50_ms'))}, p99 ${fmtMs(p('put', 'p99_ms'))} `
    + `(percentiles of the slices weighted by their samples; server CPU includes the watchers' creation)`);
  return { ...r, p99 };
}

function throughputResult(slices: WatchSlice[], sz: Sizes): Result {
  const sum = (f: (s: WatchSlice) => number): number => slices.reduce((n, s) => n + f(s), 0);
  const seconds = sum((s) => s.rep.series['watch']?.seconds ?? 0);
  const eventsPerS = sum((s) => s.rep.counters['events_received'] ?? 0) / seconds;
  return watchResult(slices, eventsPerS, fmtInt(eventsPerS),
    `${sum((s) => s.rep.series['put']?.ok ?? 0)} puts in ${slices.length} slice(s) at ${fmtInt(pooled(slices, 'put', (x) => x.rps))} puts/s (${sz.tpInflight} in flight); `
    + `${fmtInt(sum((s) => s.rep.counters['events_received'] ?? 0))} of ${fmtInt(sum((s) => s.rep.counters['events_expected'] ?? 0))} events to `
    + `${slices.map((s) => s.rep.counters['watchers_created']).join(', ')} watchers over ${seconds.toFixed(2)} s; client thread ELU ${slices.map((s) => (s.rep.cpu.elu[0] ?? NaN).toFixed(2)).join(', ')}`);
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
  name: string; rows: RowId[]; slices: number; timeoutMs: number;
  run(r: Run, slice: number): Promise<S>;
  describe(s: S): string;
  finish(t: Cluster, parts: S[]): [RowId, Result][];
}

interface SectionInput {
  cfg: Config; sz: Sizes; startedAt: Date; loadBefore: number[]; loadAfter: number[]; targets: Cluster[]; unavailable: Unavailable[]; exited: string[];
  results: Map<RowId, Map<string, Outcome>>; otherDuring: number; rssAtStart: Map<string, number>; rssAtEnd: Map<string, number>;
  latArgs: string[]; tpArgs: string[]; latCapS: number; tpCapS: number;
}

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv.slice(2));
  const sz = sizes(cfg.quick);
  installSignalHandlers('watch-lease');
  if (cfg.waitIdleSeconds > 0) await waitIdle(cfg.waitIdleSeconds, log);
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const { targets, unavailable } = await startTargets([['keel', () => keelSpec(1)], ...etcdChoice(cfg).map((v): [string, () => ClusterSpec] => [`etcd-${v}`, () => etcdSpec(1, v)])], cfg.skip, log);
  if (targets.length === 0) throw new Error('no server started');
  const pids = targets.map(pidOf);
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
          const s = await withTimeout(w.run({ t, sz, pids }, slice), w.timeoutMs, `${w.name} workload`);
          parts.set(t.name, [...(parts.get(t.name) ?? []), s]);
          if (w.slices > 1) log(`${w.name.padEnd(5)} ${t.name.padEnd(9)} slice ${slice + 1}/${w.slices}: ${w.describe(s)}`);
        } catch (e) {
          const raw = exits.has(pidOf(t)) ? `server ${exits.get(pidOf(t)) ?? 'exited'}` : errorMessage(e).split('\n')[0] ?? '';
          const why = w.slices > 1 ? `${raw} (slice ${slice + 1} of ${w.slices})` : raw;
          for (const row of w.rows) record(row, t.name, { failed: why });
          failed.add(t.name);
          log(`${w.name} ${t.name}: FAILED: ${why}`);
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
  const latArgs = ['--conns', String(sz.latConns), '--streams', String(sz.latStreams), '--watch-per-stream', String(sz.latWatchers / sz.latStreams),
    '--put-total', String(latPuts), '--put-rate', String(sz.latRate), '--clients', '100'];
  const tpArgs = ['--conns', String(sz.tpConns), '--streams', String(sz.tpStreams), '--watch-per-stream', String(sz.tpWatchers / sz.tpStreams),
    '--prefix', '--put-total', String(tpPuts), '--clients', String(sz.tpInflight)];
  const kaSeconds = Math.max(2, Math.round(sz.kaSeconds / slices));
  for (const [wi, w] of workloadIds.filter((x) => cfg.only.has(x)).entries()) {
    if (w === 'mem') {
      await runWorkload<Result>(wi, {
        name: 'mem', rows: ['mem'], slices: 1, timeoutMs: 120_000, run: memoryWorkload, describe: (s) => s.cell, finish: (_t, p) => [['mem', p[0] as Result]],
      });
    } else if (w === 'lat') {
      const capS = latPuts / sz.latRate + sz.latDrainS + 30;
      await runWorkload<WatchSlice>(wi, {
        name: 'lat', rows: ['lat'], slices, timeoutMs: (capS + 60) * 1000, describe: (x) => `p50 ${fmtMs(x.rep.series['watch']?.p50_ms ?? NaN)} ms`,
        run: (r) => watchRun(r, latArgs, capS),
        finish: (_t, p) => [['lat', latencyResult(p, sz)]],
      });
    } else if (w === 'tp') {
      await runWorkload<WatchSlice>(wi, {
        name: 'tp', rows: ['tp'], slices, timeoutMs: (tpCapS + sz.tpDrainS + 90) * 1000, describe: (x) => `${fmtInt(x.rep.series['watch']?.rps ?? NaN)} events/s`,
        run: (r) => watchRun(r, tpArgs, tpCapS + sz.tpDrainS),
        finish: (_t, p) => [['tp', throughputResult(p, sz)]],
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
  const exited = exitedBlocks(targets);
  const loadAfter = os.loadavg();
  await cleanup();
  const section = renderSection({
    cfg, sz, startedAt, loadBefore, loadAfter, targets, unavailable, exited, results, otherDuring, rssAtStart, rssAtEnd,
    latArgs, tpArgs, latCapS: latPuts / sz.latRate + sz.latDrainS + 30, tpCapS: tpCapS + sz.tpDrainS,
  });
  process.stdout.write(`${section}\n`);
  if (cfg.append) appendSection(cfg.resultsFile, section, log);
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
  out.push(...notMeasured(s.unavailable));
  out.push(`- ${sz.slices > 1 ? `Latency, throughput and keepalives run in ${sz.slices} slices per server, pooled; the memory run and the grants once`
    : 'One run of each workload per server'} (targets take turns; the order rotates per workload and slice); took `
    + `${Math.round((Date.now() - s.startedAt.getTime()) / 1000)} s; server RSS at the start: ${rss(s.rssAtStart)}; at the end: ${rss(s.rssAtEnd)}`, '');
  out.push('Node client (grpc-js; latency and throughput: keel-bench\'s watch, its own process, watchers and writer in one thread). `⚠` marks a cell whose run had errors or'
    + ' missing or extra events (see problems below); **failed** means no number.', '', mainTable(s), '');
  out.push(...details('per-run details, server CPU, client CPU, problems', [detailTable(s)]));
  out.push(...s.exited);
  const per = sz.slices > 1 ? ` per slice, ${sz.slices} slices` : '';
  const cmds = [`npm run bench:watch${args.length > 0 ? ` -- ${args.join(' ')}` : ''}    # = node dist/bench/watch-lease.js${args.length > 0 ? ` ${args.join(' ')}` : ''}`,
    ...s.targets.map((t) => `# ${t.name}: ${t.members[0]?.command ?? ''}`),
    `# values: ${sz.valueBytes} bytes; each workload opens its own connections and closes them after`,
    `# lat${per}: node dist/bench/load.js watch ${s.latArgs.join(' ')} --val-size ${sz.valueBytes} --endpoints EP --duration-max ${s.latCapS} --json`,
    `# tp${per}: node dist/bench/load.js watch ${s.tpArgs.join(' ')} --val-size ${sz.valueBytes} --endpoints EP --duration-max ${s.tpCapS} --json`,
    `# mem:   ${sz.memConns} conns, ${sz.memStreams} streams; RSS (median of 3 reads) 1.5 s after opening them, then `
    + `${fmtInt(sz.memWatchers)} watchers on distinct keys /bench/mem/NNNNNN, RSS again after ${sz.memSettleS} s`,
    `# lease: ${fmtInt(sz.leases)} LeaseGrant TTL ${sz.leaseTtlS} (cap ${sz.grantCapS} s), ${sz.grantInflight} in flight on ${sz.grantConns} conns; `
    + `then LeaseKeepAlive for ${sz.kaWarmupS} s untimed + ${Math.max(2, Math.round(sz.kaSeconds / sz.slices))} s${per}, on ${sz.kaStreams} streams over ${sz.kaConns} conns, ${sz.kaWindow} in flight per stream`];
  out.push('', ...details('exact commands and parameters', fenced(cmds.join('\n'))));
  return out.join('\n');
}

if (require.main === module) runMain('watch-lease', main);
