// What every keelctl command shares: exit codes and errors as etcdctl has
// them, and the command context (flags, env, output, client).
import * as fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Client, ClientError, DeadlineError, type ClientOptions } from '../client';
import { flagSpecs, convertValue, parseGoBool, type FlagSpec, type FlagValue, type ParsedArgs } from './flags';
import { capnslogTime, zapTime } from './go-format';
import { Exit, ExitError } from './exit';
import type { Io } from './io';
import type { OfflineTools } from './offline';
import { newPrinter, type OutputFormat, type Printer } from './printers';

export { Exit, ExitError, exitBySignal } from './exit';

/** The text etcdctl prints for a client error: etcd's message, or grpc's status text. */
export function errorText(e: unknown): string {
  if (e instanceof DeadlineError) return 'context deadline exceeded';
  if (e instanceof ClientError) {
    if (e.details.startsWith('etcdserver: ')) return e.details;
    if (e.code === 1) return 'context canceled';
    return e.rpcText;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

export class Context {
  readonly path: string;
  readonly io: Io;
  private readonly parsed: ParsedArgs;
  private readonly specs: FlagSpec[];
  private clientCache: Client | undefined;
  private envApplied = false;
  private readonly clientId = randomUUID();
  readonly cleanups: (() => void)[] = [];
  /** Snapshot and data-dir work done without a server (etcdctl 3.4 still has it; etcd 3.5 moved it to etcdutl). */
  readonly offline: OfflineTools;

  constructor(path: string, parsed: ParsedArgs, io: Io, offline: OfflineTools) {
    this.path = path;
    this.parsed = parsed;
    this.io = io;
    this.offline = offline;
    this.specs = flagSpecs(path);
  }

  get args(): string[] {
    return this.parsed.positionals;
  }

  get argsLenAtDash(): number {
    return this.parsed.argsLenAtDash;
  }

  flag(name: string): FlagValue | undefined {
    return this.parsed.values.get(name);
  }

  bool(name: string): boolean {
    return this.parsed.values.get(name) === true;
  }

  str(name: string): string {
    const v = this.parsed.values.get(name);
    return typeof v === 'string' ? v : '';
  }

  int(name: string): number {
    const v = this.parsed.values.get(name);
    return typeof v === 'number' ? v : 0;
  }

  changed(name: string): boolean {
    return this.parsed.changed.has(name);
  }

  /** Applies ETCDCTL_* variables to the global flags (etcdctl does this when it builds a client). */
  applyEnv(): void {
    if (this.envApplied) return;
    this.envApplied = true;
    const globals = flagSpecs('').filter((s) => s.name !== 'help');
    const used = new Set<string>();
    const shadowed = new Set<string>();
    const envName = (s: FlagSpec): string => `ETCDCTL_${s.name.toUpperCase().replace(/-/g, '_')}`;
    const extraKnown = this.path === 'watch' ? ['ETCDCTL_WATCH_KEY', 'ETCDCTL_WATCH_RANGE_END'] : [];
    for (const s of globals) {
      const key = envName(s);
      if (this.parsed.changed.has(s.name)) {
        shadowed.add(key);
        continue;
      }
      const raw = this.io.env[key];
      if (raw === undefined || raw === '') continue;
      used.add(key);
      try {
        this.parsed.values.set(s.name, convertValue(s, raw, undefined, false));
      } catch {
        // pflag reports these through an error etcdctl ignores: the default stays.
      }
    }
    for (const key of extraKnown) used.add(key);
    for (const [key, value] of Object.entries(this.io.env)) {
      if (used.has(key)) continue;
      if (shadowed.has(key)) {
        this.io.err(`${capnslogTime()} C | pkg/flags: conflicting environment variable "${key}" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)\n`);
        throw new ExitError(Exit.error, '', true);
      }
      if (key.startsWith('ETCDCTL_') && key !== 'ETCDCTL_API') {
        this.io.err(`${capnslogTime()} W | pkg/flags: unrecognized environment variable ${key}=${value ?? ''}\n`);
      }
    }
  }

  /** The output format, checked as etcdctl's initDisplayFromCmd does. */
  get format(): OutputFormat {
    this.applyEnv();
    const w = this.str('write-out');
    if (w === 'simple' || w === 'json' || w === 'fields' || w === 'table' || w === 'protobuf') return w;
    throw new ExitError(Exit.badFeature, 'unsupported output format');
  }

  /** The printer of the chosen output format (etcdctl's NewPrinter). */
  printer(): Printer {
    return newPrinter(this.format, this.io, this.hex);
  }

  get hex(): boolean {
    this.applyEnv();
    return this.bool('hex');
  }

  get commandTimeoutMs(): number {
    return this.int('command-timeout');
  }

  /** zap's JSON warn line that etcd's clientv3 retry interceptor writes for a failed unary call. */
  logCallError(e: ClientError, target: string): void {
    let cause = e.rpcText;
    if (e instanceof DeadlineError) {
      const refused = /connect|ECONNREFUSED|No connection/i.test(e.lastCause);
      let why = refused ? 'all SubConns are in TransientFailure' : e.lastCause;
      if (refused && target.startsWith('passthrough:///')) {
        const addr = target.slice('passthrough:///'.length).replace(/^\w+:\/\//, '');
        why = `connection error: desc = "transport: Error while dialing dial tcp ${addr}: connect: connection refused"`;
      }
      cause = `rpc error: code = DeadlineExceeded desc = latest balancer error: ${why}`;
    }
    const line = `{"level":"warn","ts":"${zapTime()}","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":${JSON.stringify(target)},"attempt":0,"error":${JSON.stringify(cause)}}\n`;
    this.io.err(line);
  }

  clientOptions(endpoints?: readonly string[]): ClientOptions {
    this.applyEnv();
    const eps = endpoints ?? (this.flag('endpoints') as string[] | undefined) ?? ['127.0.0.1:2379'];
    const opts: ClientOptions = {
      endpoints: eps,
      dialTimeoutMs: this.int('dial-timeout'),
      keepaliveTimeMs: this.int('keepalive-time'),
      keepaliveTimeoutMs: this.int('keepalive-timeout'),
    };
    const first = eps[0] ?? '';
    const target = endpoints !== undefined ? `passthrough:///${first}` : `endpoint://client-${this.clientId}/${first.replace(/^\w+:\/\//, '')}`;
    opts.onCallError = (e) => this.logCallError(e, target);
    const tls = this.tlsOptions();
    if (tls !== undefined) {
      opts.tls = tls;
      if (!this.bool('insecure-transport') || this.str('cacert') !== '' || this.str('cert') !== '') opts.secure = true;
    }
    const { user, password } = this.credentials();
    if (user !== undefined) {
      opts.username = user;
      opts.password = password ?? '';
    }
    return opts;
  }

  private tlsOptions(): ClientOptions['tls'] {
    const cacert = this.str('cacert');
    const cert = this.str('cert');
    const key = this.str('key');
    const skip = this.bool('insecure-skip-tls-verify');
    const anyTls = cacert !== '' || cert !== '' || key !== '' || skip || !this.bool('insecure-transport');
    if (!anyTls) return undefined;
    const read = (file: string): Buffer => {
      try {
        return fs.readFileSync(file);
      } catch (e) {
        throw new ExitError(Exit.badConnection, `open ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : String((e as Error).message)}`);
      }
    };
    const tls: NonNullable<ClientOptions['tls']> = { skipVerify: skip };
    if (cacert !== '') tls.ca = read(cacert);
    if (cert !== '') tls.cert = read(cert);
    if (key !== '') tls.key = read(key);
    return tls;
  }

  private credentials(): { user: string | undefined; password: string | undefined } {
    const userFlag = this.str('user');
    if (userFlag === '') return { user: undefined, password: undefined };
    const pwFlag = this.str('password');
    if (pwFlag !== '') {
      return { user: userFlag, password: pwFlag };
    }
    const colon = userFlag.indexOf(':');
    if (colon < 0) {
      this.io.err('Password: ');
      const pw = this.io.stdin().toString('utf8').split('\n')[0] ?? '';
      return { user: userFlag, password: pw };
    }
    return { user: userFlag.slice(0, colon), password: userFlag.slice(colon + 1) };
  }

  /** Whether the shared client failed to authenticate. */
  get authFailed(): boolean {
    return this.clientCache?.authFailed === true;
  }

  /** The shared client (etcdctl's mustClientFromCmd). */
  client(): Client {
    if (this.clientCache === undefined) {
      void this.format;
      this.clientCache = new Client(this.clientOptions());
      const c = this.clientCache;
      this.cleanups.push(() => c.close());
    }
    return this.clientCache;
  }

  /** A client for one endpoint (endpoint status/hashkv/health). */
  endpointClient(endpoint: string, passthrough: boolean): Client {
    const opts = this.clientOptions(passthrough ? [endpoint] : undefined);
    if (!passthrough) opts.endpoints = [endpoint];
    const target = passthrough ? `passthrough:///${endpoint}` : `endpoint://client-${randomUUID()}/${endpoint.replace(/^\w+:\/\//, '')}`;
    opts.onCallError = (e) => this.logCallError(e, target);
    const c = new Client(opts);
    this.cleanups.push(() => c.close());
    return c;
  }

  /** A deadline for one short call (etcdctl's commandCtx). */
  deadline(): { deadline: number } {
    return { deadline: Date.now() + this.commandTimeoutMs };
  }

  out(data: string | Buffer): void {
    this.io.out(data);
  }

  println(s = ''): void {
    this.io.out(`${s}\n`);
  }

  errln(s: string): void {
    this.io.err(`${s}\n`);
  }
}

export function isBoolString(s: string): boolean {
  return parseGoBool(s) !== undefined;
}
