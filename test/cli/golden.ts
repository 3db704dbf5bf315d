// Golden harness: Debian's etcdctl and keelctl run with the same arguments
// against twin servers (two fresh members of the same kind that receive the
// same commands in the same order), and stdout, stderr and the exit code are
// diffed after replacing what differs by design between two servers or two
// runs: cluster/member IDs, lease IDs, log timestamps, client UUIDs,
// durations, ports.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { etcdctlBin, repoRoot, startEtcd, startKeel, type ServerProcess, type ServerKind } from '../helpers/procs';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface RunOptions {
  stdin?: string;
  env?: Readonly<Record<string, string>>;
  /** Don't pass --endpoints (tests of ETCDCTL_ENDPOINTS and defaults). */
  noEndpoints?: boolean;
  /** Extra normalization for this command's output (applied to both sides). */
  normalize?: (s: string) => string;
  timeoutMs?: number;
}

export const keelctlEntry = path.join(repoRoot, 'bin', 'keelctl.js');

function baseEnv(extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('ETCDCTL_')) env[k] = v;
  }
  env['ETCDCTL_API'] = '3';
  env['TZ'] = 'UTC';
  return { ...env, ...(extra ?? {}) };
}

export function runTool(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: baseEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('latin1').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? '');
  });
}

export function runEtcdctl(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const bin = etcdctlBin();
  if (bin === undefined) throw new Error('etcdctl not found');
  return runTool(bin, args, opts);
}

export function runKeelctl(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runTool(process.execPath, [keelctlEntry, ...args], opts);
}

/** The protobuf varint of a uint64, as a latin1 string (for -w protobuf output). */
function varint(v: bigint): string {
  let out = '';
  let x = v;
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out += String.fromCharCode(b);
  } while (x > 0n);
  return out;
}

/** Replaces every occurrence of each key by its value. */
function replaceAll(s: string, map: ReadonlyMap<string, string>): string {
  let out = s;
  // Longest first so a decimal ID is not eaten by a shorter one.
  for (const [from, to] of [...map.entries()].sort((a, b) => b[0].length - a[0].length)) {
    if (from !== '') out = out.split(from).join(to);
  }
  return out;
}

/** Normalization shared by every command. */
export function normalizeCommon(s: string): string {
  return s
    .replace(/"ts":"[^"]*"/g, '"ts":"<ts>"')
    .replace(/endpoint:\/\/client-[0-9a-f-]{36}\//g, 'endpoint://client-<uuid>/')
    .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} ([A-Z]) \|/gm, '<time> $1 |')
    .replace(/\b\d+(\.\d+)?(ns|µs|ms|s)\b/g, '<dur>');
}

/** Tables whose cells were normalized lose their width: compare the shape only. */
export function squeezeTables(s: string): string {
  return s
    .split('\n')
    .map((l) => (/^[+|]/.test(l) ? l.replace(/-+/g, '-').replace(/ +/g, ' ') : l))
    .join('\n');
}

export interface Side {
  server: ServerProcess;
  /** Tokens of this side → placeholders. */
  tokens: Map<string, string>;
}

export interface Diff {
  args: string[];
  field: 'stdout' | 'stderr' | 'code';
  etcdctl: string;
  keelctl: string;
}

/** Two servers of one kind: etcdctl talks to a, keelctl to b. */
export class Twin {
  readonly kind: ServerKind;
  readonly a: Side;
  readonly b: Side;
  readonly diffs: Diff[] = [];
  private leaseCount = 0;

  private constructor(kind: ServerKind, a: ServerProcess, b: ServerProcess) {
    this.kind = kind;
    this.a = { server: a, tokens: new Map() };
    this.b = { server: b, tokens: new Map() };
  }

  /** kind 'cross' (survey only, KEELCTL_GOLDEN_CROSS=1): etcdctl→etcd against keelctl→keel shows keel's server differences. */
  static async start(kind: ServerKind | 'cross'): Promise<Twin> {
    const startA = kind === 'keel' ? startKeel : startEtcd;
    const startB = kind === 'etcd' ? startEtcd : startKeel;
    const [a, b] = await Promise.all([startA({ name: 'twin' }), startB({ name: 'twin' })]);
    const twin = new Twin(kind === 'cross' ? 'keel' : kind, a, b);
    await twin.learnIds();
    return twin;
  }

  async stop(): Promise<void> {
    await Promise.all([this.a.server.cleanup(), this.b.server.cleanup()]);
  }

  private async learnIds(): Promise<void> {
    for (const side of [this.a, this.b]) {
      const ep = side.server.endpoint;
      side.tokens.set(ep, '<endpoint>');
      side.tokens.set(side.server.clientUrl, '<client-url>');
      side.tokens.set(side.server.peerUrl, '<peer-url>');
      side.tokens.set(`127.0.0.1:${side.server.peerPort}`, '<peer-addr>');
      const r = await runKeelctl([`--endpoints=${ep}`, 'endpoint', 'status', '-w', 'json']);
      const m = /"cluster_id":(\d+),"member_id":(\d+)/.exec(r.stdout);
      if (m !== null) this.registerId(side, m[1] ?? '', '<cluster-id>');
      if (m !== null) this.registerId(side, m[2] ?? '', '<member-id>');
    }
  }

  /** Registers a uint64 ID in decimal, %x and %016x/%16x forms. */
  registerId(side: Side, decimal: string, name: string): void {
    if (decimal === '' || decimal === '0') return;
    const big = BigInt(decimal);
    const hex = BigInt.asUintN(64, big).toString(16);
    side.tokens.set(decimal, name);
    side.tokens.set(BigInt.asIntN(64, big).toString(), name);
    side.tokens.set(hex.padStart(16, '0'), name);
    side.tokens.set(hex.padStart(16, ' '), name);
    side.tokens.set(hex, name);
    side.tokens.set(varint(BigInt.asUintN(64, big)), `${name.slice(0, -1)}-varint>`);
  }

  /** Makes lease IDs comparable: the n-th lease granted on each side is <lease-n>. */
  registerLeases(hexA: string, hexB: string): string {
    this.leaseCount++;
    const name = `<lease-${this.leaseCount}>`;
    this.registerId(this.a, BigInt(`0x${hexA}`).toString(), name);
    this.registerId(this.b, BigInt(`0x${hexB}`).toString(), name);
    return name;
  }

  normalize(side: Side, text: string, extra?: (s: string) => string): string {
    let s = replaceAll(text, side.tokens);
    s = normalizeCommon(s);
    // -w protobuf: the header's length depends on the varint size of the (random) IDs.
    s = s.replace(/\n[\s\S]\x08<cluster-id-varint>/g, '\n<header-len>\x08<cluster-id-varint>');
    if (extra !== undefined) s = extra(s);
    return s;
  }

  /**
   * Runs etcdctl against a and keelctl against b with the same arguments;
   * records differences. Returns both raw results.
   */
  async both(args: readonly string[], opts: RunOptions = {}): Promise<{ e: RunResult; k: RunResult }> {
    const withEp = (side: Side): string[] => (opts.noEndpoints === true ? [...args] : [`--endpoints=${side.server.endpoint}`, ...args]);
    const envFor = (side: Side): Record<string, string> | undefined => {
      if (opts.env === undefined) return undefined;
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.env)) env[k] = v.split('<endpoint>').join(side.server.endpoint);
      return env;
    };
    const [e, k] = await Promise.all([
      runEtcdctl(withEp(this.a), { ...opts, ...(envFor(this.a) !== undefined ? { env: envFor(this.a) as Record<string, string> } : {}) }),
      runKeelctl(withEp(this.b), { ...opts, ...(envFor(this.b) !== undefined ? { env: envFor(this.b) as Record<string, string> } : {}) }),
    ]);
    this.compare([...args], e, k, opts.normalize);
    return { e, k };
  }

  /** Runs independent (read-only) commands concurrently. */
  async all(list: readonly (readonly string[])[], opts: RunOptions = {}): Promise<void> {
    // A few at a time: a loaded machine turns wide fan-out into command timeouts.
    const queue = [...list];
    const worker = async (): Promise<void> => {
      for (let args = queue.shift(); args !== undefined; args = queue.shift()) await this.both(args, opts);
    };
    await Promise.all([worker(), worker(), worker()]);
  }

  compare(args: string[], e: RunResult, k: RunResult, extra?: (s: string) => string): void {
    for (const field of ['stdout', 'stderr'] as const) {
      const ne = this.normalize(this.a, e[field], extra);
      const nk = this.normalize(this.b, k[field], extra);
      if (ne !== nk) this.diffs.push({ args, field, etcdctl: ne, keelctl: nk });
    }
    if (e.code !== k.code) this.diffs.push({ args, field: 'code', etcdctl: String(e.code), keelctl: String(k.code) });
  }

  /** Takes the differences recorded so far (and clears them). */
  take(): Diff[] {
    return this.diffs.splice(0, this.diffs.length);
  }
}

/** Control and non-ASCII bytes made visible, so binary differences show. */
function visible(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function formatDiffs(diffs: readonly Diff[]): string {
  return diffs
    .map((d) => `$ etcdctl ${d.args.join(' ')}  [${d.field}]\n--- etcdctl\n${visible(d.etcdctl)}\n+++ keelctl\n${visible(d.keelctl)}`)
    .join('\n\n');
}

/** Every output format etcdctl knows. */
export const formats = ['simple', 'json', 'fields', 'table', 'protobuf'] as const;
