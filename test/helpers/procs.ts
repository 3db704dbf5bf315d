// Real server processes for integration and compatibility tests: free ports,
// temporary data dirs, etcd and keel started and stopped by PID. Nothing here
// may outlive the test process: every child is killed on stop, on test end
// (callers register cleanupAll), on process exit and signals, and by a small
// watchdog shell should the test process itself be SIGKILLed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Repository root (dist/test/helpers → three up; test/helpers via ts-node → two up). */
export const repoRoot: string = findRepoRoot();

function findRepoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'tsconfig.json'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..', '..');
}

export const isCI: boolean = process.env['CI'] === 'true';

// ---------------------------------------------------------------------------
// Tools

/** Absolute path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The reference etcd binary: $ETCD_BIN, else etcd on PATH, else /usr/bin/etcd. */
export function etcdBin(): string | undefined {
  const env = process.env['ETCD_BIN'];
  if (env !== undefined && env !== '') return which(env);
  return which('etcd') ?? which('/usr/bin/etcd');
}

/** etcdctl: $ETCDCTL_BIN, else etcdctl on PATH, else /usr/bin/etcdctl. */
export function etcdctlBin(): string | undefined {
  const env = process.env['ETCDCTL_BIN'];
  if (env !== undefined && env !== '') return which(env);
  return which('etcdctl') ?? which('/usr/bin/etcdctl');
}

/** keel's entry script: $KEEL_BIN, else <repo>/bin/keel.js. */
export function keelEntry(): string | undefined {
  const env = process.env['KEEL_BIN'];
  const file = env !== undefined && env !== '' ? path.resolve(env) : path.join(repoRoot, 'bin', 'keel.js');
  return fs.existsSync(file) ? file : undefined;
}

export function etcdAvailable(): boolean {
  return etcdBin() !== undefined;
}

export function etcdctlAvailable(): boolean {
  return etcdctlBin() !== undefined;
}

export type Tool = 'etcd' | 'etcdctl' | 'keel';

/** What is missing among the tools a test needs, each with a human explanation. */
export function missingTools(needed: readonly Tool[]): string[] {
  const missing: string[] = [];
  for (const tool of needed) {
    if (tool === 'etcd' && etcdBin() === undefined) {
      missing.push('etcd (install Debian etcd-server, or set ETCD_BIN)');
    } else if (tool === 'etcdctl' && etcdctlBin() === undefined) {
      missing.push('etcdctl (install Debian etcd-client, or set ETCDCTL_BIN)');
    } else if (tool === 'keel' && keelEntry() === undefined) {
      missing.push(`keel (${path.join(repoRoot, 'bin', 'keel.js')} not found; set KEEL_BIN, or COMPAT_SUBJECT=etcd to self-test the harness)`);
    }
  }
  return missing;
}

/**
 * For node:test's `skip` option: a message when tools are missing, false when
 * all are there. Under CI=true nothing is skipped: the test runs and fails in
 * assertTools, because a CI without etcd must not pass silently.
 */
export function skipUnlessTools(needed: readonly Tool[]): string | false {
  const missing = missingTools(needed);
  if (missing.length === 0 || isCI) return false;
  return `skipped, missing: ${missing.join('; ')}`;
}

/** Throws (fails the test) when a needed tool is missing. */
export function assertTools(needed: readonly Tool[]): void {
  const missing = missingTools(needed);
  if (missing.length > 0) {
    throw new Error(`missing required tools${isCI ? ' (CI=true: not skipping)' : ''}: ${missing.join('; ')}`);
  }
}

// ---------------------------------------------------------------------------
// Ports

const portLockDir = path.join(os.tmpdir(), 'keel-test-ports');
const heldPorts = new Map<number, string>(); // port → lock file

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims a port across concurrently running test processes with an O_EXCL lock file. */
function claimPort(port: number): boolean {
  if (heldPorts.has(port)) return false;
  fs.mkdirSync(portLockDir, { recursive: true });
  const lock = path.join(portLockDir, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      heldPorts.set(port, lock);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(lock, 'utf8'));
      } catch {
        continue; // vanished meanwhile; retry
      }
      if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) return false;
      try {
        fs.unlinkSync(lock); // stale lock of a dead test process
      } catch {
        /* raced with another cleaner */
      }
    }
  }
  return false;
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from kernel'))));
    });
  });
}

/** A loopback port that was free a moment ago and that no other test process holds. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = await kernelPort();
    if (claimPort(port)) return port;
  }
  throw new Error('could not find a free loopback port in 200 tries');
}

export function releasePort(port: number): void {
  const lock = heldPorts.get(port);
  if (lock === undefined) return;
  heldPorts.delete(port);
  try {
    fs.unlinkSync(lock);
  } catch {
    /* already gone */
  }
}

// ---------------------------------------------------------------------------
// Temporary directories

const tempDirs = new Set<string>();

/** Base for data dirs: $KEEL_TEST_TMPDIR, else /dev/shm when writable (fast fsync), else os.tmpdir(). */
function tempBase(): string {
  const env = process.env['KEEL_TEST_TMPDIR'];
  if (env !== undefined && env !== '') return env;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

/** Temp dirs are named <prefix><pid>-XXXXXX so a later run can remove those of test processes that were SIGKILLed. */
export function makeTempDir(prefix = 'keel-test-'): string {
  sweepStaleTempDirs();
  const dir = fs.mkdtempSync(path.join(tempBase(), `${prefix}${process.pid}-`));
  tempDirs.add(dir);
  return dir;
}

let swept = false;

function sweepStaleTempDirs(): void {
  if (swept) return;
  swept = true;
  const base = tempBase();
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(base);
  } catch {
    return;
  }
  for (const name of entries) {
    const m = /^(?:etcd|keel|keel-test)-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    const pid = Number(m?.[1]);
    if (m === null || !Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
    try {
      fs.rmSync(path.join(base, name), { recursive: true, force: true });
    } catch {
      /* another sweeper got it */
    }
  }
}

export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// Processes

export type ServerKind = 'etcd' | 'keel';

export interface StartOptions {
  /** Member name; default a unique one. */
  name?: string;
  /** Existing data dir to use (kept on cleanup); default a fresh temp dir (removed on cleanup). */
  dataDir?: string;
  clientPort?: number;
  /** Default: a free port (keel, like etcd, listens on its peer URL even alone). */
  peerPort?: number;
  /** keel: pass --listen-peer-urls, --initial-advertise-peer-urls, --initial-cluster (default true; false tests the defaults). */
  passPeerFlags?: boolean;
  /** Binary override (etcd) or entry script (keel). */
  bin?: string;
  extraArgs?: readonly string[];
  env?: Readonly<Record<string, string>>;
  readyTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
}

export interface StopOptions {
  /** Skip SIGTERM and kill -9 at once (crash tests). */
  kill9?: boolean;
  timeoutMs?: number;
}

/** Lines that mean "serving": etcd 3.4 capnslog / zap, etcd 3.5 zap, keel. */
const readyPatterns = [/ready to serve client requests/, /serving client traffic insecurely/, /serving insecure client requests/];

const liveServers = new Set<ServerProcess>();

export class ServerProcess {
  readonly kind: ServerKind;
  readonly name: string;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  private readonly ownsDataDir: boolean;
  private readonly opts: StartOptions;
  private child: ChildProcess | undefined;
  private watchdog: ChildProcess | undefined;
  private output = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(kind: ServerKind, opts: StartOptions, name: string, dataDir: string, ownsDataDir: boolean, clientPort: number, peerPort: number) {
    this.kind = kind;
    this.opts = opts;
    this.name = name;
    this.dataDir = dataDir;
    this.ownsDataDir = ownsDataDir;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
  }

  /** Starts a server; when a port we picked was taken meanwhile by someone else, retries with fresh ports. */
  static async create(kind: ServerKind, opts: StartOptions): Promise<ServerProcess> {
    const portsChosen = opts.clientPort === undefined || opts.peerPort === undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await ServerProcess.createOnce(kind, opts);
      } catch (e) {
        const text = e instanceof Error ? e.message : String(e);
        if (!portsChosen || attempt >= 3 || !/address already in use|EADDRINUSE/i.test(text)) throw e;
      }
    }
  }

  private static async createOnce(kind: ServerKind, opts: StartOptions): Promise<ServerProcess> {
    const name = opts.name ?? `${kind}-${process.pid}-${++nameCounter}`;
    const ownsDataDir = opts.dataDir === undefined;
    const dataDir = opts.dataDir ?? path.join(makeTempDir(`${kind}-`), 'data');
    const clientPort = opts.clientPort ?? (await freePort());
    const peerPort = opts.peerPort ?? (await freePort());
    const server = new ServerProcess(kind, opts, name, dataDir, ownsDataDir, clientPort, peerPort);
    liveServers.add(server);
    try {
      await server.start();
    } catch (e) {
      await server.cleanup();
      throw e;
    }
    return server;
  }

  /** host:port for gRPC clients and etcdctl --endpoints. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get clientUrl(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get peerUrl(): string {
    return `http://127.0.0.1:${this.peerPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  /** Everything the process wrote on stdout and stderr (last 1 MiB) since its latest start. */
  get log(): string {
    return this.output;
  }

  /** Exit status if the process has exited on its own or was stopped. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exitInfo;
  }

  describe(): string {
    return `${this.kind} ${this.name} pid=${String(this.pid)} ${this.endpoint} data=${this.dataDir}`;
  }

  private command(): { file: string; args: string[] } {
    const client = ['--listen-client-urls', this.clientUrl, '--advertise-client-urls', this.clientUrl];
    const peer = [
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', `${this.name}=${this.peerUrl}`,
    ];
    const base = ['--name', this.name, '--data-dir', this.dataDir, ...client];
    const extra = [...(this.opts.extraArgs ?? [])];
    if (this.kind === 'etcd') {
      const bin = this.opts.bin ?? etcdBin();
      if (bin === undefined) throw new Error(missingTools(['etcd']).join('; '));
      return { file: bin, args: [...base, ...peer, ...extra] };
    }
    const entry = this.opts.bin ?? keelEntry();
    if (entry === undefined) throw new Error(missingTools(['keel']).join('; '));
    return { file: process.execPath, args: [entry, ...base, ...(this.opts.passPeerFlags === false ? [] : peer), ...extra] };
  }

  private async start(): Promise<void> {
    if (this.running) throw new Error(`${this.describe()} is already running`);
    const { file, args } = this.command();
    this.output = '';
    this.exitInfo = undefined;
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...inheritedEnv(), ...(this.opts.env ?? {}) },
    });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.stopWatchdog();
        resolve();
      });
    });
    const spawnError = new Promise<never>((_, reject) => child.once('error', (e) => reject(e)));
    spawnError.catch(() => undefined);
    if (child.pid !== undefined) this.startWatchdog(child.pid);

    const timeoutMs = this.opts.readyTimeoutMs ?? 20_000;
    let onData: (chunk: Buffer) => void = () => undefined;
    const ready = new Promise<void>((resolve) => {
      let pending = '';
      onData = (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        this.append(text);
        pending += text;
        if (readyPatterns.some((re) => re.test(pending))) resolve();
        const nl = pending.lastIndexOf('\n');
        if (nl >= 0) pending = pending.slice(nl + 1);
      };
    });
    child.stdout?.on('data', (c: Buffer) => onData(c));
    child.stderr?.on('data', (c: Buffer) => onData(c));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const outcome = await Promise.race([ready.then(() => 'ready' as const), this.exited.then(() => 'exited' as const), timeout, spawnError]);
      if (outcome === 'ready') return;
      const why = outcome === 'timeout'
        ? `not ready after ${timeoutMs} ms`
        : `exited before ready (code ${String(this.exit?.code)}, signal ${String(this.exit?.signal)})`;
      throw new Error(`${this.describe()}: ${why}\ncommand: ${file} ${args.join(' ')}\n--- output ---\n${tail(this.output, 8000)}`);
    } catch (e) {
      await this.stop({ kill9: true });
      throw e;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  private append(text: string): void {
    this.output += text;
    if (this.output.length > 1 << 20) this.output = this.output.slice(-(1 << 19));
  }

  private startWatchdog(childPid: number): void {
    // Kills the server if this test process disappears without running its exit hooks.
    const script = 'while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; kill -9 "$2" 2>/dev/null';
    try {
      const dog = spawn('/bin/sh', ['-c', script, 'keel-test-watchdog', String(process.pid), String(childPid)], { stdio: 'ignore' });
      dog.on('error', () => undefined);
      dog.unref();
      this.watchdog = dog;
    } catch {
      this.watchdog = undefined;
    }
  }

  private stopWatchdog(): void {
    const dog = this.watchdog;
    this.watchdog = undefined;
    if (dog?.pid !== undefined && dog.exitCode === null) {
      try {
        process.kill(dog.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }

  /** SIGTERM, then SIGKILL after the timeout; or SIGKILL at once with kill9. Resolves when the process is gone. */
  async stop(opts: StopOptions = {}): Promise<void> {
    const child = this.child;
    if (child === undefined || this.exitInfo !== undefined || child.pid === undefined) {
      this.stopWatchdog();
      return;
    }
    const pid = child.pid;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(pid, sig);
      } catch {
        /* already exited */
      }
    };
    if (opts.kill9 === true) {
      signal('SIGKILL');
      await this.exited;
      return;
    }
    signal('SIGTERM');
    const timeoutMs = opts.timeoutMs ?? this.opts.stopTimeoutMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        signal('SIGKILL');
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exited, killed]);
    if (timer !== undefined) clearTimeout(timer);
    await this.exited;
  }

  /** kill -9: for crash tests. */
  kill9(): Promise<void> {
    return this.stop({ kill9: true });
  }

  /** Stops (gracefully unless kill9) and starts again on the same ports and data dir. */
  async restart(opts: StopOptions = {}): Promise<void> {
    await this.stop(opts);
    await this.start();
  }

  /** Stops the process, removes its data dir if we made it, releases its ports. */
  async cleanup(): Promise<void> {
    try {
      await this.stop({ timeoutMs: 2_000 });
    } finally {
      liveServers.delete(this);
      if (this.ownsDataDir) removeTempDir(path.dirname(this.dataDir));
      if (this.opts.clientPort === undefined) releasePort(this.clientPort);
      if (this.opts.peerPort === undefined) releasePort(this.peerPort);
    }
  }

  /** Synchronous last resort for exit hooks. */
  killSync(): void {
    const pid = this.child?.pid;
    if (pid !== undefined && this.exitInfo === undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    this.stopWatchdog();
  }
}

let nameCounter = 0;

/**
 * The test process's environment minus ETCD_* and ETCDCTL_* (both servers read
 * ETCD_* as flags; ETCD_BIN and friends configure this harness, not them).
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('ETCD_') && !k.startsWith('ETCDCTL_')) env[k] = v;
  }
  return env;
}

function tail(text: string, chars: number): string {
  return text.length <= chars ? text : `…${text.slice(-chars)}`;
}

/** A fresh single-member etcd (Debian's 3.4 by default, $ETCD_BIN to override). */
export function startEtcd(opts: StartOptions = {}): Promise<ServerProcess> {
  return ServerProcess.create('etcd', opts);
}

/** A fresh keel: `node bin/keel.js` with etcd's client flags plus --name and --data-dir. */
export function startKeel(opts: StartOptions = {}): Promise<ServerProcess> {
  return ServerProcess.create('keel', opts);
}

/**
 * The implementation under test in compat suites: keel, or with
 * COMPAT_SUBJECT=etcd a second etcd (to validate the harness: etcd-vs-etcd
 * must show zero differences).
 */
export function subjectKind(): ServerKind {
  const v = process.env['COMPAT_SUBJECT'];
  if (v === undefined || v === '' || v === 'keel') return 'keel';
  if (v === 'etcd') return 'etcd';
  throw new Error(`COMPAT_SUBJECT must be keel or etcd, got ${v}`);
}

export function startSubject(opts: StartOptions = {}): Promise<ServerProcess> {
  const kind = subjectKind();
  const bin = kind === 'etcd' ? process.env['COMPAT_SUBJECT_BIN'] : undefined;
  return ServerProcess.create(kind, bin !== undefined && bin !== '' ? { ...opts, bin } : opts);
}

/** Tools the compat suites need for the configured subject. */
export function subjectTools(): Tool[] {
  return subjectKind() === 'keel' ? ['etcd', 'keel'] : ['etcd'];
}

/** Stops every server still running and removes every temp dir. Register with node:test's after(). */
export async function cleanupAll(): Promise<void> {
  const servers = [...liveServers];
  await Promise.allSettled(servers.map((s) => s.cleanup()));
  for (const dir of [...tempDirs]) removeTempDir(dir);
  for (const port of [...heldPorts.keys()]) releasePort(port);
}

function cleanupSync(): void {
  for (const s of liveServers) s.killSync();
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  tempDirs.clear();
  for (const port of [...heldPorts.keys()]) releasePort(port);
}

process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    cleanupSync();
    process.kill(process.pid, sig);
  });
}

/** Runs a short command synchronously (for version probes). */
export function runSync(file: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
