// keel-bench's command line: etcd benchmark's workloads and flag names (and
// its per-workload defaults), plus keel's own bounds and output flags.
import {
  clientsMax, connsMax, eventSamplesMax, streamsMax, totalMax, txnOpsMax, varintBytes, watchersMax, workersMax,
} from './common';

export const ops = ['put', 'range', 'txn-put', 'txn-mixed', 'watch', 'watch-get', 'lease-keepalive', 'stm'] as const;
export type Op = (typeof ops)[number];
export type Isolation = 'c' | 'r' | 's' | 'ss';

/** Workloads whose operations are independent requests, so clients can spread over worker_threads. */
export const unaryOps: readonly Op[] = ['put', 'range', 'txn-put', 'txn-mixed', 'lease-keepalive', 'stm'];

export interface Options {
  op: Op;
  endpoints: string[];
  targetLeader: boolean;
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
  progress: 'auto' | 'on' | 'off';
  precise: boolean;
  // txn-put
  txnOps: number;
  txnGuard: boolean;
  randomKeys: boolean;
  // txn-mixed
  rwRatio: number;
  endKey: string | undefined;
  // watch
  streams: number;
  watchPerStream: number;
  watchedKeyTotal: number;
  watchPrefix: boolean;
  putTotal: number;
  putRate: number;
  // watch-get
  watchers: number;
  events: number;
  getTotal: number;
  // lease-keepalive
  leaseTtl: number;
  // stm
  isolation: Isolation;
  stmKeys: number;
  keysPerTxn: number;
  txnWrPercent: number;
  stmLocker: 'stm' | 'lock-rpc';
}

export const usage = `usage: keel-bench WORKLOAD [ARGS] [flags]     (npm run bench -- WORKLOAD …)
workloads (etcd's benchmark tool's, with its flag names and defaults):
  put                     puts of --key-space-size keys
  range [KEY [END]]       ranges: KEY..END, else one random key of the key space per request
  txn-put                 txns of --txn-ops puts, keys in sequence over the key space
  txn-mixed [KEY [END]]   txns of one range (all keys, --limit 1000) or one put, --rw-ratio reads per write
  watch                   --streams × --watch-per-stream watchers, then --put-total puts to the
                          watched keys; reports creation, put, and put→event latency
  watch-get               --watchers watchers over --streams replay --events old revisions while
                          one client ranges; reports range latency with the watchers catching up
  lease-keepalive         one lease per client, keepalives on a LeaseKeepAlive stream each
  stm                     etcd's STM: read --keys-per-txn of --keys keys, write --txn-wr-percent of
                          them, commit If(mod revisions unchanged); retries on conflict
common flags:
  --endpoints LIST        comma separated host:port (default 127.0.0.1:2379)
  --target-leader         send everything to the leader (found with Maintenance.Status)
  --conns N               gRPC connections (default 1)
  --clients N             concurrent clients (default 1); with --rate, the in-flight cap
  --total N               operations in all (default 10000)
  --key-size N            bytes per key (default 8; watch 32, stm 16)
  --val-size N            bytes per value (default 8)
  --key-space-size N      distinct keys (default 1)
  --sequential-keys       put, watch: key i%key-space-size instead of random keys
  --rate N                open loop at N operations/s (default 0 = closed loop)
  --workers N             worker_threads carrying the clients (default 1; not for watch, watch-get)
  --duration-max S        hard stop after S seconds (default 120; watch, watch-get: watcher creation included)
  --json                  one JSON object on stdout instead of the text report
  --progress / --no-progress   progress bar on stderr (default: only when stderr is a terminal)
  --precise               full precision in the text report
range, txn-mixed: --consistency l|s (default l), --limit N (range 0, txn-mixed 1000);
  range: --prefill (put the key space first, untimed); txn-mixed: --rw-ratio R (default 1), --end-key K
txn-put: --txn-ops N (default 1); keel's own: --random-keys (random start key), --txn-guard
  (guard each put with If(mod_revision(key) > -1), as the Go loadgen's txn-put)
watch: --streams N (10), --watch-per-stream N (100; alias --watchers-per-stream),
  --watched-key-total N (1), --prefix, --put-total N (1000), --put-rate N (0 = closed loop over --clients)
watch-get: --watchers N (10000), --streams N (1), --events N (8), --get-total N (cap on ranges, 1000000)
lease-keepalive: --lease-ttl S (TTL of the granted leases, default 100 as etcd's)
stm: --isolation c|r|s|ss (default r), --keys N (1), --keys-per-txn N (1), --txn-wr-percent P (50),
  --stm-locker stm|lock-rpc (default stm; lock-rpc: each txn inside v3lock Lock/Unlock of "stmlock")`;

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

/** Flags that belong to some workloads only; etcd's benchmark refuses them elsewhere, and so does this. */
const flagOps: Record<string, readonly Op[]> = {
  'total': ['put', 'range', 'txn-put', 'txn-mixed', 'lease-keepalive', 'stm'],
  'rate': ['put', 'range', 'txn-put', 'txn-mixed', 'lease-keepalive', 'stm'],
  'consistency': ['range', 'txn-mixed'],
  'limit': ['range', 'txn-mixed'],
  'prefill': ['range'],
  'sequential-keys': ['put', 'watch'],
  'key-space-size': ['put', 'range', 'txn-put', 'txn-mixed', 'watch'],
  'txn-ops': ['txn-put'],
  'txn-guard': ['txn-put'],
  'random-keys': ['txn-put'],
  'rw-ratio': ['txn-mixed'],
  'end-key': ['txn-mixed'],
  'streams': ['watch', 'watch-get'],
  'watch-per-stream': ['watch'],
  'watched-key-total': ['watch'],
  'prefix': ['watch'],
  'put-total': ['watch'],
  'put-rate': ['watch'],
  'watchers': ['watch-get'],
  'events': ['watch-get'],
  'get-total': ['watch-get'],
  'lease-ttl': ['lease-keepalive'],
  'isolation': ['stm'],
  'keys': ['stm'],
  'keys-per-txn': ['stm'],
  'txn-wr-percent': ['stm'],
  'stm-locker': ['stm'],
};

const aliases: Record<string, string> = { 'watchers-per-stream': 'watch-per-stream' };

export function defaultOptions(): Options {
  return {
    op: 'put', endpoints: ['127.0.0.1:2379'], targetLeader: false, conns: 1, clients: 1, total: 10_000, keySize: 8, valSize: 8,
    keySpaceSize: 1, sequentialKeys: false, consistency: 'l', limit: 0, rangeKey: undefined, rangeEnd: undefined,
    prefill: false, rate: 0, workers: 1, json: false, durationMaxSeconds: 120, progress: 'auto', precise: false,
    txnOps: 1, txnGuard: false, randomKeys: false, rwRatio: 1, endKey: undefined,
    streams: 10, watchPerStream: 100, watchedKeyTotal: 1, watchPrefix: false, putTotal: 1000, putRate: 0,
    watchers: 10_000, events: 8, getTotal: 1_000_000, leaseTtl: 100,
    isolation: 'r', stmKeys: 1, keysPerTxn: 1, txnWrPercent: 50, stmLocker: 'stm',
  };
}

export function parseArgs(argv: string[]): Options {
  const o = defaultOptions();
  const positional: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) { positional.push(arg); continue; }
    const eq = arg.indexOf('=');
    const given = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const name = aliases[given] ?? given;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => (inline !== undefined ? inline : argv[++i]);
    seen.add(name);
    setFlag(o, name, value);
  }
  const op = positional.shift();
  if (op === undefined || !(ops as readonly string[]).includes(op)) fail(`first argument must be one of ${ops.join(', ')}`);
  o.op = op as Op;
  for (const name of seen) {
    const allowed = flagOps[name];
    if (allowed !== undefined && !allowed.includes(o.op)) fail(`--${name} does not apply to ${o.op} (only ${allowed.join(', ')})`);
  }
  if (o.op === 'range' || o.op === 'txn-mixed') { o.rangeKey = positional.shift(); o.rangeEnd = positional.shift(); }
  if (positional.length > 0) fail(`unexpected argument ${positional[0]}`);
  applyWorkloadDefaults(o, seen);
  validate(o);
  return o;
}

function setFlag(o: Options, name: string, value: () => string | undefined): void {
  switch (name) {
    case 'endpoints': o.endpoints = (value() ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''); break;
    case 'target-leader': o.targetLeader = true; break;
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
    case 'progress': o.progress = 'on'; break;
    case 'no-progress': o.progress = 'off'; break;
    case 'precise': o.precise = true; break;
    case 'txn-ops': o.txnOps = intFlag(name, value(), 1, txnOpsMax); break;
    case 'txn-guard': o.txnGuard = true; break;
    case 'random-keys': o.randomKeys = true; break;
    case 'rw-ratio': o.rwRatio = numFlag(name, value(), 0, 1e9); break;
    case 'end-key': o.endKey = value() ?? fail('--end-key needs a value'); break;
    case 'streams': o.streams = intFlag(name, value(), 1, streamsMax); break;
    case 'watch-per-stream': o.watchPerStream = intFlag(name, value(), 1, watchersMax); break;
    case 'watched-key-total': o.watchedKeyTotal = intFlag(name, value(), 1, watchersMax); break;
    case 'prefix': o.watchPrefix = true; break;
    case 'put-total': o.putTotal = intFlag(name, value(), 1, totalMax); break;
    case 'put-rate': o.putRate = numFlag(name, value(), 0, 10_000_000); break;
    case 'watchers': o.watchers = intFlag(name, value(), 1, watchersMax); break;
    case 'events': o.events = intFlag(name, value(), 1, 100_000); break;
    case 'get-total': o.getTotal = intFlag(name, value(), 1, totalMax); break;
    case 'lease-ttl': o.leaseTtl = intFlag(name, value(), 1, 9_000_000_000); break;
    case 'isolation': {
      const v = value();
      if (v !== 'c' && v !== 'r' && v !== 's' && v !== 'ss') fail('--isolation must be c, r, s or ss');
      o.isolation = v;
      break;
    }
    case 'keys': o.stmKeys = intFlag(name, value(), 1, 2 ** 40); break;
    case 'keys-per-txn': o.keysPerTxn = intFlag(name, value(), 0, txnOpsMax); break;
    case 'txn-wr-percent': o.txnWrPercent = intFlag(name, value(), 0, 100); break;
    case 'stm-locker': {
      const v = value();
      if (v !== 'stm' && v !== 'lock-rpc') fail('--stm-locker must be stm or lock-rpc (etcd\'s lock-client is not offered)');
      o.stmLocker = v;
      break;
    }
    case 'help': process.stdout.write(`${usage}\n`); process.exit(0); break;
    default: fail(`unknown flag --${name}`);
  }
}

/** etcd's benchmark gives some workloads their own defaults for shared flag names. */
function applyWorkloadDefaults(o: Options, seen: Set<string>): void {
  if (o.op === 'watch' && !seen.has('key-size')) o.keySize = 32;
  if (o.op === 'stm' && !seen.has('key-size')) o.keySize = 16;
  if (o.op === 'watch-get' && !seen.has('streams')) o.streams = 1;
  if (o.op === 'txn-mixed' && !seen.has('limit')) o.limit = 1000;
}

function validate(o: Options): void {
  if (o.endpoints.length === 0) fail('--endpoints is empty');
  o.endpoints = o.endpoints.map(normalizeEndpoint);
  if (o.workers > 1 && !unaryOps.includes(o.op)) fail(`--workers applies to ${unaryOps.join(', ')}`);
  if (o.workers > o.clients) o.workers = o.clients;
  const keys = o.op === 'stm' ? o.stmKeys : o.keySpaceSize;
  if (varintBytes(keys - 1) > o.keySize) fail(`--key-size ${o.keySize} cannot hold ${keys} distinct keys`);
  if (o.op === 'txn-put' && o.txnOps > o.keySpaceSize) {
    fail(`expected --txn-ops no larger than --key-space-size, got txn-ops(${o.txnOps}) key-space-size(${o.keySpaceSize})`);
  }
  if (o.op === 'stm' && o.keysPerTxn > o.stmKeys) fail(`expected --keys-per-txn between 0 and ${o.stmKeys}, got (${o.keysPerTxn})`);
  // The put index travels in the first 4 value bytes, so each event finds its put's send time.
  if (o.op === 'watch' && o.valSize < 4) fail('watch needs --val-size 4 or more (the put index travels in the value)');
  if (o.op === 'watch' && o.putTotal > eventSamplesMax) fail(`watch: --put-total must be at most ${eventSamplesMax}`);
  if (o.op === 'watch' && o.streams * o.watchPerStream > watchersMax) fail(`--streams × --watch-per-stream must be at most ${watchersMax}`);
}

function normalizeEndpoint(e: string): string {
  if (e.startsWith('https://') || e.startsWith('unixs://')) fail(`TLS endpoints are not supported: ${e}`);
  return e.replace(/^http:\/\//, '');
}
