// Starting and stopping the servers a benchmark run measures (keel and etcd,
// each a single member on loopback with a temporary data dir), and reading
// their CPU and memory from /proc. The same rules as compare-single: every
// process started here is tracked by PID and stopped on exit, on error and on
// Ctrl-C; nothing else is touched.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const repoRoot = findRepoRoot();

const readyLine = 'ready to serve client requests';
const startTimeoutMs = 30_000;
const killGraceMs = 5_000;
const logTailLinesMax = 40;

function findRepoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'bench'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`repository root not found above ${__dirname}`);
}

// ---- process bookkeeping ---------------------------------------------------

const started = new Map<number, ChildProcess>();
const tempDirs: string[] = [];
/** Set once shutdown begins: nothing new is spawned after that. */
let stopping = false;

/** Servers that exited on their own, and the last lines each server logged. */
export const exits = new Map<number, string>();
const logTails = new Map<number, string[]>();

export function logTail(pid: number, lines: number): string[] {
  return (logTails.get(pid) ?? []).slice(-lines);
}

export function spawnTracked(bin: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  if (stopping) throw new Error('stopping');
  const child = spawn(bin, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`spawn ${bin} failed (no pid)`);
  const pid = child.pid;
  started.set(pid, child);
  child.once('exit', () => started.delete(pid));
  return child;
}

export async function stopPid(pid: number): Promise<void> {
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

export async function cleanup(): Promise<void> {
  stopping = true;
  await Promise.all([...started.keys()].map(stopPid));
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  tempDirs.length = 0;
}

function killAllNow(): void {
  for (const pid of started.keys()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of tempDirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } }
}

export function installSignalHandlers(tool: string): void {
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) { killAllNow(); process.exit(130); }
    stopping = true;
    process.stderr.write(`\n${tool}: ${sig}, stopping the processes it started\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('exit', killAllNow);
}

function makeTempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `keel-bench-${prefix}-`));
  tempDirs.push(d);
  return d;
}

export function freePort(): Promise<number> {
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

// ---- servers ---------------------------------------------------------------

export interface Target {
  name: string;
  /** Set when the server exits on its own during the run (then its log tail is kept). */
  exited?: string;
  version: string;
  command: string;
  /** host:port */
  endpoint: string;
  pid: number;
  logFile: string;
}

/** This process's environment without ETCD_* (which would change a server's config behind its flags). */
export function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD')) env[k] = v;
  return env;
}

/** Starts a server and resolves once its log says it serves clients. */
function startServer(name: string, bin: string, args: string[], logFile: string): Promise<number> {
  const child = spawnTracked(bin, args, serverEnv());
  const pid = child.pid as number;
  const log = fs.createWriteStream(logFile);
  const tail: string[] = [];
  logTails.set(pid, tail);
  const pushTail = (line: string): void => {
    tail.push(line.slice(0, 300));
    if (tail.length > logTailLinesMax) tail.shift();
  };
  child.once('exit', (code, sig) => { if (!stopping) exits.set(pid, `exited (${code ?? sig}) during the run`); });
  return new Promise<number>((resolve, reject) => {
    let ready = false;
    let partial = '';
    const timer = setTimeout(() => fail(`no "${readyLine}" within ${startTimeoutMs / 1000}s`), startTimeoutMs);
    const fail = (why: string): void => {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      void stopPid(pid).then(() => reject(new Error(`${name}: ${why}\n    ${tail.slice(-8).join('\n    ')}`)));
    };
    const scan = (chunk: Buffer): void => {
      log.write(chunk);
      if (ready) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') pushTail(line);
        return;
      }
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        pushTail(line);
        if (line.includes(readyLine)) { ready = true; clearTimeout(timer); resolve(pid); return; }
      }
    };
    child.stdout?.on('data', scan);
    child.stderr?.on('data', scan);
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, sig) => fail(`exited (${code ?? sig}) before it was ready`));
  });
}

function versionOf(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { cwd: repoRoot, timeout: 10_000, encoding: 'utf8' });
  const out = `${r.stdout ?? ''}`.split('\n').find((l) => l.trim() !== '') ?? '';
  return out.trim();
}

export async function startKeel(): Promise<Target> {
  const bin = path.join(repoRoot, 'bin', 'keel.js');
  if (!fs.existsSync(bin)) throw new Error('bin/keel.js not found');
  const dir = makeTempDir('keel');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [bin, '--name', 'k', '--data-dir', path.join(dir, 'data'), '--listen-client-urls', url, '--advertise-client-urls', url];
  const logFile = path.join(dir, 'keel.log');
  const pid = await startServer('keel', process.execPath, args, logFile);
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version?: string };
  const reported = versionOf(process.execPath, [bin, '--version']);
  return {
    name: 'keel', version: reported !== '' ? reported.slice(0, 80) : `keel ${pkg.version ?? '?'}`,
    command: `node bin/keel.js ${args.slice(1).join(' ')}`, endpoint: `127.0.0.1:${port}`, pid, logFile,
  };
}

export async function startEtcd(name: string, bin: string): Promise<Target> {
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found`);
  const dir = makeTempDir(name);
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const c = `http://127.0.0.1:${clientPort}`;
  const p = `http://127.0.0.1:${peerPort}`;
  const member = name.replace(/\./g, '');
  const args = ['--name', member, '--data-dir', path.join(dir, 'data'), '--listen-client-urls', c, '--advertise-client-urls', c,
    '--listen-peer-urls', p, '--initial-advertise-peer-urls', p, '--initial-cluster', `${member}=${p}`,
    '--initial-cluster-state', 'new', '--initial-cluster-token', `bench-${member}`];
  const logFile = path.join(dir, `${member}.log`);
  const pid = await startServer(name, bin, args, logFile);
  return { name, version: versionOf(bin, ['--version']), command: `${bin} ${args.join(' ')}`, endpoint: `127.0.0.1:${clientPort}`, pid, logFile };
}

// ---- measuring -------------------------------------------------------------

const clockTicksPerSecond = ((): number => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 });
  const n = Number(r.stdout);
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** CPU seconds (user + system, all threads) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

export interface CpuMark { wallMs: number; machine: { busy: number; total: number }; ours: number }

/** A reading to compute, later, how many cores processes other than ours (this one, all its threads, and the servers) kept busy. */
export function cpuMark(serverPids: number[]): CpuMark {
  return { wallMs: Date.now(), machine: machineTicks(), ours: cpuSeconds(process.pid) + serverPids.reduce((s, pid) => s + cpuSeconds(pid), 0) };
}

export function otherCores(a: CpuMark, b: CpuMark): number {
  const wallS = (b.wallMs - a.wallMs) / 1000;
  const busyS = (b.machine.busy - a.machine.busy) / clockTicksPerSecond;
  return wallS > 0 ? Math.max(0, (busyS - (b.ours - a.ours)) / wallS) : NaN;
}

/** Resident set size in KiB (VmRSS from /proc/PID/status). */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Waits (bounded) until the machine is mostly idle over a 2 s window. */
export async function waitIdle(maxS: number, say: (s: string) => void): Promise<void> {
  const until = Date.now() + maxS * 1000;
  for (let i = 0; i < 10_000 && Date.now() < until; i++) {
    const a = machineTicks();
    await new Promise((r) => setTimeout(r, 2000));
    const b = machineTicks();
    const busyCores = ((b.busy - a.busy) / (b.total - a.total)) * os.availableParallelism();
    if (busyCores < 0.2) return;
    if (i % 5 === 0) say(`waiting for an idle machine: ${busyCores.toFixed(2)} cores busy`);
  }
  say('machine still busy; measuring anyway');
}
