// The processes a benchmark starts, and what /proc says about them. Servers
// are started as an operator would: `node bin/keel.js` or `etcd` with etcd's
// own flags (one member, or three with --initial-cluster), each up once it
// logs "ready to serve client requests". Every process started here is
// tracked by PID and stopped on exit, on error and on Ctrl-C; nothing else is
// touched. Ports come from the tests' freePort (lock files shared by every
// test and bench process on this machine).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '../src/client';
import { freePort } from '../test/helpers/procs';

export const repoRoot = ((): string => {
  let dir = __dirname;
  for (let i = 0; i < 6 && !(fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))); i++) dir = path.dirname(dir);
  return dir;
})();
export const etcdBins: Record<string, string> = { '3.4': '/usr/bin/etcd', '3.5': '/opt/etcd35/usr/bin/etcd' };
const readyLine = 'ready to serve client requests';
const startTimeoutMs = 60_000;
const killGraceMs = 8_000;
const logTailLinesMax = 40;
const childOutputBytesMax = 1 << 20;
const leaderPollsMax = 40;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// ---- bookkeeping -------------------------------------------------------------------

const started = new Map<number, ChildProcess>();
const tempDirs = new Set<string>();
/** Members that exited on their own: pid → why. */
export const exits = new Map<number, string>();
export const state = { stopping: false, interrupted: false };

export function spawnTracked(bin: string, args: string[], cwd = repoRoot, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  if (state.stopping) throw new Error('stopping');
  const child = spawn(bin, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`spawn ${bin} failed (no pid)`);
  started.set(pid, child);
  child.once('exit', () => started.delete(pid));
  return child;
}

/** SIGTERM, then SIGKILL after a grace; only for processes started here. */
export async function stopPid(pid: number): Promise<void> {
  const child = started.get(pid);
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  if ((await Promise.race([exited.then(() => 'exited'), sleep(killGraceMs)])) === 'exited') return;
  try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  await Promise.race([exited, sleep(1000)]);
}

export function makeTempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `keel-bench-${prefix}-`));
  tempDirs.add(d);
  return d;
}

function removeTempDir(d: string): void {
  fs.rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

export async function cleanup(): Promise<void> {
  state.stopping = true;
  await Promise.all([...started.keys()].map(stopPid));
  for (const d of [...tempDirs]) removeTempDir(d);
}

function killAllNow(): void {
  for (const pid of started.keys()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of tempDirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } }
}

export function installSignalHandlers(tool: string): void {
  const onSignal = (sig: NodeJS.Signals): void => {
    if (state.stopping) { killAllNow(); process.exit(130); }
    state.stopping = true;
    state.interrupted = true;
    process.stderr.write(`\n${tool}: ${sig}, stopping the processes it started\n`);
    void cleanup().finally(() => process.exit(130));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  process.on('exit', killAllNow);
}

/** Runs a tool's main: exit 0 when done, 1 (after stopping what it started) on an error. */
export function runMain(tool: string, main: () => Promise<void>): void {
  main().then(() => { if (!state.interrupted) process.exit(0); }, async (e: unknown) => {
    if (state.interrupted) return;
    process.stderr.write(`${tool}: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    await cleanup();
    process.exit(1);
  });
}

/** Runs a child with a kill timer; resolves with its stdout, or rejects with the end of its stderr. */
export function runChild(bin: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(bin, args);
    let [out, err] = ['', ''];
    child.stdout?.on('data', (d: Buffer) => { if (out.length < childOutputBytesMax) out += d.toString('utf8'); });
    child.stderr?.on('data', (d: Buffer) => { if (err.length < childOutputBytesMax) err += d.toString('utf8'); });
    const timer = setTimeout(() => { void stopPid(child.pid as number); }, timeoutMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(bin)} exited ${code ?? sig}: ${(err || out).trim().slice(-400)}`));
    });
  });
}

export function lastJsonLine<T>(out: string): T {
  return JSON.parse(out.trim().split('\n').pop() ?? '') as T;
}

function firstLine(bin: string, args: string[], cwd = repoRoot): string {
  const r = spawnSync(bin, args, { cwd, timeout: 15_000, encoding: 'utf8' });
  return (`${r.stdout ?? ''}`.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 80);
}

// ---- clusters ------------------------------------------------------------------------

export interface Member {
  name: string;
  pid: number;
  /** host:port */
  endpoint: string;
  command: string;
  logFile: string;
  dataDir: string;
  /** Member ID as Status reports it (decimal string), once known. */
  id: string;
  tail: string[];
}

export interface Cluster {
  name: string;
  version: string;
  /** Leader first (and `endpoints` in that order, comma separated). */
  members: Member[];
  endpoints: string;
  leader: string;
  term: string;
  dir: string;
}

export interface ClusterSpec {
  name: string;
  members: number;
  /** The executable and what comes before the member flags, for member i (0-based). */
  exec: (i: number) => { bin: string; pre: string[]; shown: string };
  cwd: string;
  version: () => string;
}

/** keel members (with node flags for some, e.g. --cpu-prof); its version names the git commit measured. */
export function keelSpec(members: number, keelRoot = repoRoot, nodeFlagsFor: (i: number) => string[] = () => []): ClusterSpec {
  const bin = path.join(keelRoot, 'bin', 'keel.js');
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found`);
  const git = (args: string[]): string => spawnSync('git', ['-C', keelRoot, ...args], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  const version = (): string => {
    const head = git(['rev-parse', '--short', 'HEAD']).trim();
    const changed = git(['status', '--porcelain', '--untracked-files=no', '--', 'src', 'cmd', 'bin']).split('\n').filter((l) => l !== '').length;
    const where = head === '' ? `${keelRoot}, not a git checkout` : `git ${head}${changed > 0 ? `, ${changed} uncommitted file(s) in src/cmd/bin` : ''}`;
    return `${firstLine(process.execPath, [bin, '--version'], keelRoot) || 'keel ?'} (${where})`;
  };
  return {
    name: 'keel', members, cwd: keelRoot, version,
    exec: (i) => ({ bin: process.execPath, pre: [...nodeFlagsFor(i), bin], shown: ['node', ...nodeFlagsFor(i), 'bin/keel.js'].join(' ') }),
  };
}

export function etcdSpec(members: number, version: string): ClusterSpec {
  const bin = etcdBins[version];
  if (bin === undefined || !fs.existsSync(bin)) throw new Error(`etcd ${version}: ${bin ?? 'unknown version'} not found`);
  return { name: `etcd-${version}`, members, cwd: repoRoot, exec: () => ({ bin, pre: [], shown: bin }), version: () => firstLine(bin, ['--version']) };
}

/** Resolves once the member logs that it serves clients (which needs a quorum); keeps its log and the tail of it. */
function startMember(label: string, spec: ClusterSpec, args: string[], i: number, m: Member): Promise<void> {
  const ex = spec.exec(i);
  // ETCD_* in the caller's environment would change a server's config behind its flags.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD')));
  const child = spawnTracked(ex.bin, [...ex.pre, ...args], spec.cwd, env);
  m.pid = child.pid as number;
  const out = fs.createWriteStream(m.logFile);
  child.once('exit', (code, sig) => {
    out.end();
    if (!state.stopping) exits.set(m.pid, `${label} (pid ${m.pid}) exited (${code ?? sig})`);
  });
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let partial = '';
    const settle = (why?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (why === undefined) resolve();
      else reject(new Error(`${label}: ${why}\n    ${m.tail.slice(-8).join('\n    ')}`));
    };
    const timer = setTimeout(() => settle(`no "${readyLine}" within ${startTimeoutMs / 1000}s`), startTimeoutMs);
    const scan = (chunk: Buffer): void => {
      out.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = (lines.pop() ?? '').slice(-65_536);
      for (const line of lines.filter((l) => l.trim() !== '')) {
        m.tail.push(line.slice(0, 400));
        if (m.tail.length > logTailLinesMax) m.tail.shift();
        if (line.includes(readyLine)) settle();
      }
    };
    child.stdout?.on('data', scan);
    child.stderr?.on('data', scan);
    child.once('error', (e) => settle(e.message));
    child.once('exit', (code, sig) => settle(`exited (${code ?? sig}) before it was ready`));
  });
}

async function startClusterOnce(spec: ClusterSpec): Promise<Cluster> {
  const n = spec.members;
  const dir = makeTempDir(spec.name);
  const ports: number[] = [];
  for (let i = 0; i < 2 * n; i++) ports.push(await freePort());
  const url = (i: number): string => `http://127.0.0.1:${ports[i] as number}`;
  const initialCluster = Array.from({ length: n }, (_, i) => `m${i + 1}=${url(n + i)}`).join(',');
  const members: Member[] = [];
  const readies = Array.from({ length: n }, (_, i) => {
    const name = `m${i + 1}`;
    const flags = ['--name', name, '--data-dir', path.join(dir, name), '--listen-client-urls', url(i), '--advertise-client-urls', url(i),
      '--listen-peer-urls', url(n + i), '--initial-advertise-peer-urls', url(n + i), '--initial-cluster', initialCluster, '--initial-cluster-state', 'new'];
    const m: Member = {
      name, pid: 0, endpoint: url(i).slice('http://'.length), command: `${spec.exec(i).shown} ${flags.join(' ')}`,
      logFile: path.join(dir, `${name}.log`), dataDir: path.join(dir, name), id: '', tail: [],
    };
    members.push(m);
    return startMember(`${spec.name} ${name}`, spec, flags, i, m);
  });
  const cluster: Cluster = { name: spec.name, version: spec.version(), members, endpoints: '', leader: '', term: '', dir };
  try {
    await Promise.all(readies);
    await settleLeader(cluster);
  } catch (e) {
    await stopCluster(cluster);
    throw e;
  }
  return cluster;
}

/** Starts a cluster, with a second attempt if the first fails (a port taken meanwhile, a slow election). */
export async function startCluster(spec: ClusterSpec, say: (s: string) => void): Promise<Cluster> {
  try {
    return await startClusterOnce(spec);
  } catch (e) {
    if (state.stopping) throw e;
    say(`${spec.name}: start attempt 1 failed: ${errorMessage(e)}`);
    return startClusterOnce(spec);
  }
}

export async function stopCluster(c: Cluster): Promise<void> {
  await Promise.all(c.members.map((m) => (m.pid > 0 ? stopPid(m.pid) : Promise.resolve())));
  for (const m of c.members) exits.delete(m.pid);
  removeTempDir(c.dir);
}

export interface Unavailable { name: string; reason: string }

/** Starts the targets one after the other (so no start-up, first election included, is slowed by another's); names those not started and why. */
export async function startTargets(specs: [string, () => ClusterSpec][], skip: ReadonlySet<string>, say: (s: string) => void): Promise<{ targets: Cluster[]; unavailable: Unavailable[] }> {
  const out = { targets: [] as Cluster[], unavailable: [] as Unavailable[] };
  for (const [name, spec] of specs) {
    if (skip.has(name)) { out.unavailable.push({ name, reason: 'skipped (--skip)' }); continue; }
    try {
      const c = await startCluster(spec(), say);
      out.targets.push(c);
      say(`${c.name} (${c.version}) up: leader ${c.leader}, endpoints ${c.endpoints}, pids ${c.members.map((m) => m.pid).join(' ')}`);
    } catch (e) {
      out.unavailable.push({ name, reason: errorMessage(e) });
      say(`${name} not available: ${errorMessage(e)}`);
    }
  }
  return out;
}

/** Markdown for the targets' members that exited on their own: why, and their last log lines. */
export function exitedBlocks(targets: Cluster[]): string[] {
  return targets.flatMap((c) => c.members.filter((m) => exits.has(m.pid)).flatMap((m) => ['', `**${c.name}: ${exits.get(m.pid) ?? ''}**`, '',
    '```', m.tail.slice(-15).join('\n').replace(/```/g, "'''"), '```']));
}

export const notMeasured = (u: Unavailable[]): string[] => u.map((x) => `- Not measured: ${x.name} — ${x.reason.split('\n')[0] ?? ''}`);

/** Why a cluster cannot be measured any more (a member exited), or undefined. */
export function down(c: Cluster): string | undefined {
  const gone = c.members.filter((m) => exits.has(m.pid)).map((m) => exits.get(m.pid) ?? m.name);
  return gone.length > 0 ? gone.join('; ') : undefined;
}

interface MemberStatus { memberId: string; leader: string; raftTerm: string }

async function memberStatus(endpoint: string): Promise<MemberStatus> {
  const client = new Client({ endpoints: [endpoint], dialTimeoutMs: 3_000 });
  try {
    const r = await client.status({ timeoutMs: 3_000 });
    return { memberId: String(r.header?.member_id ?? ''), leader: String(r.leader), raftTerm: String(r.raftTerm) };
  } finally {
    client.close();
  }
}

/** Polls Status on every member (bounded) until all name the same leader; orders the members leader first. */
export async function settleLeader(c: Cluster): Promise<void> {
  let lastErr = '';
  for (let i = 0; i < leaderPollsMax && !state.stopping; i++, await sleep(500)) {
    const ss = await Promise.all(c.members.map((m) => memberStatus(m.endpoint).catch((e: unknown) => { lastErr = `${m.name}: ${errorMessage(e)}`; })));
    if (!ss.every((s) => s !== undefined)) continue;
    const all = ss as MemberStatus[];
    all.forEach((s, k) => { (c.members[k] as Member).id = s.memberId; });
    const leader = all[0]?.leader ?? '';
    const at = all.findIndex((s) => s.memberId === leader);
    if (leader === '' || leader === '0' || at < 0 || !all.every((s) => s.leader === leader)) {
      lastErr = `members disagree on the leader: ${all.map((s) => s.leader).join(', ')}`;
      continue;
    }
    c.members = [c.members[at] as Member, ...c.members.filter((_, k) => k !== at)];
    c.endpoints = c.members.map((m) => m.endpoint).join(',');
    c.leader = (c.members[0] as Member).name;
    c.term = all[at]?.raftTerm ?? '';
    return;
  }
  throw new Error(`${c.name}: no agreed leader after ${leaderPollsMax} polls (${lastErr})`);
}

/** Leader and term now, per member, for the "did anything change during the run" line. */
export async function leaderNow(c: Cluster): Promise<string> {
  const parts = await Promise.all(c.members.map((m) => memberStatus(m.endpoint).then(
    (s) => `${m.name}: leader ${c.members.find((x) => x.id === s.leader)?.name ?? s.leader}, term ${s.raftTerm}`,
    (e: unknown) => `${m.name}: ${errorMessage(e).split('\n')[0] ?? ''}`)));
  return parts.join('; ');
}

// ---- /proc ---------------------------------------------------------------------------

const clockTicksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).stdout) || 100;

/** utime, stime, cutime, cstime of /proc/PID[/task/TID]/stat, in seconds; NaN when gone. */
function statTimes(file: string): number[] {
  try {
    const stat = fs.readFileSync(file, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map((x) => Number(x) / clockTicksPerSecond);
  } catch {
    return [NaN, NaN, NaN, NaN];
  }
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const [u = NaN, s = NaN] = statTimes(`/proc/${pid}/stat`);
  return u + s;
}

function machineTicks(): { busy: number; total: number } {
  try {
    const v = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

export interface CpuMark { wallMs: number; busy: number; ours: number }

/** A reading to compute, later, how many cores processes other than ours (this one, its reaped children, the servers) kept busy. */
export function cpuMark(pids: number[]): CpuMark {
  const ours = statTimes('/proc/self/stat').reduce((a, b) => a + b, 0) + pids.reduce((s, p) => s + (cpuSeconds(p) || 0), 0);
  return { wallMs: Date.now(), busy: machineTicks().busy, ours };
}

export function otherCores(a: CpuMark, b: CpuMark): number {
  const wallS = (b.wallMs - a.wallMs) / 1000;
  return wallS > 0 ? Math.max(0, ((b.busy - a.busy) / clockTicksPerSecond - (b.ours - a.ours)) / wallS) : NaN;
}

/** A field of /proc/PID/status in KiB (VmRSS, VmHWM, RssAnon, RssFile); NaN when gone. */
export function statusKiB(pid: number, field: string): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** CPU seconds per thread name of a process (the main thread as "main (JS)"), user and system, from /proc/PID/task. */
export function threadCpu(pid: number): Map<string, { user: number; system: number }> {
  const out = new Map<string, { user: number; system: number }>();
  let tids: string[] = [];
  try { tids = fs.readdirSync(`/proc/${pid}/task`).slice(0, 1_000); } catch { return out; }
  for (const tid of tids) {
    const [u = NaN, s = NaN] = statTimes(`/proc/${pid}/task/${tid}/stat`);
    let comm = '';
    try { comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(); } catch { continue; }
    const name = tid === String(pid) ? 'main (JS)' : comm.replace(/\d+$/, 'N');
    const e = out.get(name) ?? { user: 0, system: 0 };
    if (Number.isFinite(u + s)) out.set(name, { user: e.user + u, system: e.system + s });
  }
  return out;
}

/** Waits (bounded) until the machine is mostly idle over a 2 s window. */
export async function waitIdle(maxS: number, say: (s: string) => void): Promise<void> {
  const until = Date.now() + maxS * 1000;
  for (let i = 0; i < 10_000 && Date.now() < until; i++) {
    const a = machineTicks();
    await sleep(2000);
    const b = machineTicks();
    const busyCores = ((b.busy - a.busy) / (b.total - a.total)) * os.availableParallelism();
    if (busyCores < 0.2) return;
    if (i % 5 === 0) say(`waiting for an idle machine: ${busyCores.toFixed(2)} cores busy`);
  }
  say('machine still busy; measuring anyway');
}
