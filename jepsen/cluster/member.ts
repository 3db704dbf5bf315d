// One member process: keel through bin/keel.js, or an etcd binary, started
// with etcd's own flags as an operator would, inside its slot's network. The
// runner kills, pauses and restarts it by PID; an exit nobody asked for is
// reported to the cluster (it is a finding: a crash).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { memberLogTailBytes } from '../limits';
import type { Address, Network } from './net';

export type Target = 'keel' | 'etcd';

export interface MemberConfig {
  name: string;
  slot: number;
  address: Address;
  dataDir: string;
  logFile: string;
  target: Target;
  /** keel: path of bin/keel.js; etcd: the etcd binary. */
  bin: string;
  clusterToken: string;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class MemberProcess {
  private child: ChildProcess | undefined;
  private exitInfo: Exit | undefined;
  private exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  private expectExit = false;
  private tail = '';
  paused = false;
  private firstStart: { initialCluster: string; state: 'new' | 'existing' } | undefined;
  /** Set when the member is removed from the cluster: it is never restarted again. */
  removed = false;
  /** Environment the next start adds (faketime, failpoints). */
  env: Record<string, string> = {};
  /** How often it died without being asked to. */
  crashes = 0;
  onUnexpectedExit: ((m: MemberProcess, exit: Exit) => void) | undefined;

  constructor(readonly cfg: MemberConfig, private readonly net: Network) {}

  get name(): string {
    return this.cfg.name;
  }

  get clientUrl(): string {
    return `http://${this.cfg.address.host}:${this.cfg.address.clientPort}`;
  }

  get peerUrl(): string {
    return `http://${this.cfg.address.host}:${this.cfg.address.peerPort}`;
  }

  get endpoint(): string {
    return `${this.cfg.address.host}:${this.cfg.address.clientPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  get logTail(): string {
    return this.tail;
  }

  flags(initialCluster: string, state: 'new' | 'existing'): string[] {
    return [
      '--name', this.cfg.name,
      '--data-dir', this.cfg.dataDir,
      '--listen-client-urls', this.clientUrl,
      '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', state,
      '--initial-cluster-token', this.cfg.clusterToken,
    ];
  }

  /** Spawns the member; resolves once it is spawned (readiness is the cluster's business, watched by events). */
  start(initialCluster: string, state: 'new' | 'existing'): void {
    if (this.running) return;
    // A restart repeats the first start's flags, as a unit file would (etcd ignores them once the data dir exists).
    this.firstStart ??= { initialCluster, state };
    const args = this.flags(this.firstStart.initialCluster, this.firstStart.state);
    const cmd = this.cfg.target === 'keel'
      ? this.net.wrap(this.cfg.slot, process.execPath, [this.cfg.bin, ...args])
      : this.net.wrap(this.cfg.slot, this.cfg.bin, args);
    const log = fs.openSync(this.cfg.logFile, 'a');
    fs.writeSync(log, `\n### ${new Date().toISOString()} start: ${cmd.file} ${cmd.args.join(' ')} env=${JSON.stringify(this.env)}\n`);
    const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv(), ...this.env } });
    this.child = child;
    this.exitInfo = undefined;
    this.expectExit = false;
    this.paused = false;
    const onData = (chunk: Buffer): void => {
      fs.writeSync(log, chunk);
      this.tail = (this.tail + chunk.toString('utf8')).slice(-memberLogTailBytes);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', (e) => onData(Buffer.from(`spawn error: ${e.message}\n`)));
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        const exit = { code, signal };
        this.exitInfo = exit;
        fs.writeSync(log, `### exit code=${String(code)} signal=${String(signal)}\n`);
        fs.closeSync(log);
        if (!this.expectExit) this.onUnexpectedExit?.(this, exit);
        resolve(exit);
      });
    });
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined || !this.running) return;
    try {
      process.kill(pid, sig);
    } catch {
      /* exited meanwhile */
    }
  }

  /** kill -9; resolves when the process is gone. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.expectExit = true;
    if (this.paused) this.resume();
    this.signal('SIGKILL');
    await this.exited;
  }

  pause(): void {
    if (!this.running || this.paused) return;
    this.signal('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.signal('SIGCONT');
    this.paused = false;
  }

  /** SIGTERM (after SIGCONT), then SIGKILL if it lingers. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.expectExit = true;
    this.resume();
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        r();
      }, graceMs);
    });
    await Promise.race([this.exited, late]);
    if (timer !== undefined) clearTimeout(timer);
    await this.exited;
  }

  wipe(): void {
    fs.rmSync(this.cfg.dataDir, { recursive: true, force: true });
  }
}

/** The runner's environment without ETCD_* (both servers read them as flags). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('ETCD_') && !k.startsWith('ETCDCTL_') && !k.startsWith('KEEL_FAILPOINT') && !k.startsWith('FAKETIME')) env[k] = v;
  }
  return env;
}

export function dataDirFor(root: string, name: string, generation: number): string {
  return path.join(root, `${name}.${generation}.data`);
}
