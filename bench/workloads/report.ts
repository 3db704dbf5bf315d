// The report: the statistics of etcd's benchmark (pkg/report in etcd 3.5) per
// latency series, the client's own CPU and event-loop use, and the text shape
// etcd prints — Summary, Response time histogram, Latency distribution, Error
// distribution — with times in seconds to 4 decimals (--precise: full).
import * as os from 'node:os';
import { mergeErrors, type WorkerResult } from './loop';
import type { Op, Options } from './options';

/** One latency series as measured: the primary one (e.g. put) or a phase (watch creation) or a class (txn-mixed reads). */
export interface SeriesData {
  name: string;
  /** What etcd prints above this series' summary (e.g. "Watch creation summary:"); may be empty. */
  heading: string;
  latenciesMs: Float64Array;
  errors: Record<string, number>;
  seconds: number;
  /** Operations planned. */
  total: number;
  /** Operations neither answered nor failed when the run stopped. */
  unfinished: number;
}

export interface Histogram { le_ms: number; count: number }

export interface SeriesStats {
  heading: string;
  total: number;
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  unfinished: number;
  seconds: number;
  rps: number;
  fastest_ms: number;
  slowest_ms: number;
  average_ms: number;
  stddev_ms: number;
  p10_ms: number; p25_ms: number; p50_ms: number; p75_ms: number;
  p90_ms: number; p95_ms: number; p99_ms: number; p999_ms: number;
  histogram: Histogram[];
}

export interface RunOutput {
  /** series[0] is the primary series: the top-level numbers of the report. */
  series: SeriesData[];
  /** Names of the series the text report prints, in order. */
  sections: string[];
  counters: Record<string, number>;
  cpu: NodeJS.CpuUsage;
  wallMs: number;
  elu: number[];
  hardStopped: boolean;
  lateDispatches: number;
}

export interface Report extends Omit<SeriesStats, 'heading'> {
  tool: 'keel-bench';
  op: Op;
  consistency?: 'l' | 's';
  endpoints: string[];
  clients: number;
  conns: number;
  workers: number;
  rate: number;
  hardStopped: boolean;
  lateDispatches: number;
  /** The workload's own parameters (txn-ops, rw-ratio, streams, isolation, …). */
  settings: Record<string, number | string | boolean>;
  /** Every latency series by name, the primary one included. */
  series: Record<string, SeriesStats>;
  sections: string[];
  counters: Record<string, number>;
  cpu: { user_s: number; system_s: number; core_percent: number; machine_percent: number; cores: number; elu: number[] };
}

// ---- statistics --------------------------------------------------------------

const pctls = [10, 25, 50, 75, 90, 95, 99, 99.9] as const;
const pctlKeys = ['p10_ms', 'p25_ms', 'p50_ms', 'p75_ms', 'p90_ms', 'p95_ms', 'p99_ms', 'p999_ms'] as const;

/** etcd 3.5's percentile: the first sample i (sorted) with i × 100 / n ≥ p; -1 when there is none. */
export function percentileIndex(n: number, p: number): number {
  let i = Math.max(0, Math.ceil((p * n) / 100) - 1);
  while (i < n && (i * 100) / n < p) i++;
  return i < n ? i : -1;
}

/** etcd's histogram: ten equal-width buckets between fastest and slowest, plus the slowest. */
export function histogram(sorted: Float64Array): Histogram[] {
  if (sorted.length === 0) return [];
  const buckets = 10;
  const fastest = sorted[0] as number;
  const slowest = sorted[sorted.length - 1] as number;
  const width = (slowest - fastest) / buckets;
  const out: Histogram[] = [];
  let i = 0;
  for (let b = 0; b <= buckets; b++) {
    const le = b === buckets ? slowest : fastest + width * b;
    let count = 0;
    while (i < sorted.length && (sorted[i] as number) <= le) { count++; i++; }
    out.push({ le_ms: le, count });
  }
  return out;
}

export function statsOf(s: SeriesData): SeriesStats {
  const all = Float64Array.from(s.latenciesMs).sort();
  const ok = all.length;
  let sum = 0;
  for (const x of all) sum += x;
  const mean = ok > 0 ? sum / ok : 0;
  let sq = 0;
  for (const x of all) sq += (x - mean) ** 2;
  const errors = Object.values(s.errors).reduce((a, n) => a + n, 0);
  const seconds = Math.max(1e-9, s.seconds);
  const stats: SeriesStats = {
    heading: s.heading, total: s.total, ok, errors, errorKinds: s.errors, unfinished: s.unfinished, seconds, rps: ok / seconds,
    fastest_ms: ok > 0 ? (all[0] as number) : 0, slowest_ms: ok > 0 ? (all[ok - 1] as number) : 0,
    average_ms: mean, stddev_ms: ok > 0 ? Math.sqrt(sq / ok) : 0,
    p10_ms: 0, p25_ms: 0, p50_ms: 0, p75_ms: 0, p90_ms: 0, p95_ms: 0, p99_ms: 0, p999_ms: 0,
    histogram: histogram(all),
  };
  pctls.forEach((p, k) => {
    const i = percentileIndex(ok, p);
    // Too few samples for this percentile (etcd leaves it out): the slowest is the honest bound.
    stats[pctlKeys[k] as (typeof pctlKeys)[number]] = i >= 0 ? (all[i] as number) : stats.slowest_ms;
  });
  return stats;
}

// ---- assembling -------------------------------------------------------------------

function seriesNames(op: Op): { names: string[]; headings: string[] } {
  if (op === 'txn-mixed') return { names: ['read', 'write'], headings: ['Read', 'Write'] };
  return { names: [op], headings: [''] };
}

/** Turns the loops' results (one per worker) into series: the primary one, plus one per driver series when there are several. */
export function runOutputFromWorkers(o: Options, results: WorkerResult[], cpu: NodeJS.CpuUsage, wallMs: number): RunOutput {
  const start = Math.min(...results.map((r) => r.startEpochMs));
  const end = Math.max(...results.map((r) => r.endEpochMs));
  const seconds = (end - start) / 1000;
  const errors: Record<string, number> = {};
  for (const r of results) mergeErrors(errors, r.errors);
  const count = results.reduce((s, r) => s + r.count, 0);
  const all = new Float64Array(count);
  let at = 0;
  for (const r of results) { all.set(r.latenciesMs.subarray(0, r.count), at); at += r.count; }
  const unfinished = results.reduce((s, r) => s + r.unfinished, 0);
  const primary: SeriesData = { name: o.op, heading: '', latenciesMs: all, errors, seconds, total: o.total, unfinished };
  const counters: Record<string, number> = {};
  for (const r of results) for (const [k, n] of Object.entries(r.counters ?? {})) counters[k] = (counters[k] ?? 0) + n;
  const out: RunOutput = {
    series: [primary], sections: [o.op], counters, cpu, wallMs, elu: results.map((r) => r.elu),
    hardStopped: results.some((r) => r.hardStopped), lateDispatches: results.reduce((s, r) => s + r.lateDispatches, 0),
  };
  const { names, headings } = seriesNames(o.op);
  if (names.length > 1) {
    out.sections = [];
    names.forEach((name, k) => {
      const parts: number[] = [];
      for (const r of results) {
        const of = r.seriesOf;
        for (let i = 0; i < r.count; i++) if ((of?.[i] ?? 0) === k) parts.push(r.latenciesMs[i] as number);
      }
      counters[`${name}_ops`] = parts.length;
      // Errors are not split by series: etcd's benchmark attributes them too, but only as a total.
      out.series.push({ name, heading: `Total ${headings[k]} Ops: ${parts.length}\nDetails:`, latenciesMs: Float64Array.from(parts), errors: {}, seconds, total: parts.length, unfinished: 0 });
      out.sections.push(name);
    });
  }
  return out;
}

function settingsOf(o: Options): Record<string, number | string | boolean> {
  const base = { key_size: o.keySize, val_size: o.valSize };
  switch (o.op) {
    case 'put': return { ...base, key_space_size: o.keySpaceSize, sequential_keys: o.sequentialKeys };
    case 'range': return { key: o.rangeKey ?? '', end: o.rangeEnd ?? '', key_space_size: o.keySpaceSize, consistency: o.consistency, limit: o.limit };
    case 'txn-put': return { ...base, key_space_size: o.keySpaceSize, txn_ops: o.txnOps, random_keys: o.randomKeys, txn_guard: o.txnGuard };
    case 'txn-mixed': return { ...base, key_space_size: o.keySpaceSize, rw_ratio: o.rwRatio, consistency: o.consistency, limit: o.limit };
    case 'watch': return {
      ...base, streams: o.streams, watch_per_stream: o.watchPerStream, watched_key_total: o.watchedKeyTotal, key_space_size: o.keySpaceSize,
      prefix: o.watchPrefix, put_total: o.putTotal, put_rate: o.putRate,
    };
    case 'watch-get': return { watchers: o.watchers, streams: o.streams, events: o.events, get_total: o.getTotal };
    case 'lease-keepalive': return { lease_ttl: o.leaseTtl };
    case 'stm': return {
      val_size: o.valSize, key_size: o.keySize, isolation: o.isolation, keys: o.stmKeys, keys_per_txn: o.keysPerTxn,
      txn_wr_percent: o.txnWrPercent, stm_locker: o.stmLocker,
    };
  }
}

export function makeReport(o: Options, out: RunOutput): Report {
  const series: Record<string, SeriesStats> = {};
  for (const s of out.series) series[s.name] = statsOf(s);
  const { heading: _heading, ...primary } = series[(out.series[0] as SeriesData).name] as SeriesStats;
  const cores = os.availableParallelism();
  const cpuMs = (out.cpu.user + out.cpu.system) / 1000;
  const wallMs = Math.max(1e-6, out.wallMs);
  const report: Report = {
    tool: 'keel-bench', op: o.op, endpoints: o.endpoints, clients: o.clients, conns: Math.max(o.conns, o.workers),
    workers: out.elu.length, rate: o.op === 'watch' ? o.putRate : o.rate, ...primary,
    hardStopped: out.hardStopped, lateDispatches: out.lateDispatches,
    settings: settingsOf(o), series, sections: out.sections, counters: out.counters,
    cpu: {
      user_s: out.cpu.user / 1e6, system_s: out.cpu.system / 1e6, core_percent: (100 * cpuMs) / wallMs,
      machine_percent: (100 * cpuMs) / wallMs / cores, cores, elu: out.elu,
    },
  };
  if (o.op === 'range' || o.op === 'txn-mixed') report.consistency = o.consistency;
  return report;
}

// ---- text ---------------------------------------------------------------------------

function describe(r: Report): string {
  const s = r.settings;
  const mode = r.rate > 0 ? `open loop at ${r.rate}/s, in-flight cap ${r.clients}` : 'closed loop';
  const load = `${r.clients} clients, ${r.conns} conns, ${r.workers} worker(s), ${mode}`;
  const consistency = r.consistency === 's' ? 'serializable' : 'linearizable';
  switch (r.op) {
    case 'range': return `range (${consistency}): ${load}`;
    case 'txn-put': return `txn-put (${String(s['txn_ops'])} put(s) per txn${s['txn_guard'] === true ? ', guarded' : ''}): ${load}`;
    case 'txn-mixed': return `txn-mixed (rw-ratio ${String(s['rw_ratio'])}, ${consistency} reads, limit ${String(s['limit'])}): ${load}`;
    case 'watch': return `watch: ${Number(s['streams']) * Number(s['watch_per_stream'])} watchers on ${String(s['streams'])} streams over `
      + `${r.conns} conns, ${String(s['watched_key_total'])} watched key(s); ${String(s['put_total'])} puts by ${r.clients} clients, ${mode}`;
    case 'watch-get': return `watch-get: ${String(s['watchers'])} watchers on ${String(s['streams'])} stream(s) over ${r.conns} conns, `
      + `${String(s['events'])} past events each; gets by 1 client`;
    case 'lease-keepalive': return `lease-keepalive: ${load}, one lease and keepalive stream per client`;
    case 'stm': return `stm (isolation ${String(s['isolation'])}, ${String(s['keys_per_txn'])} of ${String(s['keys'])} keys per txn, `
      + `${String(s['txn_wr_percent'])}% written${s['stm_locker'] === 'lock-rpc' ? ', inside Lock("stmlock")' : ''}): ${load}`;
    default: return `${r.op}: ${load}`;
  }
}

function counterLines(r: Report): string[] {
  const c = r.counters;
  switch (r.op) {
    case 'stm': {
      const retries = c['retries'] ?? 0;
      return [`STM: ${retries} retries (${(retries / Math.max(1, r.ok)).toFixed(4)} per committed txn), ${c['reads'] ?? 0} reads, ${c['commits'] ?? 0} commits`];
    }
    case 'watch': return [
      `Watchers: ${c['watchers_created'] ?? 0} created of ${c['watchers_planned'] ?? 0}; events: ${c['events_received'] ?? 0} received of `
      + `${c['events_expected'] ?? 0} expected${(c['events_foreign'] ?? 0) > 0 ? `, ${c['events_foreign']} from other writers ignored` : ''}`,
    ];
    case 'watch-get': return [`Watchers: ${c['watchers_caught_up'] ?? 0} of ${c['watchers_created'] ?? 0} caught up on ${c['events'] ?? 0} events from revision ${c['watch_revision'] ?? 0}`];
    case 'lease-keepalive': return [`Leases: ${c['leases'] ?? 0}${(c['streams_lost'] ?? 0) > 0 ? `, keepalive streams lost: ${c['streams_lost']}` : ''}`];
    default: return [];
  }
}

export function formatReport(r: Report, precise = false): string {
  const f = (x: number): string => (precise ? String(x) : x.toFixed(4));
  const secs = (ms: number): string => `${f(ms / 1000)} secs`;
  const lines: string[] = [`keel-bench ${describe(r)}, endpoints ${r.endpoints.join(',')}`];
  lines.push(...counterLines(r));
  if (r.hardStopped) lines.push('Hard stop: --duration-max was reached before the count.');
  for (const name of r.sections) {
    const s = r.series[name];
    if (s === undefined) continue;
    lines.push('');
    if (s.heading !== '') lines.push(s.heading);
    if (s.ok > 0) {
      lines.push('Summary:');
      lines.push(`  Total:\t${secs(s.seconds * 1000)}.`);
      lines.push(`  Slowest:\t${secs(s.slowest_ms)}.`);
      lines.push(`  Fastest:\t${secs(s.fastest_ms)}.`);
      lines.push(`  Average:\t${secs(s.average_ms)}.`);
      lines.push(`  Stddev:\t${secs(s.stddev_ms)}.`);
      lines.push(`  Requests/sec:\t${f(s.rps)}`);
    }
    lines.push(`  Completed:\t${s.ok} of ${s.total}${s.errors > 0 ? `, errors ${s.errors}` : ''}${s.unfinished > 0 ? `, unfinished at stop ${s.unfinished}` : ''}`);
    if (s.histogram.length > 0) {
      lines.push('', 'Response time histogram:');
      const max = Math.max(...s.histogram.map((h) => h.count));
      for (const h of s.histogram) lines.push(`  ${f(h.le_ms / 1000)} [${h.count}]\t|${'∎'.repeat(max > 0 ? Math.floor((40 * h.count) / max) : 0)}`);
    }
    if (s.ok > 0) {
      lines.push('', 'Latency distribution:');
      pctls.forEach((p, k) => {
        if (percentileIndex(s.ok, p) >= 0) lines.push(`  ${p}% in ${secs(s[pctlKeys[k] as (typeof pctlKeys)[number]])}.`);
      });
    }
    if (s.errors > 0) {
      lines.push('', 'Error distribution:');
      for (const [k, n] of Object.entries(s.errorKinds)) lines.push(`  [${n}]\t${k}`);
    }
  }
  if (!r.sections.includes(r.op) && r.errors > 0) {
    lines.push('', 'Error distribution:');
    for (const [k, n] of Object.entries(r.errorKinds)) lines.push(`  [${n}]\t${k}`);
  }
  if (r.rate > 0) lines.push('', `Late sends: ${r.lateDispatches} (>1 ms behind schedule; latency counts from the schedule)`);
  lines.push('', 'Load generator:');
  lines.push(`  CPU:\tuser ${r.cpu.user_s.toFixed(2)} s, system ${r.cpu.system_s.toFixed(2)} s = ${r.cpu.core_percent.toFixed(0)}% of one core (${r.cpu.machine_percent.toFixed(0)}% of ${r.cpu.cores} cores)`);
  lines.push(`  Event-loop utilization per worker:\t${r.cpu.elu.map((e) => e.toFixed(2)).join(', ')}`);
  if (r.cpu.elu.some((e) => e > 0.9)) {
    const hint = r.workers < r.cpu.cores && r.workers < r.clients ? ` (try --workers ${r.workers + 1})` : '';
    lines.push(`  WARNING: a worker's event loop was >90% busy: the client may be the bottleneck${hint}.`);
  }
  return `${lines.join('\n')}\n`;
}
