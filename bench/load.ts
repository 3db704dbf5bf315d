// keel-bench: etcd's `benchmark` tool for any etcd v3 endpoint (keel or etcd),
// same workloads, same flag names, same report shape.
//
//   npm run bench -- put   --clients 100 --conns 10 --total 20000 --val-size 256
//   npm run bench -- range [KEY [END]] --consistency s --clients 100 --conns 10
//   npm run bench -- txn-put --txn-ops 4 --key-space-size 10000 --clients 50 --conns 5
//   npm run bench -- txn-mixed --rw-ratio 4 --key-space-size 1000 --clients 50
//   npm run bench -- watch --streams 10 --watch-per-stream 100 --put-total 1000 --put-rate 200
//   npm run bench -- watch-get --watchers 10000 --streams 10 --events 8
//   npm run bench -- lease-keepalive --clients 100 --conns 10 --total 20000
//   npm run bench -- stm --isolation s --keys 1000 --keys-per-txn 4 --clients 50
//   (--help lists every flag; --json prints one object instead of the text report)
//
// The pieces live in bench/workloads/: options (flags), loop (closed/open
// load loop), kv, lease, stm and watch (the workloads), report (etcd's
// statistics and text), progress (the bar on stderr). This file runs them:
// in-line or, with --workers N, over N worker_threads, each with its own
// connections; the report shows the process CPU and each worker's event-loop
// utilization so a reader can tell whether the load generator, not the
// server, was the limit.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Client } from '../src/client';
import { makeKvDriver } from './workloads/kv';
import { makeKeepAliveDriver } from './workloads/lease';
import { connect, connectTimeoutMs, errorText, LoopControl, runLoop, type Driver, type WorkerResult } from './workloads/loop';
import { parseArgs, type Options } from './workloads/options';
import { Progress, progressMode } from './workloads/progress';
import { formatReport, makeReport, runOutputFromWorkers, type RunOutput } from './workloads/report';
import { makeStmDriver } from './workloads/stm';
import { runWatch, runWatchGet } from './workloads/watch';

export type { Report } from './workloads/report';

const prefillKeysMax = 100_000;

/** What one worker is asked to do; global indices keep keys and endpoints disjoint across workers. */
interface WorkerPlan {
  options: Options; workerIndex: number; workerCount: number; clients: number; connIndices: number[]; quota: number; rate: number; value: Uint8Array;
  /** One slot per worker (a SharedArrayBuffer across threads): operations completed, for the progress bar. */
  progress: Int32Array;
}

async function makeDriver(plan: WorkerPlan, conns: Client[], ctl: LoopControl): Promise<Driver> {
  const o = plan.options;
  switch (o.op) {
    case 'lease-keepalive': return makeKeepAliveDriver(o, conns, plan.clients, ctl);
    case 'stm': return makeStmDriver(o, conns, plan.clients, ctl);
    default: return makeKvDriver(o, conns, Buffer.from(plan.value), ctl);
  }
}

/** Connects and sets up (untimed), then after `ready` runs the plan's share of the load. */
async function runPlan(plan: WorkerPlan, ready: () => Promise<void>): Promise<WorkerResult> {
  const o = plan.options;
  const conns = await connect(plan.connIndices.map((g) => o.endpoints[g % o.endpoints.length] as string), o.durationMaxSeconds);
  try {
    const ctl = new LoopControl(o.durationMaxSeconds);
    const driver = await makeDriver(plan, conns, ctl);
    await ready();
    const result = await runLoop(driver, {
      clients: plan.clients, quota: plan.quota, rate: plan.rate, progress: plan.progress, progressSlot: plan.workerIndex,
      workerIndex: plan.workerIndex, workerCount: plan.workerCount,
    }, ctl);
    await driver.close();
    return result;
  } finally {
    for (const c of conns) c.close();
  }
}

function share(n: number, parts: number, index: number): number {
  return Math.floor(n / parts) + (index < n % parts ? 1 : 0);
}

function makePlans(o: Options, value: Uint8Array, progress: Int32Array): WorkerPlan[] {
  const plans: WorkerPlan[] = [];
  const connCount = Math.max(o.conns, o.workers);
  let nextConn = 0;
  for (let w = 0; w < o.workers; w++) {
    const clients = share(o.clients, o.workers, w);
    const conns = Math.min(clients, share(connCount, o.workers, w));
    const connIndices: number[] = [];
    for (let i = 0; i < conns; i++) connIndices.push(nextConn++);
    plans.push({
      options: o, workerIndex: w, workerCount: o.workers, clients, connIndices,
      quota: share(o.total, o.workers, w), rate: (o.rate * clients) / o.clients, value, progress,
    });
  }
  return plans;
}

interface Ran { results: WorkerResult[]; cpu: NodeJS.CpuUsage; wallMs: number }

/** Runs the plans: one in this thread, several in worker_threads; the clock and CPU count from when all are set up. */
async function runWorkers(plans: WorkerPlan[], onGo: () => void): Promise<Ran> {
  let cpu = process.cpuUsage();
  let wallStart = performance.now();
  const go = (): void => { cpu = process.cpuUsage(); wallStart = performance.now(); onGo(); };
  const ran = (results: WorkerResult[]): Ran => ({ results, cpu: process.cpuUsage(cpu), wallMs: performance.now() - wallStart });
  if (plans.length === 1) return ran([await runPlan(plans[0] as WorkerPlan, async () => go())]);
  const workers = plans.map((plan) => new Worker(__filename, { workerData: plan }));
  const next = <T>(w: Worker, want: (m: unknown) => m is T): Promise<T> => new Promise<T>((resolve, reject) => {
    w.once('message', (m: unknown) => (want(m) ? resolve(m) : reject(new Error(`worker said ${String(m)}`))));
    w.once('error', reject);
  });
  const killer = setTimeout(() => { for (const w of workers) void w.terminate(); }, (plans[0] as WorkerPlan).options.durationMaxSeconds * 1000 + connectTimeoutMs + 10_000);
  try {
    await Promise.all(workers.map((w) => next(w, (m): m is 'ready' => m === 'ready')));
    const done = workers.map((w) => next(w, (m): m is WorkerResult => typeof m === 'object'));
    go();
    for (const w of workers) w.postMessage('go');
    return ran(await Promise.all(done));
  } finally {
    clearTimeout(killer);
    for (const w of workers) void w.terminate();
  }
}

function workerMain(): void {
  const port = parentPort;
  if (port === null) throw new Error('worker without parentPort');
  const ready = (): Promise<void> => new Promise((resolve) => { port.once('message', () => resolve()); port.postMessage('ready'); });
  runPlan(workerData as WorkerPlan, ready).then(
    (r) => port.postMessage(r, [r.latenciesMs.buffer as ArrayBuffer, ...(r.seriesOf !== undefined ? [r.seriesOf.buffer as ArrayBuffer] : [])]),
    (e: unknown) => { port.postMessage(`error: ${errorText(e)}`); process.exit(1); },
  );
}

/** --prefill: range's key space put once, untimed, by keel-bench's own put workload (32 clients). */
async function prefill(o: Options, value: Buffer): Promise<void> {
  const total = Math.min(o.keySpaceSize, prefillKeysMax);
  const put: Options = { ...o, op: 'put', sequentialKeys: true };
  const conns = await connect(o.endpoints, o.durationMaxSeconds);
  const ctl = new LoopControl(o.durationMaxSeconds);
  const r = await runLoop(makeKvDriver(put, conns, value, ctl), { clients: 32, quota: total, rate: 0, progress: new Int32Array(1), progressSlot: 0, workerIndex: 0, workerCount: 1 }, ctl);
  for (const c of conns) c.close();
  if (r.count < total) throw new Error(`prefill: ${total - r.count} puts failed (${Object.keys(r.errors).join('; ')})`);
}

/** --target-leader: the endpoint whose Maintenance.Status says it leads (header.member_id == leader), as etcd's benchmark. */
async function leaderEndpoint(endpoints: string[]): Promise<string> {
  const seen: string[] = [];
  const answers = await Promise.all(endpoints.map(async (e) => {
    const client = new Client({ endpoints: [e] });
    const s = await client.status({ timeoutMs: 3_000 }).catch((err: unknown) => { seen.push(`${e}: ${errorText(err)}`); });
    client.close();
    const member = String(s?.header?.member_id ?? '');
    if (s !== undefined) seen.push(`${e}: member ${member}, leader ${s.leader}`);
    return member !== '' && member !== '0' && member === String(s?.leader) ? e : undefined;
  }));
  const leader = answers.find((a) => a !== undefined);
  if (leader === undefined) throw new Error(`--target-leader: no endpoint is the leader (${seen.join('; ')})`);
  return leader;
}

// ---- entry -----------------------------------------------------------------

async function run(o: Options, progress: Progress): Promise<RunOutput> {
  if (o.op === 'watch') return runWatch(o, progress);
  if (o.op === 'watch-get') return runWatchGet(o, progress);
  const value = randomBytes(o.valSize);
  if (o.prefill && o.op === 'range') await prefill(o, value);
  const counts = new Int32Array(new SharedArrayBuffer(4 * o.workers));
  const onGo = (): void => progress.start(o.op, o.total, () => counts.reduce((s, n) => s + n, 0));
  const { results, cpu, wallMs } = await runWorkers(makePlans(o, new Uint8Array(value), counts), onGo);
  progress.finish();
  return runOutputFromWorkers(o, results, cpu, wallMs);
}

/** keel-bench's command line, callable from other tools (compare-cluster's old --txn-load mode). */
export async function cli(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  if (o.targetLeader) o.endpoints = [await leaderEndpoint(o.endpoints)];
  const progress = new Progress(progressMode(o.progress));
  const out = await run(o, progress);
  progress.finish();
  const report = makeReport(o, out);
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : formatReport(report, o.precise));
}

if (!isMainThread) {
  workerMain();
} else if (require.main === module) {
  cli(process.argv.slice(2)).then(
    () => process.exit(0),
    (e: unknown) => { process.stderr.write(`keel-bench: ${errorText(e)}\n`); process.exit(1); },
  );
}
