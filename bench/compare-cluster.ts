// bench:compare — the same workloads against a 3-member keel cluster and a
// 3-member etcd cluster (3.5 when installed, else Debian's 3.4; or both), all
// on loopback, in one run, alternating, then a markdown section appended to
// bench/RESULTS.md: keel/etcd ratios of requests/s, p50 and p99, server CPU
// per request (summed over the members), and each side's peak RSS.
//
//   npm run bench:compare                       # ~5–6 minutes: 2 rounds + Go loadgen cross-check
//   npm run bench:compare -- --quick            # ~2 minutes: 1 round, shorter runs
//   npm run bench:compare -- --profile          # keel's leader under --cpu-prof, put 100 clients: "where the time goes"
//   node dist/bench/compare-cluster.js --summarize-profile FILE.cpuprofile [--keel-root DIR]
//   flags: --rounds N --budget S --etcd 3.5|3.4|3.4,3.5 --no-loadgen --loadgen PATH --keel-root DIR
//          --no-append --results FILE --wait-idle S --profile-seconds S --note TEXT
//
// Members are started exactly as an operator would: three processes of
// `node bin/keel.js` (or `etcd`) with --name, --data-dir, --listen/advertise
// client and peer URLs, --initial-cluster and --initial-cluster-state new,
// all at once; a member is up when it logs "ready to serve client requests".
// The load is bench/load.ts (spawned as its own process, like bench:single),
// with the three endpoints leader first: its connections go round-robin over
// them as etcd's benchmark tool does. txn-put is load.ts's txn-put with
// --random-keys --txn-guard: If(mod_revision(k) > -1) Then(put k v) on a random
// key, exactly the Go loadgen's txn-put. The Go load generator
// (/work/shared/tools/loadgen, etcd's clientv3) is the cross-check that the
// Node client is not the limit.
//
// Every process this starts is tracked by PID and stopped on exit, on error
// and on Ctrl-C; nothing else is touched. Every run is bounded by count and
// by time (--duration-max, plus a kill timer), and every wait loop by both.
import * as grpc from '@grpc/grpc-js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { etcdService } from '../src/proto';
import { cli as loadCli, connect, waitReady, type Report } from './load';

// ---- constants ---------------------------------------------------------------

const repoRoot = findRepoRoot();
const loadScript = path.join(__dirname, 'load.js');
const readyLine = 'ready to serve client requests';
const memberCount = 3;
const clusterStartTimeoutMs = 60_000;
const clusterStartAttempts = 2;
const killGraceMs = 8_000;
const logTailLinesMax = 40;
const valSize = 256;
const putKeySpace = 10_000;
const rangeKeySpace = 1_000;
const runOverheadS = 1.5;
const runMinS = 2;
const statusTimeoutMs = 3_000;
const leaderPollsMax = 40;
const leaderPollIntervalMs = 500;
const rssSampleIntervalMs = 1_000;
const idleMeasureMs = 3_000;
const profileTopN = 15;
const profileNodesMax = 5_000_000;
const etcdBins: Record<string, string> = { '3.5': '/opt/etcd35/usr/bin/etcd', '3.4': '/usr/bin/etcd' };

function findRepoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`repository root not found above ${__dirname}`);
}

function log(s: string): void {
  process.stderr.write(`compare-cluster: ${s}\n`);
}

// ---- configuration -------------------------------------------------------------

interface Config {
  mode: 'compare' | 'profile' | 'summarize';
  quick: boolean;
  rounds: number;
  budgetSeconds: number;
  durationMaxS: number;
  loadgen: string | undefined;
  etcds: string[];
  keelRoot: string;
  append: boolean;
  resultsFile: string;
  waitIdleSeconds: number;
  profileSeconds: number;
  profileFile: string | undefined;
  profileWorkload: string;
  note: string | undefined;
}

const usage = `usage: compare-cluster [--quick] [--rounds N] [--budget S] [--etcd 3.5|3.4|3.4,3.5] [--no-loadgen]
       [--loadgen PATH] [--keel-root DIR] [--no-append] [--results FILE] [--wait-idle S] [--note TEXT]
       compare-cluster --profile [--profile-seconds S] [--profile-workload put-100|put-1|range-l-100|range-s-100|txn-put-100]
                       [--keel-root DIR] [--no-append]
       compare-cluster --summarize-profile FILE.cpuprofile [--keel-root DIR]`;

function parseConfig(argv: string[]): Config {
  const c: Config = {
    mode: 'compare', quick: false, rounds: 2, budgetSeconds: 250, durationMaxS: 12, loadgen: '/tmp/loadgen',
    etcds: [], keelRoot: repoRoot, append: true, resultsFile: path.join(repoRoot, 'bench', 'RESULTS.md'),
    waitIdleSeconds: 0, profileSeconds: 20, profileFile: undefined, profileWorkload: 'put-100', note: undefined,
  };
  let roundsSet = false;
  let budgetSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--quick': c.quick = true; break;
      case '--rounds': c.rounds = positiveInt(a, next(), 20); roundsSet = true; break;
      case '--budget': c.budgetSeconds = positiveInt(a, next(), 3_600); budgetSet = true; break;
      case '--etcd': c.etcds = next().split(',').map((s) => s.trim()).filter((s) => s !== ''); break;
      case '--no-loadgen': c.loadgen = undefined; break;
      case '--loadgen': c.loadgen = path.resolve(next()); break;
      case '--keel-root': c.keelRoot = path.resolve(next()); break;
      case '--no-append': c.append = false; break;
      case '--results': c.resultsFile = path.resolve(next()); break;
      case '--wait-idle': c.waitIdleSeconds = positiveInt(a, next(), 3_600); break;
      case '--profile': c.mode = 'profile'; break;
      case '--profile-seconds': c.profileSeconds = positiveInt(a, next(), 600); break;
      case '--profile-workload': c.profileWorkload = next(); break;
      case '--summarize-profile': c.mode = 'summarize'; c.profileFile = path.resolve(next()); break;
      case '--note': c.note = next(); break;
      case '--help': process.stdout.write(`${usage}\n`); process.exit(0); break;
      default: throw new Error(`unknown flag ${a}\n${usage}`);
    }
  }
  for (const e of c.etcds) if (etcdBins[e] === undefined) throw new Error(`--etcd: unknown version ${e} (3.4 or 3.5)`);
  if (c.etcds.length === 0) c.etcds = fs.existsSync(etcdBins['3.5'] as string) ? ['3.5'] : ['3.4'];
  if (c.quick && !roundsSet) c.rounds = 1;
  if (c.quick && !budgetSet) c.budgetSeconds = 80;
  if (c.quick) c.durationMaxS = 6;
  if (c.loadgen !== undefined && !fs.existsSync(c.loadgen)) {
    log(`${c.loadgen} not found: no Go cross-check (build it: bash /work/shared/tools/loadgen/build.sh ${c.loadgen})`);
    c.loadgen = undefined;
  }
  if (!workloads(false).some((w) => w.id === c.profileWorkload)) throw new Error(`--profile-workload: unknown workload ${c.profileWorkload}`);
  if (!fs.existsSync(path.join(c.keelRoot, 'bin', 'keel.js'))) throw new Error(`${c.keelRoot}/bin/keel.js not found`);
  return c;
}

function positiveInt(flag: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${flag} must be an integer in [1, ${max}]`);
  return n;
}

// ---- workloads -------------------------------------------------------------------

interface Workload {
  id: string;
  title: string;
  loadArgs: string[];
  /** undefined: loadgen has no such op (watch), the Node client only. */
  loadgenOp: 'put' | 'range' | 'range-serializable' | 'txn-put' | undefined;
  clients: number;
  conns: number;
  total: number;
}

function workloads(quick: boolean): Workload[] {
  const scale = quick ? 0.5 : 1;
  const w = (id: string, title: string, op: string[], loadgenOp: Workload['loadgenOp'],
    clients: number, conns: number, total: number): Workload => {
    const t = Math.round(total * scale);
    const keySpace = op[0] === 'range' ? rangeKeySpace : putKeySpace;
    return {
      id, title, loadgenOp, clients, conns, total: t,
      loadArgs: [...op, '--conns', String(conns), '--clients', String(clients), '--total', String(t),
        '--key-size', '8', '--val-size', String(valSize), '--key-space-size', String(keySpace)],
    };
  };
  return [
    w('put-1', 'put, 1 client', ['put'], 'put', 1, 1, 2_000),
    w('put-100', 'put, 100 clients / 10 conns', ['put'], 'put', 100, 10, 20_000),
    w('range-l-100', 'range linearizable, 100 clients / 10 conns', ['range', '--consistency', 'l'], 'range', 100, 10, 20_000),
    w('range-s-100', 'range serializable, 100 clients / 10 conns', ['range', '--consistency', 's'], 'range-serializable', 100, 10, 20_000),
    w('txn-put-100', 'txn-put, 100 clients / 10 conns', ['txn-put', '--random-keys', '--txn-guard'], 'txn-put', 100, 10, 20_000),
    watchWorkload(quick),
  ];
}

/**
 * 1,000 watchers on one key over 10 streams, puts paced at 20/s: the cells are
 * put→event latency over every delivery (rps = events delivered per second).
 */
function watchWorkload(quick: boolean): Workload {
  const puts = quick ? 60 : 120;
  return {
    id: 'watch-1000', title: 'watch: put→event, 1,000 watchers on one key, 20 puts/s (rps = events/s)', loadgenOp: undefined,
    clients: 1, conns: 10, total: puts * 1000,
    loadArgs: ['watch', '--conns', '10', '--streams', '10', '--watch-per-stream', '100', '--watched-key-total', '1',
      '--put-total', String(puts), '--put-rate', '20', '--val-size', String(valSize)],
  };
}

function nodeLoadCommand(w: Workload, endpoints: string, capS: number | string): string[] {
  return [loadScript, ...w.loadArgs, '--endpoints', endpoints, '--duration-max', String(capS), '--json'];
}

/**
 * loadgen writes min(key-space, 1000) keys one by one before a range op
 * (untimed, but inside the server-CPU window), so its keys are written once at
 * setup and range runs pass -key-space 1 (one seed write); they still read 0..999.
 */
function loadgenArgs(w: Workload, endpoints: string, label: string, total: number): string[] {
  const keySpace = w.loadgenOp?.startsWith('range') === true ? 1 : putKeySpace;
  return ['-endpoints', endpoints, '-op', w.loadgenOp ?? '', '-conns', String(w.conns), '-clients', String(w.clients),
    '-total', String(total), '-val-size', String(valSize), '-key-space', String(keySpace), '-label', label];
}

/**
 * Writes the keys loadgen's range ops read (fmt "%08d" of 0..999, values of
 * 256 'v's), as loadgen's own seed would, but 20 at a time instead of one by one.
 */
async function seedLoadgenKeys(endpoints: string): Promise<void> {
  const put = serviceMethod('KV', 'Put');
  const eps = endpoints.split(',');
  const conns = eps.map((e) => connect(e));
  await waitReady(conns, 30);
  const value = Buffer.from('v'.repeat(valSize));
  const deadline = new Date(Date.now() + 60_000);
  let next = 0;
  let failures = 0;
  let lastError = '';
  const loop = (c: number, done: () => void): void => {
    if (next >= rangeKeySpace || failures > 20) { done(); return; }
    const key = Buffer.from(String(next++).padStart(8, '0'));
    (conns[c % conns.length] as grpc.Client).makeUnaryRequest(put.path, identity, identity, put.requestSerialize({ key, value }),
      new grpc.Metadata(), { deadline }, (err) => {
        if (err) { failures++; lastError = err.message; }
        loop(c, done);
      });
  };
  await Promise.all(Array.from({ length: 20 }, (_, c) => new Promise<void>((resolve) => loop(c, resolve))));
  for (const c of conns) c.close();
  if (failures > 0) throw new Error(`loadgen seed: ${failures} puts failed (${lastError})`);
}

const loadgenSeedText = 'put "%08d" of 0..999 = 256 × "v" (20 in flight, from compare-cluster), as loadgen\'s own range seed writes them';

function prefillArgs(endpoints: string): string[] {
  return [loadScript, 'put', '--sequential-keys', '--key-space-size', String(rangeKeySpace), '--total', String(rangeKeySpace),
    '--clients', '10', '--conns', '3', '--val-size', String(valSize), '--endpoints', endpoints, '--duration-max', '60', '--json'];
}

// ---- gRPC helpers ----------------------------------------------------------------

type Method = grpc.MethodDefinition<object, object>;

function serviceMethod(service: 'KV' | 'Maintenance', name: string): Method {
  const m = etcdService(service).service[name];
  if (m === undefined) throw new Error(`${service}.${name} missing from the proto`);
  return m as Method;
}

const identity = (b: Buffer): Buffer => b;

// ---- process bookkeeping ---------------------------------------------------------

const started = new Map<number, ChildProcess>();
const tempDirs: string[] = [];
let stopping = false;
/** Set by Ctrl-C/SIGTERM: the signal handler stops everything and exits; the run just winds down. */
let interrupted = false;
/** Members that exited on their own: pid -> why. */
const exits = new Map<number, string>();
const logTails = new Map<number, string[]>();

function spawnTracked(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  if (stopping) throw new Error('stopping');
  const child = spawn(bin, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`spawn ${bin} failed (no pid)`);
  const pid = child.pid;
  started.set(pid, child);
  child.once('exit', () => started.delete(pid));
  return child;
}

async function stopPid(pid: number): Promise<void> {
  const child = started.get(pid);
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), killGraceMs).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}

async function cleanup(): Promise<void> {
  stopping = true;
  await Promise.all([...started.keys()].map(stopPid));
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  tempDirs.length = 0;
}

function killAllNow(): void {
  for (const pid of started.keys()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of tempDirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } }
}

function installSignalHandlers(): void {
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) { killAllNow(); process.exit(130); }
    stopping = true;
    interrupted = true;
    process.stderr.write(`\ncompare-cluster: ${sig}, stopping the processes it started\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', killAllNow);
}

function makeTempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `keel-cmp-${prefix}-`));
  tempDirs.push(d);
  return d;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a child with a kill timer; resolves with its stdout (or rejects with its stderr). */
function runChild(bin: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(bin, args, repoRoot);
    const pid = child.pid as number;
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => { if (out.length < 1 << 20) out += d.toString('utf8'); });
    child.stderr?.on('data', (d: Buffer) => { if (err.length < 1 << 16) err += d.toString('utf8'); });
    const timer = setTimeout(() => { void stopPid(pid); }, timeoutMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(bin)} exited ${code ?? sig}: ${(err || out).trim().slice(-400)}`));
    });
  });
}

function lastJsonLine(out: string): Record<string, unknown> {
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

// ---- clusters --------------------------------------------------------------------

interface Member {
  name: string;
  pid: number;
  /** host:port */
  endpoint: string;
  command: string;
  logFile: string;
  /** Member ID as Status reports it (decimal string), once known. */
  id: string;
}

interface Cluster {
  name: string;
  version: string;
  members: Member[];
  /** host:port list, leader first. */
  endpoints: string;
  leader: string;
  term: string;
  /** Set when a member exits on its own. */
  exited: string[];
}

function serverEnv(): NodeJS.ProcessEnv {
  // ETCD_* in the caller's environment would change both servers' config behind the flags.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD')) env[k] = v;
  return env;
}

/** Starts one member and resolves once its log says it serves clients (which needs a quorum). */
function startMember(label: string, bin: string, args: string[], cwd: string, logFile: string): { pid: number; ready: Promise<void> } {
  const child = spawnTracked(bin, args, cwd, serverEnv());
  const pid = child.pid as number;
  const out = fs.createWriteStream(logFile);
  const tail: string[] = [];
  logTails.set(pid, tail);
  const pushTail = (line: string): void => {
    tail.push(line.slice(0, 400));
    if (tail.length > logTailLinesMax) tail.shift();
  };
  child.once('exit', (code, sig) => {
    out.end();
    if (!stopping) exits.set(pid, `${label} (pid ${pid}) exited (${code ?? sig})`);
  });
  const ready = new Promise<void>((resolve, reject) => {
    let settled = false;
    let partial = '';
    const timer = setTimeout(() => fail(`no "${readyLine}" within ${clusterStartTimeoutMs / 1000}s`), clusterStartTimeoutMs);
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${label}: ${why}\n    ${tail.slice(-8).join('\n    ')}`));
    };
    const scan = (chunk: Buffer): void => {
      out.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      if (partial.length > 65_536) partial = '';
      for (const line of lines) {
        if (line.trim() !== '') pushTail(line);
        if (!settled && line.includes(readyLine)) { settled = true; clearTimeout(timer); resolve(); }
      }
    };
    child.stdout?.on('data', scan);
    child.stderr?.on('data', scan);
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, sig) => fail(`exited (${code ?? sig}) before it was ready`));
  });
  return { pid, ready };
}

interface ClusterSpec {
  name: string;
  /** The executable and what comes before the member flags, for member i (0-based). */
  exec: (i: number) => { bin: string; pre: string[]; shown: string };
  cwd: string;
  version: () => string;
}

function keelSpec(keelRoot: string, nodeFlagsFor: (i: number) => string[] = () => []): ClusterSpec {
  const bin = path.join(keelRoot, 'bin', 'keel.js');
  return {
    name: 'keel', cwd: keelRoot,
    exec: (i) => {
      const flags = nodeFlagsFor(i);
      return { bin: process.execPath, pre: [...flags, bin], shown: ['node', ...flags, 'bin/keel.js'].join(' ') };
    },
    version: () => {
      const v = versionOf(process.execPath, [bin, '--version'], keelRoot);
      return `${v !== '' ? v : 'keel ?'}${gitInfo(keelRoot)}`;
    },
  };
}

function etcdSpec(version: string): ClusterSpec {
  const bin = etcdBins[version] as string;
  return {
    name: `etcd-${version}`, cwd: repoRoot,
    exec: () => ({ bin, pre: [], shown: bin }),
    version: () => versionOf(bin, ['--version'], repoRoot),
  };
}

function versionOf(bin: string, args: string[], cwd: string): string {
  const r = spawnSync(bin, args, { cwd, timeout: 15_000, encoding: 'utf8' });
  return (`${r.stdout ?? ''}`.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 80);
}

function gitInfo(dir: string): string {
  const head = spawnSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', timeout: 10_000 });
  if (head.status !== 0) return ` (${dir}, not a git checkout)`;
  const dirty = spawnSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no', '--', 'src', 'cmd', 'bin'],
    { encoding: 'utf8', timeout: 10_000 });
  const changed = `${dirty.stdout ?? ''}`.trim().split('\n').filter((l) => l !== '').length;
  return ` (git ${head.stdout.trim()}${changed > 0 ? `, ${changed} uncommitted file(s) in src/cmd/bin` : ''})`;
}

/** The flags keel and etcd share, identical for both. */
function memberFlags(dir: string, name: string, clientUrl: string, peerUrl: string, initialCluster: string): string[] {
  return ['--name', name, '--data-dir', path.join(dir, name), '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', initialCluster,
    '--initial-cluster-state', 'new'];
}

async function startClusterOnce(spec: ClusterSpec): Promise<Cluster> {
  const dir = makeTempDir(spec.name);
  const ports: number[] = [];
  for (let i = 0; i < 2 * memberCount; i++) ports.push(await freePort());
  const names = Array.from({ length: memberCount }, (_, i) => `m${i + 1}`);
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[memberCount + i] as number}`;
  const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
  const members: Member[] = [];
  const readies: Promise<void>[] = [];
  for (let i = 0; i < memberCount; i++) {
    const name = names[i] as string;
    const clientUrl = `http://127.0.0.1:${ports[i] as number}`;
    const flags = memberFlags(dir, name, clientUrl, peerUrl(i), initialCluster);
    const ex = spec.exec(i);
    const logFile = path.join(dir, `${name}.log`);
    const m = startMember(`${spec.name} ${name}`, ex.bin, [...ex.pre, ...flags], spec.cwd, logFile);
    readies.push(m.ready);
    members.push({ name, pid: m.pid, endpoint: `127.0.0.1:${ports[i] as number}`, command: `${ex.shown} ${flags.join(' ')}`, logFile, id: '' });
  }
  try {
    await Promise.all(readies);
  } catch (e) {
    await Promise.all(members.map((m) => stopPid(m.pid)));
    for (const m of members) exits.delete(m.pid);
    throw e;
  }
  const cluster: Cluster = { name: spec.name, version: spec.version(), members, endpoints: '', leader: '', term: '', exited: [] };
  await settleLeader(cluster);
  return cluster;
}

async function startCluster(spec: ClusterSpec): Promise<Cluster> {
  let last: unknown;
  for (let attempt = 1; attempt <= clusterStartAttempts; attempt++) {
    try {
      return await startClusterOnce(spec);
    } catch (e) {
      last = e;
      if (stopping) break;
      log(`${spec.name}: start attempt ${attempt} failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

// ---- Maintenance.Status: leader, term ---------------------------------------------

interface MemberStatus { memberId: string; leader: string; raftTerm: string; raftIndex: string }

function unary(endpoint: string, service: 'Maintenance', name: string, request: object): Promise<Record<string, unknown>> {
  const method = serviceMethod(service, name);
  const client = new grpc.Client(endpoint, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new grpc.Metadata(),
      { deadline: new Date(Date.now() + statusTimeoutMs) }, (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res as Record<string, unknown>);
      });
  });
}

async function memberStatus(endpoint: string): Promise<MemberStatus> {
  const r = await unary(endpoint, 'Maintenance', 'Status', {});
  const header = r['header'] as { member_id?: string } | null | undefined;
  return {
    memberId: String(header?.member_id ?? ''), leader: String(r['leader'] ?? ''),
    raftTerm: String(r['raftTerm'] ?? ''), raftIndex: String(r['raftIndex'] ?? ''),
  };
}

/** Polls Status on every member (bounded) until all name the same leader; orders the endpoints leader first. */
async function settleLeader(c: Cluster): Promise<void> {
  let lastErr = '';
  for (let i = 0; i < leaderPollsMax && !stopping; i++) {
    const statuses = await Promise.all(c.members.map((m) => memberStatus(m.endpoint).catch((e: unknown) => {
      lastErr = `${m.name}: ${e instanceof Error ? e.message : String(e)}`;
      return undefined;
    })));
    if (statuses.every((s) => s !== undefined)) {
      const ss = statuses as MemberStatus[];
      ss.forEach((s, k) => { (c.members[k] as Member).id = s.memberId; });
      const leader = ss[0]?.leader ?? '';
      const leaderIdx = ss.findIndex((s) => s.memberId === leader);
      if (leader !== '' && leader !== '0' && ss.every((s) => s.leader === leader) && leaderIdx >= 0) {
        const order = [leaderIdx, ...c.members.map((_, k) => k).filter((k) => k !== leaderIdx)];
        c.members = order.map((k) => c.members[k] as Member);
        c.endpoints = c.members.map((m) => m.endpoint).join(',');
        c.leader = (c.members[0] as Member).name;
        c.term = ss[leaderIdx]?.raftTerm ?? '';
        return;
      }
      lastErr = `members disagree on the leader: ${ss.map((s) => s.leader).join(', ')}`;
    }
    await sleep(leaderPollIntervalMs);
  }
  throw new Error(`${c.name}: no agreed leader after ${leaderPollsMax} polls (${lastErr})`);
}

/** Leader and term now, for the "did anything change during the run" check. */
async function leaderNow(c: Cluster): Promise<string> {
  const parts: string[] = [];
  for (const m of c.members) {
    try {
      const s = await memberStatus(m.endpoint);
      const leader = c.members.find((x) => x.id === s.leader)?.name ?? s.leader;
      parts.push(`${m.name}: leader ${leader}, term ${s.raftTerm}`);
    } catch (e) {
      parts.push(`${m.name}: ${e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e)}`);
    }
  }
  return parts.join('; ');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- measuring -------------------------------------------------------------------

const clockTicksPerSecond = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 });
  const n = Number(r.stdout);
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** CPU seconds (user + system, all threads) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
}

/** CPU seconds of this process plus its reaped children (the load tools). */
function selfAndChildrenSeconds(): number {
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
}

function machineTicks(): { busy: number; total: number } {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

interface CpuMark { wallMs: number; machine: { busy: number; total: number }; ours: number }

function cpuMark(pids: number[]): CpuMark {
  return { wallMs: Date.now(), machine: machineTicks(), ours: selfAndChildrenSeconds() + pids.reduce((s, p) => s + (cpuSeconds(p) || 0), 0) };
}

/** Cores kept busy, on average, by processes other than this run's (servers of both sides, load tools, this one). */
function otherCores(a: CpuMark, b: CpuMark): number {
  const wallS = (b.wallMs - a.wallMs) / 1000;
  const busyS = (b.machine.busy - a.machine.busy) / clockTicksPerSecond;
  return wallS > 0 ? Math.max(0, (busyS - (b.ours - a.ours)) / wallS) : NaN;
}

/** CPU seconds per thread name of a process (the main thread as "main (JS)"), user and system, from /proc/PID/task. */
function threadCpu(pid: number): Map<string, { user: number; system: number }> {
  const out = new Map<string, { user: number; system: number }>();
  let tids: string[] = [];
  try { tids = fs.readdirSync(`/proc/${pid}/task`).slice(0, 1_000); } catch { return out; }
  for (const tid of tids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = tid === String(pid) ? 'main (JS)' : comm.replace(/\d+$/, 'N');
      const e = out.get(name) ?? { user: 0, system: 0 };
      e.user += Number(f[11]) / clockTicksPerSecond;
      e.system += Number(f[12]) / clockTicksPerSecond;
      out.set(name, e);
    } catch { /* thread gone */ }
  }
  return out;
}

function threadCpuText(before: Map<string, { user: number; system: number }>, after: Map<string, { user: number; system: number }>,
  requests: number): string {
  const rows: [string, number, number][] = [];
  for (const [name, a] of after) {
    const b = before.get(name) ?? { user: 0, system: 0 };
    rows.push([name, a.user - b.user, a.system - b.system]);
  }
  rows.sort((x, y) => y[1] + y[2] - (x[1] + x[2]));
  return rows.filter((r) => r[1] + r[2] > 0)
    .map(([n, u, sy]) => `${n} ${fmtInt(((u + sy) * 1e6) / Math.max(1, requests))} µs/req (user ${u.toFixed(2)} s, system ${sy.toFixed(2)} s)`)
    .join('; ');
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Samples each cluster's summed VmRSS; VmHWM (the kernel's own peak) is read at the end. */
class RssSampler {
  readonly peakSumKiB = new Map<string, number>();
  readonly lastHwmKiB = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly clusters: Cluster[]) {}
  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), rssSampleIntervalMs);
    this.timer.unref();
  }
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.sample();
  }
  sample(): void {
    for (const c of this.clusters) {
      let sum = 0;
      for (const m of c.members) {
        sum += statusKiB(m.pid, 'VmRSS') || 0;
        const hwm = statusKiB(m.pid, 'VmHWM');
        if (Number.isFinite(hwm)) this.lastHwmKiB.set(m.pid, hwm);
      }
      this.peakSumKiB.set(c.name, Math.max(this.peakSumKiB.get(c.name) ?? 0, sum));
    }
  }
  hwmSumMiB(c: Cluster): number {
    return c.members.reduce((s, m) => s + (this.lastHwmKiB.get(m.pid) ?? NaN), 0) / 1024;
  }
}

// ---- runs ------------------------------------------------------------------------

interface RunResult {
  seconds: number;
  otherCores: number;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  errors: number;
  unfinished: number;
  /** Whole cluster's CPU per completed request, µs. */
  serverCpuUsPerReq: number;
  /** Per member, leader first. */
  memberCpuUsPerReq: number[];
  clientCpuPercent: number;
  hardStopped: boolean;
  errorKinds: Record<string, number>;
}

function memberCpu(c: Cluster): number[] {
  return c.members.map((m) => cpuSeconds(m.pid));
}

function perRequest(before: number[], after: number[], ok: number): { total: number; members: number[] } {
  const members = after.map((a, i) => (ok > 0 ? ((a - (before[i] ?? NaN)) * 1e6) / ok : NaN));
  return { total: members.reduce((s, x) => s + x, 0), members };
}

async function runNode(c: Cluster, w: Workload, capS: number): Promise<RunResult> {
  const cpu0 = memberCpu(c);
  const out = await runChild(process.execPath, nodeLoadCommand(w, c.endpoints, capS), (capS + 30) * 1000);
  const cpu1 = memberCpu(c);
  const r = lastJsonLine(out) as unknown as Report;
  const per = perRequest(cpu0, cpu1, r.ok);
  return {
    seconds: r.seconds, otherCores: NaN, rps: r.rps, p50: r.p50_ms, p99: r.p99_ms, ok: r.ok, errors: r.errors,
    unfinished: r.unfinished, serverCpuUsPerReq: per.total, memberCpuUsPerReq: per.members,
    clientCpuPercent: r.cpu.core_percent, hardStopped: r.hardStopped, errorKinds: r.errorKinds,
  };
}

async function runLoadgen(bin: string, c: Cluster, w: Workload, total: number, timeoutS: number): Promise<RunResult> {
  const cpu0 = memberCpu(c);
  const out = await runChild(bin, loadgenArgs(w, c.endpoints, c.name, total), timeoutS * 1000);
  const cpu1 = memberCpu(c);
  const r = lastJsonLine(out) as { seconds: number; rps: number; p50_ms: number; p99_ms: number; ok: number; errors: number };
  const per = perRequest(cpu0, cpu1, r.ok);
  return {
    seconds: r.seconds, otherCores: NaN, rps: r.rps, p50: r.p50_ms, p99: r.p99_ms, ok: r.ok, errors: r.errors, unfinished: 0,
    serverCpuUsPerReq: per.total, memberCpuUsPerReq: per.members, clientCpuPercent: NaN, hardStopped: false,
    errorKinds: r.errors > 0 ? { 'loadgen errors (kinds not reported)': r.errors } : {},
  };
}

// ---- statistics and tables ---------------------------------------------------------

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

interface Cell { runs: RunResult[]; failures: string[] }
type Results = Map<string, Map<string, Cell>>; // workload id -> cluster name -> cell

function cell(results: Results, w: string, t: string): Cell {
  let byTarget = results.get(w);
  if (byTarget === undefined) { byTarget = new Map(); results.set(w, byTarget); }
  let c = byTarget.get(t);
  if (c === undefined) { c = { runs: [], failures: [] }; byTarget.set(t, c); }
  return c;
}

function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–';
}

function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
}

function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–';
}

interface Summary { rps: number; p50: number; p99: number; cpu: number; text: string }

function summary(c: Cell | undefined): Summary {
  if (c === undefined || c.runs.length === 0) {
    const why = c !== undefined && c.failures.length > 0 ? 'failed' : 'n/a';
    return { rps: NaN, p50: NaN, p99: NaN, cpu: NaN, text: why };
  }
  const rps = median(c.runs.map((r) => r.rps));
  const p50 = median(c.runs.map((r) => r.p50));
  const p99 = median(c.runs.map((r) => r.p99));
  const cpu = median(c.runs.map((r) => r.serverCpuUsPerReq));
  const flags = (c.runs.some((r) => r.errors > 0) || c.failures.length > 0 ? ' ⚠errors' : '') + (c.runs.some((r) => r.hardStopped) ? ' ⏱' : '');
  return { rps, p50, p99, cpu, text: `${fmtInt(rps)} / ${fmtMs(p50)} / ${fmtMs(p99)}${flags}` };
}

function mainTable(results: Results, ws: Workload[], names: string[]): string {
  const etcds = names.filter((t) => t !== 'keel');
  const vs = etcds.length === 1 ? (etcds[0] as string) : 'best etcd';
  const head = ['workload', ...names.map((t) => `${t} rps / p50 ms / p99 ms`), `rps keel/${vs}`, `p50 keel/${vs}`,
    `p99 keel/${vs}`, `server CPU µs/req, 3 members (keel / ${vs})`];
  const rows = [head, head.map(() => '---')];
  for (const w of ws) {
    const sums = names.map((t) => summary(results.get(w.id)?.get(t)));
    const keel = sums[names.indexOf('keel')];
    // The reference etcd is the one with the most requests/s on this workload.
    let ref: Summary | undefined;
    for (const e of etcds) {
      const s = summary(results.get(w.id)?.get(e));
      if (Number.isFinite(s.rps) && (ref === undefined || s.rps > ref.rps)) ref = s;
    }
    const r = (f: (s: Summary) => number): number => (keel !== undefined && ref !== undefined ? f(keel) / f(ref) : NaN);
    const cpuText = keel !== undefined && ref !== undefined && Number.isFinite(keel.cpu) && Number.isFinite(ref.cpu)
      ? `${fmtInt(keel.cpu)} / ${fmtInt(ref.cpu)} = ${fmtRatio(keel.cpu / ref.cpu)}` : '–';
    rows.push([w.title, ...sums.map((s) => s.text), fmtRatio(r((s) => s.rps)), fmtRatio(r((s) => s.p50)),
      fmtRatio(r((s) => s.p99)), cpuText]);
  }
  return rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
}

function detailTable(results: Results, ws: Workload[], names: string[]): string {
  const head = ['workload', 'target', 'rps per round', 'ok requests per round', 'server CPU µs/req (all 3)',
    'per member µs/req (leader, follower, follower)', 'client CPU % of a core', 'other work (cores)', 'errors'];
  const rows = [head, head.map(() => '---')];
  for (const w of ws) {
    for (const t of names) {
      const c = results.get(w.id)?.get(t);
      if (c === undefined) continue;
      const errs = c.runs.reduce((s, r) => s + r.errors, 0);
      const unfinished = c.runs.reduce((s, r) => s + r.unfinished, 0);
      const kinds = new Map<string, number>();
      for (const r of c.runs) for (const [k, n] of Object.entries(r.errorKinds)) kinds.set(k, (kinds.get(k) ?? 0) + n);
      const errText = errs === 0 && c.failures.length === 0 && unfinished === 0 ? '0'
        : [`${errs}`, ...[...kinds].slice(0, 3).map(([k, n]) => `${n}× ${k}`),
          ...(unfinished > 0 ? [`${unfinished} unanswered at the time cap`] : []),
          ...c.failures.map((f) => `run failed: ${f}`)].join('; ').replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, 400);
      const perMember = [0, 1, 2].map((k) => fmtInt(median(c.runs.map((r) => r.memberCpuUsPerReq[k] ?? NaN)))).join(', ');
      rows.push([
        w.id, t, c.runs.map((r) => fmtInt(r.rps)).join(', ') || '–', c.runs.map((r) => String(r.ok)).join(', ') || '–',
        fmtInt(median(c.runs.map((r) => r.serverCpuUsPerReq))), perMember,
        c.runs.some((r) => Number.isFinite(r.clientCpuPercent)) ? fmtInt(median(c.runs.map((r) => r.clientCpuPercent))) : '–',
        c.runs.map((r) => (Number.isFinite(r.otherCores) ? r.otherCores.toFixed(2) : '–')).join(', ') || '–',
        errText,
      ]);
    }
  }
  return rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
}

// ---- the comparison ------------------------------------------------------------------

async function waitIdle(maxS: number): Promise<void> {
  const until = Date.now() + maxS * 1000;
  for (let i = 0; i < 10_000 && Date.now() < until; i++) {
    const a = machineTicks();
    await sleep(2000);
    const b = machineTicks();
    const busyCores = ((b.busy - a.busy) / (b.total - a.total)) * os.availableParallelism();
    if (busyCores < 0.2) return;
    if (i % 5 === 0) log(`waiting for an idle machine: ${busyCores.toFixed(2)} cores busy`);
  }
  log('machine still busy; measuring anyway');
}

async function measureIdle(clusters: Cluster[]): Promise<Map<string, number>> {
  const before = clusters.map(memberCpu);
  const t0 = Date.now();
  await sleep(idleMeasureMs);
  const wallS = (Date.now() - t0) / 1000;
  const out = new Map<string, number>();
  clusters.forEach((c, i) => {
    const after = memberCpu(c);
    const used = after.reduce((s, a, k) => s + (a - ((before[i] as number[])[k] ?? NaN)), 0);
    out.set(c.name, (100 * used) / wallS);
  });
  return out;
}

async function compareMain(cfg: Config): Promise<void> {
  if (cfg.waitIdleSeconds > 0) await waitIdle(cfg.waitIdleSeconds);
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const ws = workloads(cfg.quick);
  const specs = [keelSpec(cfg.keelRoot), ...cfg.etcds.map(etcdSpec)];
  const unavailable: string[] = [];
  const clusters: Cluster[] = [];
  // Started one after the other so neither's start-up (and first election) is slowed by the other's.
  for (const spec of specs) {
    try {
      const c = await startCluster(spec);
      clusters.push(c);
      log(`${c.name} (${c.version}) up: leader ${c.leader}, endpoints ${c.endpoints}, pids ${c.members.map((m) => m.pid).join(' ')}`);
    } catch (e) {
      unavailable.push(`${spec.name}: ${e instanceof Error ? e.message : String(e)}`);
      log(`${spec.name} not available: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!clusters.some((c) => c.name === 'keel') || clusters.length < 2) throw new Error(`need keel and an etcd: ${unavailable.join('; ')}`);
  const allPids = clusters.flatMap((c) => c.members.map((m) => m.pid));
  const rss = new RssSampler(clusters);
  rss.start();
  const rssAfterStartMiB = new Map(clusters.map((c) => [c.name, c.members.reduce((s, m) => s + statusKiB(m.pid, 'VmRSS'), 0) / 1024]));

  // Untimed setup, both sides at once: the range key spaces of load.ts and of loadgen.
  const setupStart = Date.now();
  await Promise.all(clusters.map(async (c) => {
    await runChild(process.execPath, prefillArgs(c.endpoints), 90_000).catch((e: unknown) => log(`prefill ${c.name}: ${String(e)}`));
    if (cfg.loadgen !== undefined) await seedLoadgenKeys(c.endpoints).catch((e: unknown) => log(`loadgen seed ${c.name}: ${String(e)}`));
  }));
  log(`setup (prefill${cfg.loadgen !== undefined ? ' and loadgen seed' : ''}) took ${((Date.now() - setupStart) / 1000).toFixed(1)} s`);
  const idleCpu = await measureIdle(clusters);

  const measureStart = cpuMark(allPids);
  const deadline = Date.now() + cfg.budgetSeconds * 1000;
  const loadgenShare = cfg.loadgen !== undefined ? 0.3 : 0;
  const nodeDeadline = Date.now() + (deadline - Date.now()) * (1 - loadgenShare);
  const results: Results = new Map();
  const cross: Results = new Map();
  const caps: number[] = [];
  let skippedRuns = 0;
  let runsLeft = cfg.rounds * ws.length * clusters.length;
  let overheadS = runOverheadS;
  const capFor = (until: number): number | undefined => {
    const leftS = (until - Date.now()) / 1000 - runsLeft * overheadS;
    runsLeft--;
    if (leftS < runMinS) return undefined;
    return Math.max(runMinS, Math.min(cfg.durationMaxS, Math.floor(leftS / (runsLeft + 1))));
  };
  const noteOverhead = (wallS: number, measuredS: number): void => {
    overheadS = 0.7 * overheadS + 0.3 * Math.max(0.3, wallS - measuredS);
  };
  const down = (c: Cluster): string | undefined => {
    const gone = c.members.filter((m) => exits.has(m.pid)).map((m) => exits.get(m.pid) ?? m.name);
    return gone.length > 0 ? gone.join('; ') : undefined;
  };

  for (let round = 0; round < cfg.rounds; round++) {
    for (const [wi, w] of ws.entries()) {
      for (let k = 0; k < clusters.length; k++) {
        if (stopping) break;
        const c = clusters[(k + round + wi) % clusters.length] as Cluster;
        const capS = capFor(nodeDeadline) ?? (round === 0 ? runMinS : undefined);
        if (capS === undefined) { skippedRuns++; continue; }
        const ce = cell(results, w.id, c.name);
        const gone = down(c);
        if (gone !== undefined) { ce.failures.push(`member down: ${gone}`); continue; }
        try {
          const t0 = Date.now();
          const m0 = cpuMark(allPids);
          const r = await runNode(c, w, capS);
          r.otherCores = otherCores(m0, cpuMark(allPids));
          noteOverhead((Date.now() - t0) / 1000, r.seconds);
          caps.push(capS);
          ce.runs.push(r);
          log(`round ${round + 1} ${w.id.padEnd(12)} ${c.name.padEnd(9)} ${fmtInt(r.rps).padStart(7)} rps  p50 ${fmtMs(r.p50)} ms  `
            + `p99 ${fmtMs(r.p99)} ms  server ${fmtInt(r.serverCpuUsPerReq)} µs/req  client ${fmtInt(r.clientCpuPercent)}%  `
            + `other ${r.otherCores.toFixed(2)} cores${r.errors > 0 ? `  errors ${r.errors} ${JSON.stringify(r.errorKinds)}` : ''}`);
        } catch (e) {
          ce.failures.push(e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e));
          log(`round ${round + 1} ${w.id} ${c.name}: failed: ${String(e)}`);
        }
      }
    }
  }

  if (cfg.loadgen !== undefined) {
    runsLeft = ws.filter((w) => w.loadgenOp !== undefined).length * clusters.length;
    for (const [wi, w] of ws.entries()) {
      if (w.loadgenOp === undefined) continue;
      for (let k = 0; k < clusters.length; k++) {
        if (stopping) break;
        const c = clusters[(k + wi) % clusters.length] as Cluster;
        const capS = capFor(deadline);
        if (capS === undefined) { skippedRuns++; continue; }
        const ce = cell(cross, w.id, c.name);
        const gone = down(c);
        if (gone !== undefined) { ce.failures.push(`member down: ${gone}`); continue; }
        // loadgen has no time bound of its own: size its count from the Node
        // client's best rate on this side, so it should end within its cap
        // (loadgen is usually the faster client); kill it at twice the cap + slack.
        const nodeRps = Math.max(...(results.get(w.id)?.get(c.name)?.runs.map((r) => r.rps) ?? []).filter(Number.isFinite));
        const total = Number.isFinite(nodeRps) ? Math.min(w.total, Math.max(300, Math.round(nodeRps * capS))) : Math.min(w.total, 1000);
        try {
          const t0 = Date.now();
          const m0 = cpuMark(allPids);
          const r = await runLoadgen(cfg.loadgen, c, w, total, 2 * capS + 15);
          r.otherCores = otherCores(m0, cpuMark(allPids));
          noteOverhead((Date.now() - t0) / 1000, r.seconds);
          ce.runs.push(r);
          log(`loadgen ${w.id.padEnd(12)} ${c.name.padEnd(9)} ${fmtInt(r.rps).padStart(7)} rps  p50 ${fmtMs(r.p50)} ms  `
            + `p99 ${fmtMs(r.p99)} ms  server ${fmtInt(r.serverCpuUsPerReq)} µs/req  other ${r.otherCores.toFixed(2)} cores`
            + `${r.errors > 0 ? `  errors ${r.errors}` : ''}`);
        } catch (e) {
          ce.failures.push(e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e));
          log(`loadgen ${w.id} ${c.name}: failed: ${String(e)}`);
        }
      }
    }
  }

  if (interrupted) return;
  const otherDuring = otherCores(measureStart, cpuMark(allPids));
  rss.stop();
  const leadersAtEnd = new Map<string, string>();
  for (const c of clusters) leadersAtEnd.set(c.name, await leaderNow(c));
  for (const c of clusters) {
    for (const m of c.members) {
      const why = exits.get(m.pid);
      if (why !== undefined) c.exited.push(`${why}; last log lines:\n${(logTails.get(m.pid) ?? []).slice(-15).join('\n')}`);
    }
  }
  const errorLogLines = new Map(clusters.map((c) => [c.name, errorLines(c)]));
  const loadAfter = os.loadavg();
  await cleanup();

  const section = renderCompare({
    cfg, startedAt, finishedAt: new Date(), loadBefore, loadAfter, clusters, unavailable, ws, results, cross, rss,
    rssAfterStartMiB, idleCpu, skippedRuns, caps, otherDuring, leadersAtEnd, errorLogLines,
  });
  process.stdout.write(`${section}\n`);
  if (cfg.append) appendSection(cfg.resultsFile, section);
}

/** Error-level lines the members logged (first few), so crashes and odd states show in the report. */
function errorLines(c: Cluster): string[] {
  const out: string[] = [];
  for (const m of c.members) {
    let text = '';
    try { text = fs.readFileSync(m.logFile, 'utf8'); } catch { continue; }
    // JSON loggers (keel, etcd 3.5) by level; capnslog (etcd 3.4) by its E/C letter; Go and Node crashes by their banners.
    const lines = text.split('\n').filter((l) => /"level":"(error|dpanic|panic|fatal)"|^\S+ \S+ [EC] \| |^panic:|^fatal error:|Uncaught|AssertionError/.test(l));
    for (const l of lines.slice(0, 5)) out.push(`${m.name}: ${l.slice(0, 300)}`);
    if (lines.length > 5) out.push(`${m.name}: … ${lines.length - 5} more`);
  }
  return out;
}

function appendSection(file: string, section: string): void {
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8').trim() === '') fs.writeFileSync(file, '# keel benchmark results\n');
  fs.appendFileSync(file, `\n${section}\n`);
  log(`appended to ${path.relative(process.cwd(), file) || file}`);
}

interface CompareInput {
  cfg: Config;
  startedAt: Date;
  finishedAt: Date;
  loadBefore: number[];
  loadAfter: number[];
  clusters: Cluster[];
  unavailable: string[];
  ws: Workload[];
  results: Results;
  cross: Results;
  rss: RssSampler;
  rssAfterStartMiB: Map<string, number>;
  idleCpu: Map<string, number>;
  skippedRuns: number;
  caps: number[];
  otherDuring: number;
  leadersAtEnd: Map<string, string>;
  errorLogLines: Map<string, string[]>;
}

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

function machineLine(): string {
  const cpus = os.cpus();
  return `${os.availableParallelism()} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, `
    + `${os.type()} ${os.release()}, Node ${process.version}`;
}

function renderCompare(s: CompareInput): string {
  const names = s.clusters.map((c) => c.name);
  const stamp = s.startedAt.toISOString().replace('T', ' ').slice(0, 16);
  const la = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  const cores = os.availableParallelism();
  const args = process.argv.slice(2).map(shellQuote);
  const out: string[] = [];
  out.push(`## ${stamp} UTC — bench:compare${s.cfg.quick ? ' --quick' : ''} (3-member clusters)`);
  out.push('');
  out.push('Three members per side on loopback, started together with the same flags (below); keel and etcd clusters both up '
    + 'for the whole run, taking turns (order rotated per workload and round). Cells: **requests/s / p50 ms / p99 ms**, '
    + 'median over rounds. Ratios are keel ÷ etcd: above 1.00× keel does more requests/s; below 1.00× keel has the lower '
    + 'latency. Server CPU µs/req is user + system CPU of all three members (from /proc) per completed request: '
    + 'below 1.00× keel is cheaper. Clients go to the members round-robin per connection, leader first (so the '
    + 'one-client put goes to the leader; with 10 connections 4 go to the leader and 3 to each follower). '
    + '8-byte keys, 256-byte values; puts and txn-puts over 10,000 keys; ranges read one key of 1,000 written beforehand. '
    + 'txn-put is If(mod_revision(k) > -1) Then(put k v), as loadgen does it. ⏱ = a run hit its time cap before its count '
    + '(its rate is still valid); ⚠errors = see the details.');
  out.push('');
  if (s.cfg.note !== undefined) { out.push(`- Note: ${s.cfg.note}`); }
  out.push(`- Machine: ${machineLine()}`);
  out.push(`- Other work on the machine while measuring: ${s.otherDuring.toFixed(2)} of ${cores} cores on average `
    + `(load average 1/5/15 min before: ${la(s.loadBefore)}; after: ${la(s.loadAfter)})`
    + (s.otherDuring > 0.25
      ? ' — **shared machine: requests/s and latencies are depressed by an unknown amount, more for single-threaded'
        + ' processes (keel members, the Node client) than for multi-threaded Go ones; server CPU per request is the fairer comparison**'
      : ''));
  out.push(`- Servers: ${s.clusters.map((c) => `${c.name} = ${c.version}`).join('; ')}`);
  for (const u of s.unavailable) out.push(`- Not measured: ${u.split('\n')[0] ?? ''}`);
  out.push(`- Leader at start: ${s.clusters.map((c) => `${c.name} ${c.leader} (term ${c.term})`).join(', ')}; at the end: `
    + s.clusters.map((c) => `${c.name}: ${s.leadersAtEnd.get(c.name) ?? '?'}`).join(' — '));
  out.push(`- Peak RSS, sum of the 3 members' VmHWM: ${s.clusters.map((c) => `${c.name} ${fmtInt(s.rss.hwmSumMiB(c))} MiB`).join(', ')}`
    + ` (highest sampled sum of VmRSS: ${s.clusters.map((c) => `${c.name} ${fmtInt((s.rss.peakSumKiB.get(c.name) ?? NaN) / 1024)} MiB`).join(', ')};`
    + ` right after start-up: ${s.clusters.map((c) => `${c.name} ${fmtInt(s.rssAfterStartMiB.get(c.name) ?? NaN)} MiB`).join(', ')})`);
  out.push(`- Idle cluster CPU (3 s after setup, 3 members): ${s.clusters.map((c) => `${c.name} ${(s.idleCpu.get(c.name) ?? NaN).toFixed(1)} % of a core`).join(', ')}`
    + ' — the side not under load keeps costing this while the other is measured');
  out.push(`- Rounds: ${s.cfg.rounds}; each Node run capped by --duration-max, its share of a ${s.cfg.budgetSeconds} s budget `
    + `(caps used: ${s.caps.length > 0 ? `${Math.min(...s.caps)}–${Math.max(...s.caps)}` : '–'} s, at most ${s.cfg.durationMaxS}); `
    + `took ${Math.round((s.finishedAt.getTime() - s.startedAt.getTime()) / 1000)} s in all`
    + (s.skippedRuns > 0 ? `; ${s.skippedRuns} runs skipped (time budget)` : ''));
  out.push('');
  out.push('Node client (`dist/bench/load.js`, grpc-js, one process; txn-put is `txn-put --random-keys --txn-guard`):');
  out.push('');
  out.push(mainTable(s.results, s.ws, names));
  out.push('');
  out.push('<details><summary>per-round rps, CPU per request per side and per member, client CPU, other work, errors</summary>');
  out.push('');
  out.push(detailTable(s.results, s.ws, names));
  out.push('');
  out.push('</details>');
  if (s.cross.size > 0) {
    out.push('');
    out.push('Cross-check with the Go load generator (`loadgen`, etcd clientv3 3.4 balancer: every connection round-robins '
      + 'requests over all three endpoints; one run each, its count sized from the Node client\'s rate to fill about the run\'s cap):');
    out.push('');
    const crossWs = s.ws.filter((w) => w.loadgenOp !== undefined);
    out.push(mainTable(s.cross, crossWs, names));
    out.push('');
    out.push('<details><summary>loadgen details</summary>');
    out.push('');
    out.push(detailTable(s.cross, crossWs, names));
    out.push('');
    out.push('</details>');
  }
  for (const c of s.clusters) {
    for (const x of c.exited) {
      out.push('');
      out.push(`**${c.name}: ${x.split('\n')[0] ?? ''}**`);
      out.push('');
      out.push('```');
      out.push(x.split('\n').slice(1).join('\n').replace(/```/g, "'''"));
      out.push('```');
    }
    const errs = s.errorLogLines.get(c.name) ?? [];
    if (errs.length > 0) {
      out.push('');
      out.push(`<details><summary>${c.name}: error lines in the members' logs (${errs.length})</summary>`);
      out.push('');
      out.push('```');
      out.push(errs.join('\n').replace(/```/g, "'''"));
      out.push('```');
      out.push('');
      out.push('</details>');
    }
  }
  out.push('');
  out.push('<details><summary>exact commands</summary>');
  out.push('');
  out.push('```');
  out.push(`npm run bench:compare${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`);
  for (const c of s.clusters) for (const m of [...c.members].sort((a, b) => a.name.localeCompare(b.name))) out.push(`# ${c.name} ${m.name}: ${m.command}`);
  out.push('# EPS = the three client endpoints, leader first (host:port,host:port,host:port)');
  out.push(`# prefill (untimed, per side): node ${path.relative(repoRoot, loadScript)} ${prefillArgs('EPS').slice(1).join(' ')}`);
  for (const w of s.ws) out.push(`node ${nodeLoadCommand(w, 'EPS', 'CAP').map((a) => (path.isAbsolute(a) ? path.relative(repoRoot, a) : a)).join(' ')}`);
  if (s.cross.size > 0) {
    const lg = s.cfg.loadgen ?? 'loadgen';
    out.push(`# loadgen (bash /work/shared/tools/loadgen/build.sh ${lg}); seed, untimed, per side: ${loadgenSeedText}`);
    out.push('# -total: the smaller of the one below and what the Node client\'s rate on that side fills the run\'s cap with');
    for (const w of s.ws) if (w.loadgenOp !== undefined) out.push(`${lg} ${loadgenArgs(w, 'EPS', 'NAME', w.total).join(' ')}`);
  }
  out.push('```');
  out.push('');
  out.push('</details>');
  return out.join('\n');
}

// ---- profile: where keel's leader spends its time ---------------------------------------

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

/** Samples (≈ on-CPU time: a preempted or blocked thread takes no samples) and wall time until the next sample. */
interface Tally { n: number; us: number }

interface ProfileSummary {
  windowed: boolean;
  intervalUs: number;
  total: Tally;
  idle: Tally;
  busy: Tally;
  groups: [string, Tally][];
  top: { fn: string; where: string; group: string; t: Tally }[];
  callers: [string, Tally][];
}

const keelLayers = ['raft', 'storage', 'mvcc', 'lease', 'auth', 'server', 'transport', 'api', 'util', 'proto'];

function shortUrl(url: string, keelRoot: string): string {
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  for (const root of [keelRoot, repoRoot]) if (u.startsWith(`${root}/`)) u = u.slice(root.length + 1);
  return u;
}

/** The keel layer a script belongs to (dist/src/<layer>/…), or undefined. */
function keelLayer(url: string): string | undefined {
  const m = /\/dist\/src\/([a-z-]+)\//.exec(url);
  if (m !== null && keelLayers.includes(m[1] as string)) return m[1];
  if (/\/dist\/cmd\//.test(url)) return 'cmd';
  return undefined;
}

/** A frame's own group, or undefined when it should be charged to its caller (native functions, msgpackr). */
function frameGroup(f: CallFrame): string | undefined {
  const n = f.functionName;
  const u = f.url;
  if (n === '(garbage collector)') return 'GC';
  if (n === '(idle)') return 'idle';
  if (n === '(program)') return 'V8 / native, unattributed (program)';
  if (n === '(root)') return 'other';
  if (u === '') return undefined;
  if (/node_modules\/(@grpc\/|protobufjs\/|@protobufjs\/|long\/)/.test(u)) return 'grpc-js/protobuf';
  if (/node_modules\/(classic-level|abstract-level|level|level-supports|level-transcoder|module-error|maybe-combine-errors)\//.test(u)) return 'leveldb/storage';
  if (/node_modules\/msgpackr/.test(u)) return undefined;
  const layer = keelLayer(u);
  if (layer !== undefined) {
    switch (layer) {
      case 'raft': return 'raft';
      case 'mvcc': return 'mvcc';
      case 'storage': return 'leveldb/storage';
      case 'transport': return 'transport';
      case 'server': return 'server (member, apply, Ready loop)';
      case 'api': return 'api (keel gRPC handlers)';
      case 'proto': return 'grpc-js/protobuf';
      default: return 'keel other (lease, auth, util, cmd)';
    }
  }
  if (/^node:internal\/(http2|stream_base_commons|streams|net)|^node:(http2|net|stream)$/.test(u)) return 'node http2/net/streams (client gRPC + peer TCP)';
  if (u.startsWith('node:')) return 'node other (timers, events, buffers, …)';
  return 'other';
}

function summarizeProfile(file: string, keelRoot: string, windowUs?: [number, number]): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(p.nodes) || p.nodes.length > profileNodesMax) throw new Error(`${file}: not a .cpuprofile (or too large)`);
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const ch of n.children ?? []) parent.set(ch, n.id);
  }
  // Each sample lasts until the next one (DevTools' convention).
  const times: number[] = new Array(samples.length);
  let t = p.startTime;
  for (let i = 0; i < samples.length; i++) { t += deltas[i] ?? 0; times[i] = t; }
  let windowed = false;
  let [w0, w1] = [p.startTime, p.endTime];
  if (windowUs !== undefined && windowUs[0] >= p.startTime && windowUs[1] <= p.endTime + 1e6 && windowUs[0] < windowUs[1]) {
    [w0, w1] = windowUs;
    windowed = true;
  }
  const self = new Map<number, Tally>();
  for (let i = 0; i < samples.length; i++) {
    const ti = times[i] as number;
    if (ti < w0 || ti > w1) continue;
    const dur = Math.max(0, (i + 1 < samples.length ? (times[i + 1] as number) : p.endTime) - ti);
    const id = samples[i] as number;
    const e = self.get(id) ?? { n: 0, us: 0 };
    e.n++;
    e.us += dur;
    self.set(id, e);
  }
  // Memoized walks up the tree: a node's group (native and msgpackr frames take their caller's) and its nearest keel caller.
  const groupMemo = new Map<number, string>();
  const groupOf = (id: number): string => {
    const path: number[] = [];
    let cur: number | undefined = id;
    let g: string | undefined;
    for (let depth = 0; cur !== undefined && depth < 10_000; depth++) {
      const memo = groupMemo.get(cur);
      if (memo !== undefined) { g = memo; break; }
      path.push(cur);
      const node = byId.get(cur);
      g = node === undefined ? 'other' : frameGroup(node.callFrame);
      if (g !== undefined) break;
      cur = parent.get(cur);
    }
    const result = g ?? 'other';
    for (const x of path) groupMemo.set(x, result);
    return result;
  };
  const callerMemo = new Map<number, string>();
  const keelCallerOf = (id: number): string => {
    const path: number[] = [];
    let cur: number | undefined = id;
    let found: string | undefined;
    for (let depth = 0; cur !== undefined && depth < 10_000; depth++) {
      const memo = callerMemo.get(cur);
      if (memo !== undefined) { found = memo; break; }
      path.push(cur);
      const layer = keelLayer(byId.get(cur)?.callFrame.url ?? '');
      if (layer !== undefined) { found = layer; break; }
      cur = parent.get(cur);
    }
    const result = found ?? '(no keel frame on the stack)';
    for (const x of path) callerMemo.set(x, result);
    return result;
  };
  const add = (m: Map<string, Tally>, k: string, t: Tally): void => {
    const e = m.get(k) ?? { n: 0, us: 0 };
    e.n += t.n;
    e.us += t.us;
    m.set(k, e);
  };
  const groups = new Map<string, Tally>();
  const callers = new Map<string, Tally>();
  const fns = new Map<string, { fn: string; where: string; group: string; t: Tally }>();
  const total: Tally = { n: 0, us: 0 };
  const idle: Tally = { n: 0, us: 0 };
  for (const [id, t] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    total.n += t.n;
    total.us += t.us;
    const f = node.callFrame;
    const g = groupOf(id);
    if (g === 'idle') { idle.n += t.n; idle.us += t.us; continue; }
    add(groups, g, t);
    const special = f.functionName.startsWith('(');
    add(callers, special ? f.functionName : keelCallerOf(id), t);
    const fn = f.url === '' && !special ? `${f.functionName || '(anonymous)'} [native or generated]` : f.functionName || '(anonymous)';
    const where = f.url === '' ? '' : `${shortUrl(f.url, keelRoot)}:${f.lineNumber + 1}`;
    const key = `${fn}\u0000${where}\u0000${g}`;
    const e = fns.get(key) ?? { fn, where, group: g, t: { n: 0, us: 0 } };
    e.t.n += t.n;
    e.t.us += t.us;
    fns.set(key, e);
  }
  const sorted = (m: Map<string, Tally>): [string, Tally][] => [...m].sort((x, y) => y[1].n - x[1].n || y[1].us - x[1].us);
  const sortedDeltas = deltas.filter((d) => d > 0).sort((x, y) => x - y);
  return {
    windowed, intervalUs: sortedDeltas[Math.floor(sortedDeltas.length / 2)] ?? NaN, total, idle,
    busy: { n: total.n - idle.n, us: total.us - idle.us }, groups: sorted(groups), callers: sorted(callers),
    top: [...fns.values()].sort((x, y) => y.t.n - x.t.n || y.t.us - x.t.us).slice(0, profileTopN),
  };
}

function renderProfileSummary(s: ProfileSummary): string {
  const pctN = (t: Tally): string => (s.busy.n > 0 ? `${((100 * t.n) / s.busy.n).toFixed(1)} %` : '–');
  const pctW = (t: Tally): string => (s.busy.us > 0 ? `${((100 * t.us) / s.busy.us).toFixed(1)} %` : '–');
  const out: string[] = [];
  out.push(`Main-thread samples${s.windowed ? ' in the load window' : ' (whole profile)'}: ${s.total.n} over ${(s.total.us / 1e6).toFixed(1)} s `
    + `(median interval ${fmtInt(s.intervalUs)} µs); idle ${s.idle.n}, busy ${s.busy.n}. **% of busy samples** is the share of `
    + 'the main thread\'s on-CPU time (a preempted or blocked thread takes no samples); *% of busy wall* weights each sample by the '
    + 'time until the next one, which also counts time the thread sat preempted or blocked right after that function: on a '
    + 'shared machine the two differ, and a wall share well above the sample share marks a function after which the thread '
    + 'waits (syscalls that wake another process, synchronous native calls). Self time only: a function\'s own code, not what '
    + 'it calls. Native functions (no JS source) and msgpackr are charged to the group of their JS caller. Main thread only: '
    + 'LevelDB\'s writes, fsyncs and compaction run on other threads and show here only as the JS that submits them.');
  out.push('');
  out.push('| group (self time) | samples | % of busy samples | % of busy wall |');
  out.push('| --- | --- | --- | --- |');
  for (const [g, t] of s.groups) out.push(`| ${g} | ${t.n} | ${pctN(t)} | ${pctW(t)} |`);
  out.push('');
  out.push(`Top ${profileTopN} functions by self samples:`);
  out.push('');
  out.push('| # | function | where | group | samples | % of busy samples | % of busy wall |');
  out.push('| --- | --- | --- | --- | --- | --- | --- |');
  s.top.forEach((e, i) => out.push(`| ${i + 1} | \`${e.fn.replace(/\|/g, '\\|')}\` | ${e.where} | ${e.group} | ${e.t.n} | ${pctN(e.t)} | ${pctW(e.t)} |`));
  out.push('');
  out.push('The same busy samples charged to the nearest keel layer on the stack (who asked for the work: grpc-js and http2 '
    + 'time under `api` is the handlers\' responses; socket writes under `transport` are peer messages; "no keel frame" is '
    + 'work entered from the event loop before any keel code runs, mostly grpc-js/http2 reading requests and socket reads):');
  out.push('');
  out.push('| nearest keel layer | samples | % of busy samples | % of busy wall |');
  out.push('| --- | --- | --- | --- |');
  for (const [g, t] of s.callers) out.push(`| ${g} | ${t.n} | ${pctN(t)} | ${pctW(t)} |`);
  return out.join('\n');
}

async function moveLeaderTo(c: Cluster, target: Member): Promise<void> {
  if (c.members[0] === target) return;
  const leader = c.members[0] as Member;
  await unary(leader.endpoint, 'Maintenance', 'MoveLeader', { targetID: target.id });
  for (let i = 0; i < leaderPollsMax; i++) {
    await settleLeader(c).catch(() => undefined);
    if (c.members[0] === target) return;
    await sleep(leaderPollIntervalMs);
  }
  throw new Error(`leadership did not move to ${target.name}`);
}

async function profileMain(cfg: Config): Promise<void> {
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const profDir = makeTempDir('prof');
  const profFlags = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  const spec = keelSpec(cfg.keelRoot, (i) => (i === 0 ? profFlags : []));
  const c = await startCluster(spec);
  const profiled = c.members.find((m) => m.name === 'm1') as Member;
  const electedLeader = c.leader;
  log(`keel up: leader ${c.leader}; profiling m1 (pid ${profiled.pid})`);
  if (c.leader !== 'm1') {
    log(`moving leadership ${c.leader} -> m1 (Maintenance.MoveLeader)`);
    await moveLeaderTo(c, profiled);
  }
  const w = workloads(false).find((x) => x.id === cfg.profileWorkload) as Workload;
  if (w.id.startsWith('range')) await runChild(process.execPath, prefillArgs(c.endpoints), 90_000);
  const run: Workload = { ...w, total: 5_000_000, loadArgs: w.loadArgs.map((a, i, all) => (all[i - 1] === '--total' ? '5000000' : a)) };
  const cpu0 = memberCpu(c);
  const threads0 = threadCpu(profiled.pid);
  const m0 = cpuMark(c.members.map((m) => m.pid));
  const t0Us = Number(process.hrtime.bigint() / 1000n);
  const out = await runChild(process.execPath, nodeLoadCommand(run, c.endpoints, cfg.profileSeconds), (cfg.profileSeconds + 30) * 1000);
  const t1Us = Number(process.hrtime.bigint() / 1000n);
  const other = otherCores(m0, cpuMark(c.members.map((m) => m.pid)));
  const cpu1 = memberCpu(c);
  const r = lastJsonLine(out) as unknown as Report;
  const threads = threadCpuText(threads0, threadCpu(profiled.pid), r.ok);
  const per = perRequest(cpu0, cpu1, r.ok);
  const leaderAfter = await leaderNow(c);
  const hwm = c.members.map((m) => statusKiB(m.pid, 'VmHWM') / 1024);
  await Promise.all(c.members.map((m) => stopPid(m.pid)));
  const files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  const mine = files.filter((f) => f.includes(`.${profiled.pid}.`));
  const pick = (mine.length > 0 ? mine : files).map((f) => path.join(profDir, f))
    .sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
  if (pick === undefined) throw new Error(`no .cpuprofile written in ${profDir} (did m1 exit cleanly?)`);
  const kept = path.join(os.tmpdir(), `keel-leader-${w.id}-${startedAt.toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  fs.copyFileSync(pick, kept);
  // V8's profile clock and process.hrtime are both CLOCK_MONOTONIC on Linux, so the load window maps directly.
  const summary = summarizeProfile(kept, cfg.keelRoot, [t0Us, t1Us]);
  await cleanup();

  const stamp = startedAt.toISOString().replace('T', ' ').slice(0, 16);
  const la = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  const lines: string[] = [];
  lines.push(`## ${stamp} UTC — bench:compare --profile: where keel's leader spends its time (${w.title})`);
  lines.push('');
  if (cfg.note !== undefined) lines.push(`- Note: ${cfg.note}`);
  lines.push(`- Machine: ${machineLine()}; other work while profiling: ${other.toFixed(2)} of ${os.availableParallelism()} cores `
    + `(load average before: ${la(loadBefore)}; after: ${la(os.loadavg())})`);
  lines.push(`- Server: ${c.version}; 3 members, m1 under \`node ${profFlags[0]} --cpu-prof-dir=DIR bin/keel.js …\`, made leader `
    + `${electedLeader === 'm1' ? 'by the election' : `by Maintenance.MoveLeader (${electedLeader} was elected)`}; leader at the end: ${leaderAfter}`);
  lines.push(`- Load: ${r.ok} requests in ${r.seconds.toFixed(1)} s = ${fmtInt(r.rps)} rps, p50 ${fmtMs(r.p50_ms)} ms, p99 ${fmtMs(r.p99_ms)} ms, `
    + `${r.errors} errors; CPU µs/request: leader ${fmtInt(per.members[0] ?? NaN)}, followers ${fmtInt(per.members[1] ?? NaN)} and `
    + `${fmtInt(per.members[2] ?? NaN)} (the leader's includes the profiler's own overhead); VmHWM ${hwm.map((x) => fmtInt(x)).join(' / ')} MiB`);
  lines.push(`- The leader's CPU by thread (from /proc/PID/task, per request): ${threads}`);
  lines.push(`- Profile: ${kept} (open in Chrome DevTools or speedscope; not kept in the repo). Summarize again with `
    + `\`node dist/bench/compare-cluster.js --summarize-profile FILE\`.`);
  lines.push('');
  lines.push(renderProfileSummary(summary));
  lines.push('');
  lines.push('<details><summary>exact commands</summary>');
  lines.push('');
  lines.push('```');
  lines.push(`npm run bench:compare -- ${process.argv.slice(2).map(shellQuote).join(' ')}`);
  for (const m of [...c.members].sort((a, b) => a.name.localeCompare(b.name))) lines.push(`# ${m.name}: ${m.command}`);
  lines.push(`node ${nodeLoadCommand(run, 'EPS', cfg.profileSeconds).map((a) => (path.isAbsolute(a) ? path.relative(repoRoot, a) : a)).join(' ')}`);
  lines.push('```');
  lines.push('');
  lines.push('</details>');
  const section = lines.join('\n');
  process.stdout.write(`${section}\n`);
  if (cfg.append) appendSection(cfg.resultsFile, section);
}

// ---- entry -------------------------------------------------------------------------

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // Kept so the commands recorded in RESULTS.md still run: the old txn-put child is load.ts's txn-put now.
  if (argv[0] === '--txn-load') { await loadCli(['txn-put', '--random-keys', '--txn-guard', ...argv.slice(argv[1] === 'put' ? 2 : 1)]); return; }
  const cfg = parseConfig(argv);
  if (cfg.mode === 'summarize') {
    process.stdout.write(`${renderProfileSummary(summarizeProfile(cfg.profileFile as string, cfg.keelRoot))}\n`);
    return;
  }
  installSignalHandlers();
  if (cfg.mode === 'profile') await profileMain(cfg);
  else await compareMain(cfg);
}

if (require.main === module) {
  main().then(
    () => { if (!interrupted) process.exit(0); },
    async (e: unknown) => {
      if (interrupted) return;
      process.stderr.write(`compare-cluster: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      await cleanup();
      process.exit(1);
    },
  );
}
