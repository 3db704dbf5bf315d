// keel-bench load tool: drives put/range load at any etcd v3 endpoint (keel or
// etcd) and prints a report shaped like etcd's `benchmark` tool.
//
//   npm run bench -- put   --clients 100 --conns 10 --total 20000 --val-size 256
//   npm run bench -- range [KEY [END]] --consistency s --clients 100 --conns 10
//
// Requests are serialized once per distinct key and sent through grpc-js's
// makeUnaryRequest with identity coding, so the client spends its CPU on the
// transport rather than on reflection-based protobuf. Responses are decoded
// fully only for the first answer on each connection (a sanity check); the
// rest are counted. With --workers N the clients are spread over N
// worker_threads, each with its own connections; the report shows the process
// CPU and each worker's event-loop utilization so a reader can tell whether
// the load generator, not the server, was the limit.
import * as grpc from '@grpc/grpc-js';
import * as os from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { etcdService } from '../src/proto';

type Op = 'put' | 'range';

export interface Options {
  op: Op;
  endpoints: string[];
  conns: number;
  clients: number;
  total: number;
  keySize: number;
  valSize: number;
  keySpaceSize: number;
  sequentialKeys: boolean;
  consistency: 'l' | 's';
  limit: number;
  rangeKey: string | undefined;
  rangeEnd: string | undefined;
  prefill: boolean;
  rate: number;
  workers: number;
  json: boolean;
  durationMaxSeconds: number;
}

/** What one worker is asked to do; global indices keep keys and endpoints disjoint across workers. */
interface WorkerPlan {
  options: Options;
  workerIndex: number;
  workerCount: number;
  clients: number;
  connIndices: number[];
  quota: number;
  rate: number;
  value: Uint8Array;
}

export interface WorkerResult {
  latenciesMs: Float64Array;
  count: number;
  errors: Record<string, number>;
  startEpochMs: number;
  endEpochMs: number;
  elu: number;
  lateDispatches: number;
  unfinished: number;
  hardStopped: boolean;
}

const usage = `usage: keel-bench put|range [KEY [END]] [flags]
  --endpoints LIST        comma separated host:port (default 127.0.0.1:2379)
  --conns N               gRPC connections (default 1)
  --clients N             concurrent clients (default 1); with --rate, the in-flight cap
  --total N               requests in all (default 10000)
  --key-size N            bytes per key (default 8)
  --val-size N            bytes per value (default 8)
  --key-space-size N      distinct keys (default 1)
  --sequential-keys       key i%key-space-size instead of random keys
  --consistency l|s       range: linearizable or serializable (default l)
  --limit N               range: maximum keys returned (default 0 = no limit)
  --prefill               range: put every key of the key space first (untimed)
  --rate N                open loop at N requests/s (default 0 = closed loop)
  --workers N             worker_threads carrying the clients (default 1 = inline)
  --duration-max S        hard stop after S seconds (default 120)
  --json                  one JSON object instead of the text report`;

// Bounds: every loop and buffer in this tool has one.
const totalMax = 50_000_000;
const clientsMax = 10_000;
const connsMax = 1_000;
const workersMax = 64;
const prefillKeysMax = 100_000;
const cachedRequestsMax = 1 << 17;
const errorKindsMax = 20;
const connectTimeoutMs = 10_000;
const stopGraceMs = 2_000;
const latencyInitialSamples = 1 << 16;

function fail(message: string): never {
  process.stderr.write(`keel-bench: ${message}\n${usage}\n`);
  process.exit(2);
}

function intFlag(name: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined) fail(`--${name} needs a value`);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer in [${min}, ${max}], got ${raw}`);
  return n;
}

function numFlag(name: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined) fail(`--${name} needs a value`);
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number in [${min}, ${max}], got ${raw}`);
  return n;
}

export function parseArgs(argv: string[]): Options {
  const o: Options = {
    op: 'put', endpoints: ['127.0.0.1:2379'], conns: 1, clients: 1, total: 10_000, keySize: 8, valSize: 8,
    keySpaceSize: 1, sequentialKeys: false, consistency: 'l', limit: 0, rangeKey: undefined, rangeEnd: undefined,
    prefill: false, rate: 0, workers: 1, json: false, durationMaxSeconds: 120,
  };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) { positional.push(arg); continue; }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    switch (name) {
      case 'endpoints': o.endpoints = (value() ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''); break;
      case 'conns': o.conns = intFlag(name, value(), 1, connsMax); break;
      case 'clients': o.clients = intFlag(name, value(), 1, clientsMax); break;
      case 'total': o.total = intFlag(name, value(), 1, totalMax); break;
      case 'key-size': o.keySize = intFlag(name, value(), 1, 16 << 20); break;
      case 'val-size': o.valSize = intFlag(name, value(), 0, 16 << 20); break;
      case 'key-space-size': o.keySpaceSize = intFlag(name, value(), 1, 2 ** 40); break;
      case 'sequential-keys': o.sequentialKeys = true; break;
      case 'consistency': {
        const c = value();
        if (c !== 'l' && c !== 's') fail('--consistency must be l or s');
        o.consistency = c;
        break;
      }
      case 'limit': o.limit = intFlag(name, value(), 0, 2 ** 40); break;
      case 'prefill': o.prefill = true; break;
      case 'rate': o.rate = numFlag(name, value(), 0, 10_000_000); break;
      case 'workers': o.workers = intFlag(name, value(), 1, workersMax); break;
      case 'json': o.json = true; break;
      case 'duration-max': o.durationMaxSeconds = numFlag(name, value(), 0.1, 86_400); break;
      case 'help': process.stdout.write(`${usage}\n`); process.exit(0); break;
      default: fail(`unknown flag --${name}`);
    }
  }
  const op = positional.shift();
  if (op !== 'put' && op !== 'range') fail('first argument must be put or range');
  o.op = op;
  if (op === 'range') { o.rangeKey = positional.shift(); o.rangeEnd = positional.shift(); }
  if (positional.length > 0) fail(`unexpected argument ${positional[0]}`);
  if (o.endpoints.length === 0) fail('--endpoints is empty');
  o.endpoints = o.endpoints.map(normalizeEndpoint);
  if (o.workers > o.clients) o.workers = o.clients;
  if (varintBytes(o.keySpaceSize - 1) > o.keySize) fail(`--key-size ${o.keySize} cannot hold ${o.keySpaceSize} distinct keys`);
  return o;
}

function normalizeEndpoint(e: string): string {
  if (e.startsWith('https://') || e.startsWith('unixs://')) fail(`TLS endpoints are not supported: ${e}`);
  return e.replace(/^http:\/\//, '');
}

// ---- keys and requests -----------------------------------------------------

/** Bytes of Go's binary.PutVarint(n) for n >= 0 (zigzag: 2n as uvarint). */
function varintBytes(n: number): number {
  let u = n * 2;
  let bytes = 1;
  while (u >= 128) { u = Math.floor(u / 128); bytes++; }
  return bytes;
}

/** The key etcd's benchmark uses: key-size zero bytes with PutVarint(n) at the front. */
export function benchKey(n: number, keySize: number): Buffer {
  const key = Buffer.alloc(keySize);
  let u = n * 2;
  let i = 0;
  while (u >= 128) { key[i++] = (u % 128) | 0x80; u = Math.floor(u / 128); }
  key[i] = u;
  return key;
}

type Method = grpc.MethodDefinition<object, object>;

/**
 * protobufjs writes every field present on the object, even at its default,
 * and etcd reads an explicitly empty range_end as "to the end of the key
 * space" (Go sees a non-nil empty slice). So fields at their default are left
 * off, exactly as etcd's Go client does.
 */
function rangeRequest(o: Options, key: Buffer): Record<string, unknown> {
  const r: Record<string, unknown> = { key };
  if (o.rangeEnd !== undefined && o.rangeEnd !== '') r['range_end'] = Buffer.from(o.rangeEnd);
  if (o.limit > 0) r['limit'] = String(o.limit);
  if (o.consistency === 's') r['serializable'] = true;
  return r;
}

interface RequestSource { next(globalIndex: number): Buffer }

function requestSource(o: Options, method: Method, value: Uint8Array): RequestSource {
  const encode = (n: number): Buffer => {
    if (o.op === 'put') return method.requestSerialize({ key: benchKey(n, o.keySize), value: Buffer.from(value) });
    return method.requestSerialize(rangeRequest(o, benchKey(n, o.keySize)));
  };
  if (o.op === 'range' && o.rangeKey !== undefined) {
    const fixed = method.requestSerialize(rangeRequest(o, Buffer.from(o.rangeKey)));
    return { next: () => fixed };
  }
  const cache: (Buffer | undefined)[] = o.keySpaceSize <= cachedRequestsMax ? new Array(o.keySpaceSize) : [];
  const pick = o.sequentialKeys
    ? (g: number): number => g % o.keySpaceSize
    : (): number => Math.floor(Math.random() * o.keySpaceSize);
  return {
    next(g: number): Buffer {
      const n = pick(g);
      if (o.keySpaceSize > cachedRequestsMax) return encode(n);
      let b = cache[n];
      if (b === undefined) { b = encode(n); cache[n] = b; }
      return b;
    },
  };
}

// ---- connections -----------------------------------------------------------

const KV = etcdService('KV');

function kvMethod(op: Op): Method {
  const m = KV.service[op === 'put' ? 'Put' : 'Range'];
  if (m === undefined) throw new Error(`KV.${op} missing from the proto`);
  return m as Method;
}

export function connect(endpoint: string): grpc.Client {
  // A local subchannel pool gives every client its own TCP connection; the
  // default global pool would fold all --conns into one.
  return new KV(endpoint, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
}

export function waitReady(clients: grpc.Client[], durationMaxSeconds: number): Promise<void> {
  const deadline = Date.now() + Math.min(connectTimeoutMs, Math.max(2_000, durationMaxSeconds * 1000));
  return Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => {
    c.waitForReady(deadline, (err) => (err ? reject(new Error(`connect ${c.getChannel().getTarget()}: ${err.message}`)) : resolve()));
  }))).then(() => undefined);
}

const identity = (b: Buffer): Buffer => b;

export function errorKind(err: grpc.ServiceError): string {
  const code = grpc.status[err.code] ?? String(err.code);
  // One kind per message, not per occurrence: grpc-js appends timings and addresses after a comma.
  const details = String(err.details ?? err.message).split(',')[0] ?? '';
  return `${code}: ${details.replace(/\d+(\.\d+)?/g, 'N').slice(0, 120)}`;
}

export function countError(errors: Record<string, number>, kind: string): void {
  if (errors[kind] === undefined && Object.keys(errors).length >= errorKindsMax) kind = 'other';
  errors[kind] = (errors[kind] ?? 0) + 1;
}

// ---- one worker's load loop ------------------------------------------------

/**
 * Runs one worker's share. Connects first, then (after `go`) issues `quota`
 * requests closed-loop (each client waits for its answer) or open-loop at
 * `rate` (latency counted from the scheduled send time, so a slow server's
 * queueing is not hidden). Stops issuing at the hard stop.
 */
async function runPlan(plan: WorkerPlan, ready: () => Promise<void>): Promise<WorkerResult> {
  const o = plan.options;
  const method = kvMethod(o.op);
  const conns = plan.connIndices.map((g) => connect(o.endpoints[g % o.endpoints.length] as string));
  await waitReady(conns, o.durationMaxSeconds);
  const source = requestSource(o, method, plan.value);
  const checked = new Array<boolean>(conns.length).fill(false);
  await ready();

  let latencies: Float64Array = new Float64Array(Math.min(plan.quota, latencyInitialSamples));
  const errors: Record<string, number> = {};
  let count = 0;
  let issued = 0;
  let inflight = 0;
  let lateDispatches = 0;
  let hardStopped = false;
  const eluStart = performance.eventLoopUtilization();
  const startEpochMs = performance.timeOrigin + performance.now();
  const t0 = performance.now();
  const hardStopAt = t0 + o.durationMaxSeconds * 1000;
  // Later than the grace below, so a hung server's calls end as "unfinished", not as errors.
  const deadline = new Date(Date.now() + o.durationMaxSeconds * 1000 + stopGraceMs + 1000);
  const options: grpc.CallOptions = { deadline };
  const metadata = new grpc.Metadata();

  let done = false;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => { finish = () => { done = true; resolve(); }; });
  const maybeFinish = (): void => { if (inflight === 0 && (issued >= plan.quota || hardStopped)) finish(); };

  const send = (client: number, scheduledAt: number, then: () => void): void => {
    const conn = client % conns.length;
    const g = issued * plan.workerCount + plan.workerIndex;
    issued++;
    inflight++;
    const request = source.next(g);
    (conns[conn] as grpc.Client).makeUnaryRequest(method.path, identity, identity, request, metadata, options,
      (err, response) => {
        if (done) return; // abandoned at the hard stop; already counted as unfinished
        inflight--;
        if (err) countError(errors, errorKind(err));
        else if (response !== undefined && !checked[conn] && !validResponse(method, response)) countError(errors, 'bad response');
        else {
          checked[conn] = true;
          if (count === latencies.length) latencies = grow(latencies, plan.quota);
          if (count < latencies.length) latencies[count++] = performance.now() - scheduledAt;
        }
        then();
      });
  };

  // At the hard stop: issue nothing more, wait a short grace for answers, then abandon the rest.
  let graceTimer: NodeJS.Timeout | undefined;
  const stopTimer = setTimeout(() => {
    hardStopped = true;
    maybeFinish();
    graceTimer = setTimeout(finish, stopGraceMs);
  }, o.durationMaxSeconds * 1000);
  if (plan.rate <= 0) {
    const loop = (client: number): void => {
      if (issued >= plan.quota || hardStopped) { maybeFinish(); return; }
      send(client, performance.now(), () => loop(client));
    };
    for (let c = 0; c < plan.clients && c < plan.quota; c++) loop(c);
  } else {
    const intervalMs = 1000 / plan.rate;
    let timer: NodeJS.Timeout | undefined;
    let nextClient = 0;
    const onTimer = (): void => { timer = undefined; tick(); };
    const tick = (): void => {
      const now = performance.now();
      while (issued < plan.quota && !hardStopped && inflight < plan.clients) {
        const due = t0 + issued * intervalMs;
        if (due > now) break;
        if (now - due > 1) lateDispatches++;
        send(nextClient, due, tick);
        nextClient = (nextClient + 1) % plan.clients;
      }
      if (issued >= plan.quota || hardStopped) { maybeFinish(); return; }
      if (timer === undefined && inflight < plan.clients) {
        timer = setTimeout(onTimer, Math.max(0, t0 + issued * intervalMs - now));
      }
    };
    tick();
  }
  await finished;
  clearTimeout(stopTimer);
  if (graceTimer !== undefined) clearTimeout(graceTimer);
  if (performance.now() > hardStopAt) hardStopped = true;
  const endEpochMs = performance.timeOrigin + performance.now();
  const elu = performance.eventLoopUtilization(eluStart).utilization;
  const unfinished = inflight;
  for (const c of conns) c.close();
  return { latenciesMs: latencies.subarray(0, count), count, errors, startEpochMs, endEpochMs, elu, lateDispatches, unfinished, hardStopped };
}

/** Doubles a latency buffer, never past the worker's quota. */
function grow(a: Float64Array, quota: number): Float64Array {
  const b = new Float64Array(Math.min(quota, a.length * 2));
  b.set(a);
  return b;
}

function validResponse(method: Method, response: Buffer): boolean {
  try {
    const decoded = method.responseDeserialize(response) as { header?: { revision?: string } | null };
    return decoded.header !== undefined && decoded.header !== null && decoded.header.revision !== undefined;
  } catch {
    return false;
  }
}

// ---- planning and workers --------------------------------------------------

function share(n: number, parts: number, index: number): number {
  return Math.floor(n / parts) + (index < n % parts ? 1 : 0);
}

function makePlans(o: Options, value: Uint8Array): WorkerPlan[] {
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
      quota: share(o.total, o.workers, w), rate: (o.rate * clients) / o.clients, value,
    });
  }
  return plans;
}

async function runWorkers(plans: WorkerPlan[]): Promise<{ results: WorkerResult[]; cpu: NodeJS.CpuUsage; wallMs: number }> {
  if (plans.length === 1) {
    let cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    const result = await runPlan(plans[0] as WorkerPlan, async () => { cpuStart = process.cpuUsage(); });
    return { results: [result], cpu: process.cpuUsage(cpuStart), wallMs: performance.now() - wallStart };
  }
  const workers = plans.map((plan) => new Worker(__filename, { workerData: plan }));
  const readies = workers.map((w) => new Promise<void>((resolve, reject) => {
    w.once('message', (m: unknown) => (m === 'ready' ? resolve() : reject(new Error(`worker said ${String(m)}`))));
    w.once('error', reject);
  }));
  const killAfterMs = (plans[0] as WorkerPlan).options.durationMaxSeconds * 1000 + connectTimeoutMs + 10_000;
  const killer = setTimeout(() => { for (const w of workers) void w.terminate(); }, killAfterMs);
  try {
    await Promise.all(readies);
    const done = workers.map((w) => new Promise<WorkerResult>((resolve, reject) => {
      w.once('message', (m: WorkerResult) => resolve(m));
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`worker exited (${code}) before reporting`)));
    }));
    const cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    for (const w of workers) w.postMessage('go');
    const results = await Promise.all(done);
    return { results, cpu: process.cpuUsage(cpuStart), wallMs: performance.now() - wallStart };
  } finally {
    clearTimeout(killer);
    for (const w of workers) void w.terminate();
  }
}

function workerMain(): void {
  const plan = workerData as WorkerPlan;
  const port = parentPort;
  if (port === null) throw new Error('worker without parentPort');
  const ready = (): Promise<void> => new Promise((resolve) => {
    port.once('message', () => resolve());
    port.postMessage('ready');
  });
  runPlan(plan, ready).then(
    (r) => port.postMessage(r, [r.latenciesMs.buffer as ArrayBuffer]),
    (e: unknown) => { port.postMessage(`error: ${e instanceof Error ? e.message : String(e)}`); process.exit(1); },
  );
}

// ---- prefill ---------------------------------------------------------------

async function prefill(o: Options, value: Uint8Array): Promise<void> {
  const keys = Math.min(o.keySpaceSize, prefillKeysMax);
  const method = kvMethod('put');
  const conns = o.endpoints.map(connect);
  await waitReady(conns, o.durationMaxSeconds);
  let next = 0;
  let failures = 0;
  const deadline = new Date(Date.now() + o.durationMaxSeconds * 1000);
  const loop = (resolve: () => void, c: number): void => {
    if (next >= keys || failures > 100) { resolve(); return; }
    const request = method.requestSerialize({ key: benchKey(next++, o.keySize), value: Buffer.from(value) });
    (conns[c % conns.length] as grpc.Client).makeUnaryRequest(method.path, identity, identity, request, new grpc.Metadata(),
      { deadline }, (err) => { if (err) failures++; loop(resolve, c); });
  };
  await Promise.all(Array.from({ length: 32 }, (_, c) => new Promise<void>((resolve) => loop(resolve, c))));
  for (const c of conns) c.close();
  if (failures > 0) throw new Error(`prefill: ${failures} puts failed`);
}

// ---- report ----------------------------------------------------------------

export interface Report {
  tool: 'keel-bench';
  op: Op;
  consistency?: 'l' | 's';
  endpoints: string[];
  clients: number;
  conns: number;
  workers: number;
  rate: number;
  total: number;
  ok: number;
  errors: number;
  errorKinds: Record<string, number>;
  unfinished: number;
  hardStopped: boolean;
  lateDispatches: number;
  seconds: number;
  rps: number;
  fastest_ms: number;
  slowest_ms: number;
  average_ms: number;
  stddev_ms: number;
  p10_ms: number; p25_ms: number; p50_ms: number; p75_ms: number;
  p90_ms: number; p95_ms: number; p99_ms: number; p999_ms: number;
  histogram: { le_ms: number; count: number }[];
  cpu: { user_s: number; system_s: number; core_percent: number; machine_percent: number; cores: number; elu: number[] };
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export function buildReport(o: Options, results: WorkerResult[], cpu: NodeJS.CpuUsage, wallMs: number): Report {
  const ok = results.reduce((s, r) => s + r.count, 0);
  const all = new Float64Array(ok);
  let at = 0;
  for (const r of results) { all.set(r.latenciesMs, at); at += r.count; }
  all.sort();
  const errorKinds: Record<string, number> = {};
  for (const r of results) for (const [k, n] of Object.entries(r.errors)) errorKinds[k] = (errorKinds[k] ?? 0) + n;
  const errors = Object.values(errorKinds).reduce((s, n) => s + n, 0);
  const start = Math.min(...results.map((r) => r.startEpochMs));
  const end = Math.max(...results.map((r) => r.endEpochMs));
  const seconds = Math.max(1e-9, (end - start) / 1000);
  let sum = 0;
  for (const x of all) sum += x;
  const mean = ok > 0 ? sum / ok : 0;
  let sq = 0;
  for (const x of all) sq += (x - mean) ** 2;
  const fastest = ok > 0 ? (all[0] as number) : 0;
  const slowest = ok > 0 ? (all[ok - 1] as number) : 0;
  const cores = os.availableParallelism();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const report: Report = {
    tool: 'keel-bench', op: o.op, endpoints: o.endpoints, clients: o.clients, conns: Math.max(o.conns, o.workers),
    workers: results.length, rate: o.rate, total: o.total, ok, errors, errorKinds,
    unfinished: results.reduce((s, r) => s + r.unfinished, 0),
    hardStopped: results.some((r) => r.hardStopped),
    lateDispatches: results.reduce((s, r) => s + r.lateDispatches, 0),
    seconds, rps: ok / seconds, fastest_ms: fastest, slowest_ms: slowest, average_ms: mean,
    stddev_ms: ok > 0 ? Math.sqrt(sq / ok) : 0,
    p10_ms: quantile(all, 0.1), p25_ms: quantile(all, 0.25), p50_ms: quantile(all, 0.5), p75_ms: quantile(all, 0.75),
    p90_ms: quantile(all, 0.9), p95_ms: quantile(all, 0.95), p99_ms: quantile(all, 0.99), p999_ms: quantile(all, 0.999),
    histogram: histogram(all, fastest, slowest),
    cpu: {
      user_s: cpu.user / 1e6, system_s: cpu.system / 1e6, core_percent: (100 * cpuMs) / wallMs,
      machine_percent: (100 * cpuMs) / wallMs / cores, cores, elu: results.map((r) => r.elu),
    },
  };
  if (o.op === 'range') report.consistency = o.consistency;
  return report;
}

/** etcd's benchmark histogram: ten equal-width buckets between fastest and slowest. */
function histogram(sorted: Float64Array, fastest: number, slowest: number): { le_ms: number; count: number }[] {
  if (sorted.length === 0) return [];
  const buckets = 10;
  const width = (slowest - fastest) / buckets;
  const out: { le_ms: number; count: number }[] = [];
  let i = 0;
  for (let b = 0; b <= buckets; b++) {
    const le = b === buckets ? slowest : fastest + width * b;
    let count = 0;
    while (i < sorted.length && (sorted[i] as number) <= le) { count++; i++; }
    out.push({ le_ms: le, count });
  }
  return out;
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(4);
}

export function formatReport(r: Report): string {
  const lines: string[] = [];
  const what = r.op === 'range' ? `range (${r.consistency === 's' ? 'serializable' : 'linearizable'})` : 'put';
  const mode = r.rate > 0 ? `open loop at ${r.rate}/s, in-flight cap ${r.clients}` : 'closed loop';
  lines.push(`keel-bench ${what}: ${r.clients} clients, ${r.conns} conns, ${r.workers} worker(s), ${mode}, endpoints ${r.endpoints.join(',')}`);
  lines.push('', 'Summary:');
  lines.push(`  Total:\t${r.seconds.toFixed(4)} secs.`);
  lines.push(`  Slowest:\t${secs(r.slowest_ms)} secs.`);
  lines.push(`  Fastest:\t${secs(r.fastest_ms)} secs.`);
  lines.push(`  Average:\t${secs(r.average_ms)} secs.`);
  lines.push(`  Stddev:\t${secs(r.stddev_ms)} secs.`);
  lines.push(`  Requests/sec:\t${r.rps.toFixed(4)}`);
  lines.push(`  Completed:\t${r.ok} of ${r.total}${r.hardStopped ? ' (hard stop: --duration-max reached)' : ''}`);
  lines.push(`  Errors:\t${r.errors}${r.unfinished > 0 ? `, unfinished at stop: ${r.unfinished}` : ''}`);
  for (const [k, n] of Object.entries(r.errorKinds)) lines.push(`    ${n}\t${k}`);
  if (r.rate > 0) lines.push(`  Late sends:\t${r.lateDispatches} (>1 ms behind schedule; latency counts from the schedule)`);
  if (r.histogram.length > 0) {
    lines.push('', 'Response time histogram:');
    const max = Math.max(...r.histogram.map((h) => h.count));
    for (const h of r.histogram) {
      const bar = max > 0 ? '∎'.repeat(Math.round((40 * h.count) / max)) : '';
      lines.push(`  ${secs(h.le_ms)} [${h.count}]\t|${bar}`);
    }
  }
  lines.push('', 'Latency distribution:');
  const ps: [string, number][] = [
    ['10', r.p10_ms], ['25', r.p25_ms], ['50', r.p50_ms], ['75', r.p75_ms],
    ['90', r.p90_ms], ['95', r.p95_ms], ['99', r.p99_ms], ['99.9', r.p999_ms],
  ];
  for (const [p, v] of ps) lines.push(`  ${p}% in ${secs(v)} secs.`);
  lines.push('', 'Load generator:');
  lines.push(`  CPU:\tuser ${r.cpu.user_s.toFixed(2)} s, system ${r.cpu.system_s.toFixed(2)} s = ${r.cpu.core_percent.toFixed(0)}% of one core (${r.cpu.machine_percent.toFixed(0)}% of ${r.cpu.cores} cores)`);
  lines.push(`  Event-loop utilization per worker:\t${r.cpu.elu.map((e) => e.toFixed(2)).join(', ')}`);
  if (r.cpu.elu.some((e) => e > 0.9)) {
    const hint = r.workers < r.cpu.cores ? ` (try --workers ${r.workers + 1})` : '';
    lines.push(`  WARNING: a worker's event loop was >90% busy: the client may be the bottleneck${hint}.`);
  }
  return `${lines.join('\n')}\n`;
}

// ---- entry -----------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const value = new Uint8Array(randomBytes(o.valSize));
  if (o.prefill && o.op === 'range') await prefill(o, value);
  const { results, cpu, wallMs } = await runWorkers(makePlans(o, value));
  const report = buildReport(o, results, cpu, wallMs);
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : formatReport(report));
}

if (!isMainThread) {
  workerMain();
} else if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => { process.stderr.write(`keel-bench: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(1); },
  );
}
