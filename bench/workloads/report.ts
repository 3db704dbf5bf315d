// The report: the statistics of etcd's benchmark (pkg/report in etcd 3.5) per
// latency series, the client's own CPU and event-loop use, and the text shape
// etcd prints — Summary, Response time histogram, Latency distribution, Error
// distribution — with times in seconds to 4 decimals (--precise: full).
import * as os from 'node:os';
import { concat } from '../stats';
import { mergeErrors, type WorkerResult } from './loop';
import type { Options } from './options';

/** One latency series as measured: the primary one (e.g. put), a phase (watch creation) or a class (txn-mixed reads); heading: what
 * etcd prints above its summary (may be empty); total: operations planned; unfinished: neither answered nor failed when the run stopped. */
export interface SeriesData { name: string; heading: string; latenciesMs: Float64Array; errors: Record<string, number>; seconds: number; total: number; unfinished: number }

/** series[0] is the primary series (the report's top-level numbers); sections: the series the text prints, in order. */
export interface RunOutput {
  series: SeriesData[]; sections: string[]; counters: Record<string, number>; cpu: NodeJS.CpuUsage; wallMs: number; elu: number[]; hardStopped: boolean; lateDispatches: number;
}

const pctls = [10, 25, 50, 75, 90, 95, 99, 99.9] as const;
const pctlKeys = ['p10_ms', 'p25_ms', 'p50_ms', 'p75_ms', 'p90_ms', 'p95_ms', 'p99_ms', 'p999_ms'] as const;

/** etcd 3.5's percentile: the first sample i (sorted) with i × 100 / n ≥ p; -1 when there is none. */
export function percentileIndex(n: number, p: number): number {
  let i = Math.max(0, Math.ceil((p * n) / 100) - 1);
  while (i < n && (i * 100) / n < p) i++;
  return i < n ? i : -1;
}

/** etcd's histogram: ten equal-width buckets between fastest and slowest, plus the slowest. */
export function histogram(sorted: Float64Array): { le_ms: number; count: number }[] {
  if (sorted.length === 0) return [];
  const fastest = sorted[0] as number;
  const slowest = sorted[sorted.length - 1] as number;
  let i = 0;
  return Array.from({ length: 11 }, (_, b) => {
    const le = b === 10 ? slowest : fastest + ((slowest - fastest) / 10) * b;
    let count = 0;
    for (; i < sorted.length && (sorted[i] as number) <= le; i++) count++;
    return { le_ms: le, count };
  });
}

export function statsOf(s: SeriesData) {
  const all = Float64Array.from(s.latenciesMs).sort();
  const ok = all.length;
  const mean = all.reduce((a, x) => a + x, 0) / Math.max(1, ok);
  const seconds = Math.max(1e-9, s.seconds);
  const slowest = ok > 0 ? (all[ok - 1] as number) : 0;
  const stats = {
    heading: s.heading, total: s.total, ok, errors: Object.values(s.errors).reduce((a, n) => a + n, 0), errorKinds: s.errors,
    unfinished: s.unfinished, seconds, rps: ok / seconds, fastest_ms: ok > 0 ? (all[0] as number) : 0, slowest_ms: slowest, average_ms: mean,
    stddev_ms: Math.sqrt(all.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, ok)),
    p10_ms: 0, p25_ms: 0, p50_ms: 0, p75_ms: 0, p90_ms: 0, p95_ms: 0, p99_ms: 0, p999_ms: 0, histogram: histogram(all),
  };
  // Too few samples for a percentile (etcd leaves it out): the slowest is the honest bound.
  pctls.forEach((p, k) => { stats[pctlKeys[k] as (typeof pctlKeys)[number]] = all[percentileIndex(ok, p)] ?? slowest; });
  return stats;
}
export type SeriesStats = ReturnType<typeof statsOf>;

/** Turns the loops' results (one per worker) into series: the primary one, plus txn-mixed's reads and writes apart. */
export function runOutputFromWorkers(o: Options, results: WorkerResult[], cpu: NodeJS.CpuUsage, wallMs: number): RunOutput {
  const seconds = (Math.max(...results.map((r) => r.endEpochMs)) - Math.min(...results.map((r) => r.startEpochMs))) / 1000;
  const errors: Record<string, number> = {};
  const counters: Record<string, number> = {};
  for (const r of results) {
    mergeErrors(errors, r.errors);
    for (const [k, n] of Object.entries(r.counters ?? {})) counters[k] = (counters[k] ?? 0) + n;
  }
  const sum = (f: (r: WorkerResult) => number): number => results.reduce((s, r) => s + f(r), 0);
  const out: RunOutput = {
    series: [{ name: o.op, heading: '', latenciesMs: concat(results.map((r) => r.latenciesMs)), errors, seconds, total: o.total, unfinished: sum((r) => r.unfinished) }],
    sections: [o.op], counters, cpu, wallMs, elu: results.map((r) => r.elu), hardStopped: results.some((r) => r.hardStopped), lateDispatches: sum((r) => r.lateDispatches),
  };
  if (o.op !== 'txn-mixed') return out;
  out.sections = ['read', 'write'];
  out.sections.forEach((name, k) => {
    const parts = results.flatMap((r) => [...r.latenciesMs].filter((_, i) => (r.seriesOf?.[i] ?? 0) === k));
    counters[`${name}_ops`] = parts.length;
    // Errors are not split by series: etcd's benchmark attributes them too, but only as a total.
    const heading = `Total ${name === 'read' ? 'Read' : 'Write'} Ops: ${parts.length}\nDetails:`;
    out.series.push({ name, heading, latenciesMs: Float64Array.from(parts), errors: {}, seconds, total: parts.length, unfinished: 0 });
  });
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
    case 'stm': return { ...base, isolation: o.isolation, keys: o.stmKeys, keys_per_txn: o.keysPerTxn, txn_wr_percent: o.txnWrPercent, stm_locker: o.stmLocker };
  }
}

export function makeReport(o: Options, out: RunOutput) {
  const series: Record<string, SeriesStats> = Object.fromEntries(out.series.map((s) => [s.name, statsOf(s)]));
  const { heading: _heading, ...primary } = statsOf(out.series[0] as SeriesData);
  const cores = os.availableParallelism();
  const cpuPercent = (100 * (out.cpu.user + out.cpu.system)) / 1000 / Math.max(1e-6, out.wallMs);
  return {
    tool: 'keel-bench' as const, op: o.op, ...(o.op === 'range' || o.op === 'txn-mixed' ? { consistency: o.consistency } : {}),
    endpoints: o.endpoints, clients: o.clients, conns: Math.max(o.conns, o.workers), workers: out.elu.length, rate: o.op === 'watch' ? o.putRate : o.rate,
    ...primary, hardStopped: out.hardStopped, lateDispatches: out.lateDispatches, settings: settingsOf(o), series, sections: out.sections, counters: out.counters,
    cpu: { user_s: out.cpu.user / 1e6, system_s: out.cpu.system / 1e6, core_percent: cpuPercent, machine_percent: cpuPercent / cores, cores, elu: out.elu },
  };
}
export type Report = ReturnType<typeof makeReport>;

// ---- text ---------------------------------------------------------------------------

function describe(r: Report): string {
  const s = (k: string): string => String(r.settings[k]);
  const mode = r.rate > 0 ? `open loop at ${r.rate}/s, in-flight cap ${r.clients}` : 'closed loop';
  const load = `${r.clients} clients, ${r.conns} conns, ${r.workers} worker(s), ${mode}`;
  const consistency = r.consistency === 's' ? 'serializable' : 'linearizable';
  switch (r.op) {
    case 'range': return `range (${consistency}): ${load}`;
    case 'txn-put': return `txn-put (${s('txn_ops')} put(s) per txn${r.settings['txn_guard'] === true ? ', guarded' : ''}): ${load}`;
    case 'txn-mixed': return `txn-mixed (rw-ratio ${s('rw_ratio')}, ${consistency} reads, limit ${s('limit')}): ${load}`;
    case 'watch': return `watch: ${Number(s('streams')) * Number(s('watch_per_stream'))} watchers on ${s('streams')} streams over `
      + `${r.conns} conns, ${s('watched_key_total')} watched key(s); ${s('put_total')} puts by ${r.clients} clients, ${mode}`;
    case 'watch-get': return `watch-get: ${s('watchers')} watchers on ${s('streams')} stream(s) over ${r.conns} conns, ${s('events')} past events each; gets by 1 client`;
    case 'lease-keepalive': return `lease-keepalive: ${load}, one lease and keepalive stream per client`;
    case 'stm': return `stm (isolation ${s('isolation')}, ${s('keys_per_txn')} of ${s('keys')} keys per txn, `
      + `${s('txn_wr_percent')}% written${s('stm_locker') === 'lock-rpc' ? ', inside Lock("stmlock")' : ''}): ${load}`;
    default: return `${r.op}: ${load}`;
  }
}

function counterLines(r: Report): string[] {
  const c = (k: string): number => r.counters[k] ?? 0;
  switch (r.op) {
    case 'stm': return [`STM: ${c('retries')} retries (${(c('retries') / Math.max(1, r.ok)).toFixed(4)} per committed txn), ${c('reads')} reads, ${c('commits')} commits`];
    case 'watch': return [`Watchers: ${c('watchers_created')} created of ${c('watchers_planned')}; events: ${c('events_received')} received of `
      + `${c('events_expected')} expected${c('events_foreign') > 0 ? `, ${c('events_foreign')} from other writers ignored` : ''}`];
    case 'watch-get': return [`Watchers: ${c('watchers_caught_up')} of ${c('watchers_created')} caught up on ${c('events')} events from revision ${c('watch_revision')}`];
    case 'lease-keepalive': return [`Leases: ${c('leases')}${c('streams_lost') > 0 ? `, keepalive streams lost: ${c('streams_lost')}` : ''}`];
    default: return [];
  }
}

const errorLines = (kinds: Record<string, number>): string[] => ['', 'Error distribution:', ...Object.entries(kinds).map(([k, n]) => `  [${n}]\t${k}`)];

export function formatReport(r: Report, precise = false): string {
  const f = (x: number): string => (precise ? String(x) : x.toFixed(4));
  const secs = (ms: number): string => `${f(ms / 1000)} secs`;
  const lines = [`keel-bench ${describe(r)}, endpoints ${r.endpoints.join(',')}`, ...counterLines(r)];
  if (r.hardStopped) lines.push('Hard stop: --duration-max was reached before the count.');
  for (const s of r.sections.map((name) => r.series[name]).filter((x) => x !== undefined)) {
    lines.push('');
    if (s.heading !== '') lines.push(s.heading);
    if (s.ok > 0) {
      lines.push('Summary:', `  Total:\t${secs(s.seconds * 1000)}.`, `  Slowest:\t${secs(s.slowest_ms)}.`, `  Fastest:\t${secs(s.fastest_ms)}.`,
        `  Average:\t${secs(s.average_ms)}.`, `  Stddev:\t${secs(s.stddev_ms)}.`, `  Requests/sec:\t${f(s.rps)}`);
    }
    lines.push(`  Completed:\t${s.ok} of ${s.total}${s.errors > 0 ? `, errors ${s.errors}` : ''}${s.unfinished > 0 ? `, unfinished at stop ${s.unfinished}` : ''}`);
    if (s.histogram.length > 0) {
      const max = Math.max(...s.histogram.map((h) => h.count));
      lines.push('', 'Response time histogram:', ...s.histogram.map((h) => `  ${f(h.le_ms / 1000)} [${h.count}]\t|${'∎'.repeat(max > 0 ? Math.floor((40 * h.count) / max) : 0)}`));
    }
    if (s.ok > 0) lines.push('', 'Latency distribution:', ...pctls.filter((p) => percentileIndex(s.ok, p) >= 0).map((p) => `  ${p}% in ${secs(s[pctlKeys[pctls.indexOf(p)] as (typeof pctlKeys)[number]])}.`));
    if (s.errors > 0) lines.push(...errorLines(s.errorKinds));
  }
  if (!r.sections.includes(r.op) && r.errors > 0) lines.push(...errorLines(r.errorKinds));
  if (r.rate > 0) lines.push('', `Late sends: ${r.lateDispatches} (>1 ms behind schedule; latency counts from the schedule)`);
  lines.push('', 'Load generator:', `  CPU:\tuser ${r.cpu.user_s.toFixed(2)} s, system ${r.cpu.system_s.toFixed(2)} s = ${r.cpu.core_percent.toFixed(0)}% of one core (${r.cpu.machine_percent.toFixed(0)}% of ${r.cpu.cores} cores)`);
  lines.push(`  Event-loop utilization per worker:\t${r.cpu.elu.map((e) => e.toFixed(2)).join(', ')}`);
  if (r.cpu.elu.some((e) => e > 0.9)) {
    const hint = r.workers < r.cpu.cores && r.workers < r.clients ? ` (try --workers ${r.workers + 1})` : '';
    lines.push(`  WARNING: a worker's event loop was >90% busy: the client may be the bottleneck${hint}.`);
  }
  return `${lines.join('\n')}\n`;
}
