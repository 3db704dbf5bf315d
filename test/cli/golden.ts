// Golden harness: two CLIs run with the same arguments against twin servers
// (two fresh members that receive the same commands in the same order), and
// stdout, stderr and the exit code are diffed after replacing what differs by
// design between two servers or two runs: cluster/member IDs, lease IDs, log
// timestamps, client UUIDs, durations, ports.
//
// The usual pairing is Debian's etcdctl on side a and keelctl on side b
// against twin servers of one kind; with tools ['etcdctl', 'etcdctl'] and
// kind 'cross' it is the same etcdctl against etcd (a) and keel (b).
//
// Long-running commands (watch, lease keep-alive) run as TwinStreams: both
// sides are started, the test waits for what it expects (never for a fixed
// time) and then interrupts them. A watch's readiness is observed on the wire:
// its connection goes through a small TCP proxy that reads the server's
// HTTP/2 frames and counts WatchResponses with created=true.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { etcdctlBin, repoRoot, startEtcd, startKeel, type ServerProcess, type ServerKind, type StartOptions } from '../helpers/procs';

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

export type CtlTool = 'etcdctl' | 'keelctl';

export const keelctlEntry = path.join(repoRoot, 'bin', 'keelctl.js');

/** How long a golden test waits for an expected output before calling it missing. */
export const streamTimeoutMs = Number(process.env['KEELCTL_GOLDEN_WAIT_MS'] ?? '') || 30_000;

function baseEnv(extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('ETCDCTL_') && !k.startsWith('ETCD_')) env[k] = v;
  }
  env['ETCDCTL_API'] = '3';
  env['TZ'] = 'UTC';
  return { ...env, ...(extra ?? {}) };
}

function toolCommand(tool: CtlTool, args: readonly string[]): { file: string; args: string[] } {
  if (tool === 'keelctl') return { file: process.execPath, args: [keelctlEntry, ...args] };
  const bin = etcdctlBin();
  if (bin === undefined) throw new Error('etcdctl not found');
  return { file: bin, args: [...args] };
}

/**
 * Both tools get long dial and command timeouts unless a case sets its own: on a loaded
 * machine a 2 s dial timeout (etcdctl's default) is missed by the Node process first, and
 * the output of a command that succeeds does not depend on them.
 */
function withPatientTimeouts(args: readonly string[], env: Readonly<Record<string, string>> | undefined): readonly string[] {
  const own = args.some((a) => a.startsWith('--dial-timeout') || a.startsWith('--command-timeout'));
  const ownEnv = env !== undefined && (env['ETCDCTL_DIAL_TIMEOUT'] !== undefined || env['ETCDCTL_COMMAND_TIMEOUT'] !== undefined);
  return own || ownEnv ? args : ['--dial-timeout=30s', '--command-timeout=60s', ...args];
}

function spawnTool(tool: CtlTool, args: readonly string[], env: Readonly<Record<string, string>> | undefined): ChildProcess {
  const cmd = toolCommand(tool, withPatientTimeouts(args, env));
  return spawn(cmd.file, cmd.args, { env: baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A process killed by SIGINT reports 130, as a shell would. */
function exitCode(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  return signal === 'SIGINT' ? 130 : signal === 'SIGKILL' ? 137 : null;
}

export function runTool(tool: CtlTool, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawnTool(tool, args, opts.env);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('latin1').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: exitCode(code, signal) });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.stdin ?? '');
  });
}

export function runEtcdctl(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runTool('etcdctl', args, opts);
}

export function runKeelctl(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runTool('keelctl', args, opts);
}

// ---------------------------------------------------------------------------
// Normalization

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

/**
 * Normalization shared by every command. Durations are clock readings, but
 * a lease's TTL(…) and remaining(…) are not: they stay (see leaseTtlWithin).
 */
export function normalizeCommon(s: string): string {
  return s
    .replace(/"ts":"[^"]*"/g, '"ts":"<ts>"')
    .replace(/endpoint:\/\/client-[0-9a-f-]{36}\//g, 'endpoint://client-<uuid>/')
    .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} ([A-Z]) \|/gm, '<time> $1 |')
    // Output is read as latin1 (byte for byte), so Go's "µs" arrives as its two UTF-8 bytes.
    .replace(/(?<!TTL\(|remaining\()\b\d+(\.\d+)?(ns|µs|\u00c2\u00b5s|ms|s)\b/g, '<dur>');
}

/** Tables whose cells were normalized lose their width: compare the shape only. */
export function squeezeTables(s: string): string {
  return s
    .split('\n')
    .map((l) => (/^[+|]/.test(l) ? l.replace(/-+/g, '-').replace(/ +/g, ' ') : l))
    .join('\n');
}

/**
 * A lease's remaining TTL depends on when it is read: a value within
 * [0, granted] becomes <ttl>; anything else stays, so it shows as a difference.
 * Covers simple (remaining(Ns)), json ("ttl":N,"granted-ttl":G) and fields
 * ("TTL" : N then "GrantedTTL" : G).
 */
export function leaseTtlWithin(s: string): string {
  const ok = (n: string, g: string): boolean => Number(n) >= 0 && Number(n) <= Number(g);
  return s
    .replace(/TTL\((\d+)s\), remaining\((\d+)s\)/g, (m, g: string, n: string) => (ok(n, g) ? `TTL(${g}s), remaining(<ttl>s)` : m))
    .replace(/"ttl":(\d+),"granted-ttl":(\d+)/g, (m, n: string, g: string) => (ok(n, g) ? `"ttl":<ttl>,"granted-ttl":${g}` : m))
    .replace(/"TTL" : (\d+)\n"GrantedTTL" : (\d+)/g, (m, n: string, g: string) => (ok(n, g) ? `"TTL" : <ttl>\n"GrantedTTL" : ${g}` : m));
}

/** A varint written as latin1 characters. */
function varintValue(s: string): number {
  let v = 0;
  for (let i = s.length - 1; i >= 0; i--) v = v * 128 + (s.charCodeAt(i) & 0x7f);
  return v;
}

/** -w protobuf LeaseTimeToLiveResponse: TTL (field 3) is a clock reading, granted TTL (field 4) is not. */
export function protobufTtlWithin(s: string): string {
  return s.replace(/(<lease-\d+-varint>)\x18([\x80-\xff]*[\x00-\x7f])\x20([\x80-\xff]*[\x00-\x7f])/g, (m, id: string, ttl: string, granted: string) =>
    varintValue(ttl) <= varintValue(granted) ? `${id}\x18<ttl>\x20${granted}` : m);
}

/** For lease timetolive/list output in any format: remaining TTL within [0, granted], Go map order. */
export function normalizeLeases(s: string): string {
  return sortListed(protobufTtlWithin(leaseTtlWithin(s)));
}

/** Streams that print a line per event in time (keep-alive renewals): only the first n lines are compared. */
export function firstLines(n: number): (s: string) => string {
  return (s) => s.split('\n').slice(0, n).join('\n');
}

/** The same line repeated (renewals before the end) counts once. */
export function squeezeRepeats(s: string): string {
  return s.replace(/^(.*\n)\1+/gm, '$1');
}

/** Go map iteration order (etcd's lease list, attached keys): compare as sets. */
export function sortListed(s: string): string {
  return s
    .replace(/attached keys\(\[([^\]]*)\]\)/g, (_m, keys: string) => `attached keys([${keys.split(' ').sort().join(' ')}])`)
    .replace(/"keys":\[([^\]]*)\]/g, (_m, keys: string) => `"keys":[${keys.split(',').sort().join(',')}]`)
    .replace(/"leases":\[([^\]]*)\]/g, (_m, ls: string) => `"leases":[${ls.split(/(?<=\}),/).sort().join(',')}]`)
    .replace(/^(found \d+ leases\n)((?:<lease-\d+>\n|[0-9a-f]{16}\n)+)/m, (_m, head: string, ids: string) => head + ids.split('\n').filter((x) => x !== '').sort().map((x) => `${x}\n`).join(''))
    .replace(/((?:^"Key" : .*\n)+)/gm, (block: string) => block.split('\n').filter((x) => x !== '').sort().map((x) => `${x}\n`).join(''))
    .replace(/((?:^"ID" : .*\n){2,})/gm, (block: string) => block.split('\n').filter((x) => x !== '').sort().map((x) => `${x}\n`).join(''));
}

// ---------------------------------------------------------------------------
// Wire tap: counts created WatchResponses seen from the server

/** Top-level protobuf scan: is field 3 (WatchResponse.created) true? */
function watchCreated(msg: Buffer): boolean {
  let i = 0;
  const readVarint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = msg[i++];
      if (b === undefined) throw new RangeError('truncated varint');
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  try {
    while (i < msg.length) {
      const tag = readVarint();
      const field = tag >> 3n;
      const wire = Number(tag & 7n);
      if (wire === 0) {
        const v = readVarint();
        if (field === 3n && v === 1n) return true;
      } else if (wire === 2) {
        const len = Number(readVarint()); // not `i += readVarint()`: that reads i before the call moves it
        i += len;
      } else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return false;
    }
  } catch {
    return false;
  }
  return false;
}

/** Parses the server→client half of an h2c gRPC connection. */
class GrpcResponseTap {
  created = 0;
  messages = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, Buffer>();

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      const type = this.buf[3];
      const flags = this.buf[4] ?? 0;
      const sid = this.buf.readUInt32BE(5) & 0x7fffffff;
      let payload = this.buf.subarray(9, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      if (type !== 0) continue; // DATA frames only
      if ((flags & 0x8) !== 0) payload = payload.subarray(1, payload.length - (payload[0] ?? 0));
      this.data(sid, payload);
    }
  }

  private data(sid: number, payload: Buffer): void {
    let acc = Buffer.concat([this.streams.get(sid) ?? Buffer.alloc(0), payload]);
    while (acc.length >= 5) {
      const mlen = acc.readUInt32BE(1);
      if (acc.length < 5 + mlen) break;
      const msg = acc.subarray(5, 5 + mlen);
      acc = acc.subarray(5 + mlen);
      this.messages++;
      if (watchCreated(msg)) this.created++;
    }
    this.streams.set(sid, acc);
  }
}

/** A loopback TCP proxy in front of one server that taps the server's responses. */
class TapProxy {
  private readonly taps: GrpcResponseTap[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server, readonly port: number) {}

  static start(targetPort: number): Promise<TapProxy> {
    return new Promise((resolve, reject) => {
      let proxy: TapProxy | undefined;
      const server = net.createServer((client) => proxy?.accept(client, targetPort));
      server.on('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => {
        const addr = server.address();
        proxy = new TapProxy(server, typeof addr === 'object' && addr !== null ? addr.port : 0);
        resolve(proxy);
      });
    });
  }

  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  get created(): number {
    return this.taps.reduce((n, t) => n + t.created, 0);
  }

  private accept(client: net.Socket, targetPort: number): void {
    const tap = new GrpcResponseTap();
    this.taps.push(tap);
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d: Buffer) => upstream.write(d));
    upstream.on('data', (d: Buffer) => {
      tap.push(d);
      client.write(d);
    });
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

// ---------------------------------------------------------------------------
// Twins

export interface Side {
  server: ServerProcess;
  tool: CtlTool;
  /** e.g. "etcdctl→etcd", for diffs. */
  label: string;
  /** Tokens of this side → placeholders. */
  tokens: Map<string, string>;
  /** Placeholders usable in arguments → this side's value (e.g. <lease-1> → its hex ID). */
  vars: Map<string, string>;
  /** Hex lengths of its server's cluster and member IDs (learnIds). */
  idHexLengths: number[];
}

export interface Diff {
  args: string[];
  field: 'stdout' | 'stderr' | 'code' | 'timeout';
  labels: readonly [string, string];
  a: string;
  b: string;
}

export interface TwinOptions {
  /** CLI per side; default etcdctl on a, keelctl on b. */
  tools?: readonly [CtlTool, CtlTool];
  etcd?: StartOptions;
  keel?: StartOptions;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const traceOn = process.env['KEELCTL_GOLDEN_TRACE'] === '1';
const traceStart = Date.now();
/** KEELCTL_GOLDEN_SHOW=1: side a's normalized output of every compared command on stderr. */
const showOn = process.env['KEELCTL_GOLDEN_SHOW'] === '1';

/** KEELCTL_GOLDEN_TRACE=1: every command and wait on stderr with its start time and duration (for finding slow steps). */
export async function traced<T>(what: string, fn: () => Promise<T>): Promise<T> {
  if (!traceOn) return fn();
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    process.stderr.write(`# golden +${((t0 - traceStart) / 1000).toFixed(2)}s ${((Date.now() - t0) / 1000).toFixed(2)}s ${what}\n`);
  }
}

/** How many times sub occurs in s. */
export function occurrences(s: string, sub: string): number {
  return s.split(sub).length - 1;
}

/** Polls cond every few ms until true or the deadline: returns whether it became true. */
export async function waitUntil(cond: () => boolean, timeoutMs = streamTimeoutMs): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(15);
  }
}

/** Two servers: a's tool talks to a, b's tool to b. */
export class Twin {
  readonly kind: ServerKind | 'cross';
  readonly a: Side;
  readonly b: Side;
  readonly diffs: Diff[] = [];
  private leaseCount = 0;
  /** Streams not finished yet: stop() kills them (a test that threw midway leaves no process behind). */
  readonly openStreams = new Set<TwinStream>();

  private constructor(kind: ServerKind | 'cross', a: Side, b: Side) {
    this.kind = kind;
    this.a = a;
    this.b = b;
  }

  /**
   * kind 'etcd' / 'keel': two servers of that kind. kind 'cross': etcd on a,
   * keel on b (with the default tools: a survey of keel's server differences,
   * KEELCTL_GOLDEN_CROSS=1; with tools etcdctl/etcdctl: the etcdctl-against-keel contract).
   */
  static async start(kind: ServerKind | 'cross', opts: TwinOptions = {}): Promise<Twin> {
    const tools = opts.tools ?? (['etcdctl', 'keelctl'] as const);
    const kindA: ServerKind = kind === 'keel' ? 'keel' : 'etcd';
    const kindB: ServerKind = kind === 'etcd' ? 'etcd' : 'keel';
    const starter = (k: ServerKind): Promise<ServerProcess> => (k === 'etcd' ? startEtcd({ name: 'twin', ...opts.etcd }) : startKeel({ name: 'twin', ...opts.keel }));
    const started = await Promise.allSettled([starter(kindA), starter(kindB)]);
    const [ra, rb] = started;
    if (ra?.status !== 'fulfilled' || rb?.status !== 'fulfilled') {
      await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.cleanup() : undefined)));
      const failed = started.find((r) => r.status === 'rejected');
      throw failed?.status === 'rejected' ? failed.reason : new Error('twin did not start');
    }
    const side = (server: ServerProcess, tool: CtlTool): Side => ({ server, tool, label: `${tool}→${server.kind}`, tokens: new Map(), vars: new Map(), idHexLengths: [] });
    const twin = new Twin(kind, side(ra.value, tools[0]), side(rb.value, tools[1]));
    await twin.learnIds();
    return twin;
  }

  get labels(): readonly [string, string] {
    return [this.a.label, this.b.label];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.openStreams].map((s) => s.abort()));
    await Promise.all([this.a.server.cleanup(), this.b.server.cleanup()]);
  }

  private async learnIds(): Promise<void> {
    await Promise.all([this.a, this.b].map(async (side) => {
      const ep = side.server.endpoint;
      side.tokens.set(ep, '<endpoint>');
      side.tokens.set(side.server.clientUrl, '<client-url>');
      side.tokens.set(side.server.peerUrl, '<peer-url>');
      side.tokens.set(`127.0.0.1:${side.server.peerPort}`, '<peer-addr>');
      // A member that just said it is ready may still be electing itself: a few tries.
      let r: RunResult = { stdout: '', stderr: '', code: null };
      let m: RegExpExecArray | null = null;
      for (let attempt = 0; attempt < 10 && m === null; attempt++) {
        if (attempt > 0) await sleep(300);
        r = await runEtcdctl([`--endpoints=${ep}`, 'endpoint', 'status', '-w', 'json']);
        m = /"cluster_id":(\d+),"member_id":(\d+)/.exec(r.stdout);
      }
      if (m === null) throw new Error(`${side.server.describe()}: no IDs in endpoint status: ${r.stdout}${r.stderr}`);
      this.registerId(side, m[1] ?? '', '<cluster-id>');
      this.registerId(side, m[2] ?? '', '<member-id>');
      side.idHexLengths = [m[1] ?? '', m[2] ?? ''].map((d) => BigInt.asUintN(64, BigInt(d === '' ? '0' : d)).toString(16).length);
    }));
    // Random IDs print as %x: one with a leading zero digit is a character shorter, which widens
    // or narrows a table column on one twin only. Then table layout is compared without widths.
    this.tableWidthsDiffer = this.a.idHexLengths.join() !== this.b.idHexLengths.join();
  }

  private tableWidthsDiffer = false;

  /**
   * Registers a uint64 ID in decimal, %x and %016x forms. (%16x pads with
   * spaces; normalize() folds the spaces before a placeholder instead, since
   * a padded token would also eat a separator's space where the ID is short.)
   */
  registerId(side: Side, decimal: string, name: string): void {
    if (decimal === '' || decimal === '0') return;
    const big = BigInt(decimal);
    const hex = BigInt.asUintN(64, big).toString(16);
    side.tokens.set(decimal, name);
    side.tokens.set(BigInt.asIntN(64, big).toString(), name);
    side.tokens.set(hex.padStart(16, '0'), name);
    side.tokens.set(hex, name);
    side.tokens.set(varint(BigInt.asUintN(64, big)), `${name.slice(0, -1)}-varint>`);
  }

  /** Makes lease IDs comparable: the n-th lease granted on each side is <lease-n>, usable in arguments. */
  registerLeases(hexA: string, hexB: string): string {
    this.leaseCount++;
    const name = `<lease-${this.leaseCount}>`;
    this.registerId(this.a, BigInt(`0x${hexA}`).toString(), name);
    this.registerId(this.b, BigInt(`0x${hexB}`).toString(), name);
    this.a.vars.set(name, hexA);
    this.b.vars.set(name, hexB);
    return name;
  }

  /**
   * `lease grant …` on both sides; the IDs (simple, json or fields output)
   * are registered before comparing. Returns the placeholder, '' if none granted.
   */
  async grant(args: readonly string[], opts: RunOptions = {}): Promise<string> {
    const [e, k] = await Promise.all([this.run(this.a, args, opts), this.run(this.b, args, opts)]);
    const idOf = (r: RunResult): string | undefined => {
      const hex = /lease ([0-9a-f]+) granted/.exec(r.stdout)?.[1];
      if (hex !== undefined) return hex;
      const dec = /"ID"(?::| : )(\d+)/.exec(r.stdout)?.[1];
      return dec !== undefined ? BigInt(dec).toString(16).padStart(16, '0') : undefined;
    };
    const [ie, ik] = [idOf(e), idOf(k)];
    const name = ie !== undefined && ik !== undefined ? this.registerLeases(ie, ik) : '';
    this.compare([...args], e, k, opts.normalize);
    return name;
  }

  /** Placeholders (<lease-n>) in text → this side's values. */
  expandText(side: Side, text: string): string {
    let out = text;
    for (const [name, value] of side.vars) out = out.split(name).join(value);
    return out;
  }

  private expand(side: Side, args: readonly string[]): string[] {
    return args.map((arg) => this.expandText(side, arg));
  }

  private envFor(side: Side, env: Readonly<Record<string, string>> | undefined, endpoint = side.server.endpoint): Record<string, string> | undefined {
    if (env === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) out[k] = v.split('<endpoint>').join(endpoint);
    return out;
  }

  /** Runs this side's tool with --endpoints and the side's placeholders expanded. */
  run(side: Side, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return traced(`${side.label} ${args.join(' ')}`, () => this.runUntraced(side, args, opts));
  }

  private runUntraced(side: Side, args: readonly string[], opts: RunOptions): Promise<RunResult> {
    const full = opts.noEndpoints === true ? this.expand(side, args) : [`--endpoints=${side.server.endpoint}`, ...this.expand(side, args)];
    const env = this.envFor(side, opts.env);
    return runTool(side.tool, full, { ...opts, ...(env !== undefined ? { env } : {}), ...(opts.stdin !== undefined ? { stdin: this.expandText(side, opts.stdin) } : {}) });
  }

  /** Runs each side's tool with the same arguments; records differences. Returns both raw results. */
  async both(args: readonly string[], opts: RunOptions = {}): Promise<{ e: RunResult; k: RunResult }> {
    const [e, k] = await Promise.all([this.run(this.a, args, opts), this.run(this.b, args, opts)]);
    this.compare([...args], e, k, opts.normalize);
    return { e, k };
  }

  /** Runs independent (read-only) commands concurrently. */
  async all(list: readonly (readonly string[])[], opts: RunOptions = {}, width = 3): Promise<void> {
    // A few at a time: a loaded machine turns wide fan-out into command timeouts.
    const queue = [...list];
    const worker = async (): Promise<void> => {
      for (let args = queue.shift(); args !== undefined; args = queue.shift()) await this.both(args, opts);
    };
    await Promise.all(Array.from({ length: width }, worker));
  }

  /**
   * Commands the CLI answers without contacting the twin servers (argument
   * and flag errors, help, version, unreachable endpoints): the server kind
   * cannot change their output, so they are compared on etcd twins and in the
   * cross survey, not again on keel twins.
   */
  async clientOnly(list: readonly (readonly string[])[], opts: RunOptions = {}): Promise<void> {
    if (this.kind === 'keel') return;
    await this.all(list, opts);
  }

  /** Starts a watch-like command, waits until the server created its watches (default 1), then runs the writes. */
  async watch(args: readonly string[], writes: readonly (readonly string[])[] = [], opts: StreamOptions & { watches?: number } = {}): Promise<TwinStream> {
    const s = await this.stream(args, opts);
    await s.created(opts.watches ?? 1);
    for (const w of writes) await this.both(w);
    return s;
  }

  /** Starts a long-running command (watch, lease keep-alive) on both sides. */
  async stream(args: readonly string[], opts: StreamOptions = {}): Promise<TwinStream> {
    const sides = await Promise.all([this.a, this.b].map(async (side) => {
      const proxy = opts.tap === false ? undefined : await TapProxy.start(side.server.clientPort);
      const endpoint = proxy?.endpoint ?? side.server.endpoint;
      if (proxy !== undefined) side.tokens.set(endpoint, '<endpoint>');
      const full = opts.noEndpoints === true ? this.expand(side, args) : [`--endpoints=${endpoint}`, ...this.expand(side, args)];
      return new SideStream(side, spawnTool(side.tool, full, this.envFor(side, opts.env, endpoint)), proxy);
    }));
    const stream = new TwinStream(this, [...args], sides[0] as SideStream, sides[1] as SideStream, opts.normalize);
    this.openStreams.add(stream);
    if (opts.stdin !== undefined) stream.send(opts.stdin);
    return stream;
  }

  normalize(side: Side, text: string, extra?: (s: string) => string): string {
    let s = replaceAll(text, side.tokens);
    s = s.replace(/ {2,}(<(?:cluster-id|member-id|lease-\d+)>)/g, ' $1').replace(/^ +(<(?:cluster-id|member-id|lease-\d+)>)/gm, '$1'); // %16x
    s = normalizeCommon(s);
    if (this.tableWidthsDiffer) s = s.replace(/^[+|].*$/gm, (line) => line.replace(/-{2,}/g, '-').replace(/ {2,}/g, ' '));
    // -w protobuf: the length of a message that starts with an ID (a header, a
    // member) depends on the varint size of the (random) ID.
    s = s.replace(/\n[\s\S]\x08<cluster-id-varint>/g, '\n<header-len>\x08<cluster-id-varint>');
    s = s.replace(/\x12[\s\S]\x08<member-id-varint>/g, '\x12<member-len>\x08<member-id-varint>');
    if (extra !== undefined) s = extra(s);
    return s;
  }

  compare(args: string[], e: RunResult, k: RunResult, extra?: (s: string) => string): void {
    for (const field of ['stdout', 'stderr'] as const) {
      const ne = this.normalize(this.a, e[field], extra);
      const nk = this.normalize(this.b, k[field], extra);
      if (showOn && ne !== '') process.stderr.write(`# golden ${args.join(' ')} [${field}, ${this.a.label}, exit ${String(e.code)}]\n${ne.replace(/^/gm, '#   ')}\n`);
      if (ne !== nk) this.diffs.push({ args, field, labels: this.labels, a: ne, b: nk });
    }
    if (e.code !== k.code) this.diffs.push({ args, field: 'code', labels: this.labels, a: String(e.code), b: String(k.code) });
  }

  /** Records a problem that is not a difference of outputs (an expected output never came). */
  note(args: string[], a: string, b: string): void {
    this.diffs.push({ args, field: 'timeout', labels: this.labels, a, b });
  }

  /** Takes the differences recorded so far (and clears them). */
  take(): Diff[] {
    return this.diffs.splice(0, this.diffs.length);
  }
}

export interface StreamOptions {
  /** Written to both stdins at start (kept open for send()). */
  stdin?: string;
  env?: Readonly<Record<string, string>>;
  noEndpoints?: boolean;
  normalize?: (s: string) => string;
  /** Route through the tapping proxy (default true): needed for created(). */
  tap?: boolean;
}

class SideStream {
  stdout = '';
  stderr = '';
  result: RunResult | undefined;
  readonly done: Promise<RunResult>;

  constructor(readonly side: Side, readonly child: ChildProcess, readonly proxy: TapProxy | undefined) {
    child.stdout?.setEncoding('latin1').on('data', (d: string) => (this.stdout += d));
    child.stderr?.setEncoding('latin1').on('data', (d: string) => (this.stderr += d));
    child.stdin?.on('error', () => undefined);
    this.done = new Promise((resolve) => {
      child.on('error', (e) => {
        this.result = { stdout: this.stdout, stderr: `${this.stderr}spawn error: ${String(e)}`, code: null };
        proxy?.close();
        resolve(this.result);
      });
      child.on('close', (code, signal) => {
        this.result = { stdout: this.stdout, stderr: this.stderr, code: exitCode(code, signal) };
        proxy?.close();
        resolve(this.result);
      });
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.result === undefined) this.child.kill(signal);
  }
}

/** One long-running command on both sides of a twin. */
export class TwinStream {
  /** Set once a wait failed: later waits of this stream are not worth their timeout. */
  private failed = false;

  constructor(
    private readonly twin: Twin,
    readonly args: string[],
    private readonly a: SideStream,
    private readonly b: SideStream,
    private readonly normalize: ((s: string) => string) | undefined,
  ) {}

  private get sides(): [SideStream, SideStream] {
    return [this.a, this.b];
  }

  /** Waits on each side for cond; a side that never gets there is recorded (with what it printed). */
  private wait(what: string, cond: (s: SideStream) => boolean, timeoutMs: number): Promise<boolean> {
    return traced(`${this.args.join(' ')}: wait for ${what}`, () => this.waitUntraced(what, cond, timeoutMs));
  }

  private async waitUntraced(what: string, cond: (s: SideStream) => boolean, timeoutMs: number): Promise<boolean> {
    const limit = this.failed ? 0 : timeoutMs;
    const ok = await Promise.all(this.sides.map((s) => waitUntil(() => cond(s) || s.result !== undefined, limit).then(() => cond(s))));
    if (ok[0] === true && ok[1] === true) return true;
    if (this.failed) return false; // the first failed wait said it already
    this.failed = true;
    const show = (s: SideStream, good: boolean | undefined): string =>
      good === true ? 'ok' : `never (${s.result !== undefined ? `exited ${String(s.result.code)}` : 'still running'}); stdout so far:\n${s.stdout}\nstderr so far:\n${s.stderr}`;
    this.twin.note([...this.args, `(waiting for ${what})`], show(this.a, ok[0]), show(this.b, ok[1]));
    return false;
  }

  /** Waits until the server has answered n watch creations on each side (observed on the wire). */
  created(n: number, timeoutMs = streamTimeoutMs): Promise<boolean> {
    return this.wait(`${n} created watch response(s)`, (s) => (s.proxy?.created ?? 0) >= n, timeoutMs);
  }

  /** Waits until each side's stdout satisfies pred. */
  until(what: string, pred: (stdout: string) => boolean, timeoutMs = streamTimeoutMs): Promise<boolean> {
    return this.wait(what, (s) => pred(s.stdout), timeoutMs);
  }

  /** Waits until each side printed at least n lines on stdout. */
  lines(n: number, timeoutMs = streamTimeoutMs): Promise<boolean> {
    return this.until(`${n} lines on stdout`, (out) => out.split('\n').length - 1 >= n, timeoutMs);
  }

  /** Writes to both stdins (placeholders such as <lease-1> expanded per side). */
  send(text: string): void {
    for (const s of this.sides) s.child.stdin?.write(this.twin.expandText(s.side, text));
  }

  /**
   * Ends the command on both sides — 'SIGINT' (Ctrl-C), 'eof' (close stdin),
   * 'exit' (it ends by itself) — and compares what each printed.
   */
  async finish(how: 'SIGINT' | 'eof' | 'exit', timeoutMs = streamTimeoutMs): Promise<void> {
    for (const s of this.sides) {
      if (how === 'SIGINT') s.kill('SIGINT');
      else if (how === 'eof') s.child.stdin?.end();
    }
    const exited = await this.wait('exit', (s) => s.result !== undefined, timeoutMs);
    if (!exited) for (const s of this.sides) s.kill('SIGKILL');
    const [ra, rb] = await Promise.all([this.a.done, this.b.done]);
    this.twin.openStreams.delete(this);
    this.twin.compare(this.args, ra, rb, this.normalize);
  }

  /** Kills both sides without comparing. */
  async abort(): Promise<void> {
    for (const s of this.sides) s.kill('SIGKILL');
    await Promise.all([this.a.done, this.b.done]);
    this.twin.openStreams.delete(this);
  }
}

/** Control and non-ASCII bytes made visible, so binary differences show. */
function visible(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function formatDiffs(diffs: readonly Diff[]): string {
  return diffs
    .map((d) => `$ ${d.args.join(' ')}  [${d.field}]\n--- ${d.labels[0]}\n${visible(d.a)}\n+++ ${d.labels[1]}\n${visible(d.b)}`)
    .join('\n\n');
}

/** Every output format etcdctl knows. */
export const formats = ['simple', 'json', 'fields', 'table', 'protobuf'] as const;
