// keel-bench's command line: etcd benchmark's workloads and flag names (and
// its per-workload defaults), plus keel's own bounds and output flags.

// Bounds: every loop, queue and buffer in keel-bench has one.
export const totalMax = 50_000_000;
export const watchersMax = 1_000_000;
export const eventSamplesMax = 20_000_000;
export const txnOpsMax = 1_000;
export const workersMax = 64;

export const ops = ['put', 'range', 'txn-put', 'txn-mixed', 'watch', 'watch-get', 'lease-keepalive', 'stm'] as const;
export type Op = (typeof ops)[number];
export type Isolation = 'c' | 'r' | 's' | 'ss';

/** Workloads whose operations are independent requests, so clients can spread over worker_threads. */
export const unaryOps: readonly Op[] = ['put', 'range', 'txn-put', 'txn-mixed', 'lease-keepalive', 'stm'];

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

type Key = keyof Options;
/** A flag: the option it sets, and how: a switch (value), an integer or a number in [min, max], a choice, or a string. */
type Flag = { key: Key; set?: unknown; int?: [number, number]; num?: [number, number]; choice?: string[]; str?: true; ops?: Op[] };

const unary: Op[] = ['put', 'range', 'txn-put', 'txn-mixed', 'lease-keepalive', 'stm'];
const flags: Record<string, Flag> = {
  'endpoints': { key: 'endpoints', str: true },
  'target-leader': { key: 'targetLeader', set: true },
  'conns': { key: 'conns', int: [1, 1_000] },
  'clients': { key: 'clients', int: [1, 10_000] },
  'total': { key: 'total', int: [1, totalMax], ops: unary },
  'key-size': { key: 'keySize', int: [1, 16 << 20] },
  'val-size': { key: 'valSize', int: [0, 16 << 20] },
  'key-space-size': { key: 'keySpaceSize', int: [1, 2 ** 40], ops: ['put', 'range', 'txn-put', 'txn-mixed', 'watch'] },
  'sequential-keys': { key: 'sequentialKeys', set: true, ops: ['put', 'watch'] },
  'consistency': { key: 'consistency', choice: ['l', 's'], ops: ['range', 'txn-mixed'] },
  'limit': { key: 'limit', int: [0, 2 ** 40], ops: ['range', 'txn-mixed'] },
  'prefill': { key: 'prefill', set: true, ops: ['range'] },
  'rate': { key: 'rate', num: [0, 10_000_000], ops: unary },
  'workers': { key: 'workers', int: [1, workersMax] },
  'json': { key: 'json', set: true },
  'duration-max': { key: 'durationMaxSeconds', num: [0.1, 86_400] },
  'progress': { key: 'progress', set: 'on' },
  'no-progress': { key: 'progress', set: 'off' },
  'precise': { key: 'precise', set: true },
  'txn-ops': { key: 'txnOps', int: [1, txnOpsMax], ops: ['txn-put'] },
  'txn-guard': { key: 'txnGuard', set: true, ops: ['txn-put'] },
  'random-keys': { key: 'randomKeys', set: true, ops: ['txn-put'] },
  'rw-ratio': { key: 'rwRatio', num: [0, 1e9], ops: ['txn-mixed'] },
  'end-key': { key: 'endKey', str: true, ops: ['txn-mixed'] },
  'streams': { key: 'streams', int: [1, 10_000], ops: ['watch', 'watch-get'] },
  'watch-per-stream': { key: 'watchPerStream', int: [1, watchersMax], ops: ['watch'] },
  'watched-key-total': { key: 'watchedKeyTotal', int: [1, watchersMax], ops: ['watch'] },
  'prefix': { key: 'watchPrefix', set: true, ops: ['watch'] },
  'put-total': { key: 'putTotal', int: [1, totalMax], ops: ['watch'] },
  'put-rate': { key: 'putRate', num: [0, 10_000_000], ops: ['watch'] },
  'watchers': { key: 'watchers', int: [1, watchersMax], ops: ['watch-get'] },
  'events': { key: 'events', int: [1, 100_000], ops: ['watch-get'] },
  'get-total': { key: 'getTotal', int: [1, totalMax], ops: ['watch-get'] },
  'lease-ttl': { key: 'leaseTtl', int: [1, 9_000_000_000], ops: ['lease-keepalive'] },
  'isolation': { key: 'isolation', choice: ['c', 'r', 's', 'ss'], ops: ['stm'] },
  'keys': { key: 'stmKeys', int: [1, 2 ** 40], ops: ['stm'] },
  'keys-per-txn': { key: 'keysPerTxn', int: [0, txnOpsMax], ops: ['stm'] },
  'txn-wr-percent': { key: 'txnWrPercent', int: [0, 100], ops: ['stm'] },
  // etcd's lock-client (the clientv3 mutex recipe) is not offered.
  'stm-locker': { key: 'stmLocker', choice: ['stm', 'lock-rpc'], ops: ['stm'] },
};
const aliases: Record<string, string> = { 'watchers-per-stream': 'watch-per-stream' };

/** etcd benchmark's defaults; the names are the Options' fields. */
export function defaultOptions() {
  return {
    op: 'put' as Op, endpoints: ['127.0.0.1:2379'], targetLeader: false, conns: 1, clients: 1, total: 10_000, keySize: 8, valSize: 8,
    keySpaceSize: 1, sequentialKeys: false, consistency: 'l' as 'l' | 's', limit: 0, rangeKey: undefined as string | undefined,
    rangeEnd: undefined as string | undefined, prefill: false, rate: 0, workers: 1, json: false, durationMaxSeconds: 120,
    progress: 'auto' as 'auto' | 'on' | 'off', precise: false, txnOps: 1, txnGuard: false, randomKeys: false, rwRatio: 1,
    endKey: undefined as string | undefined, streams: 10, watchPerStream: 100, watchedKeyTotal: 1, watchPrefix: false, putTotal: 1000,
    putRate: 0, watchers: 10_000, events: 8, getTotal: 1_000_000, leaseTtl: 100, isolation: 'r' as Isolation, stmKeys: 1, keysPerTxn: 1,
    txnWrPercent: 50, stmLocker: 'stm' as 'stm' | 'lock-rpc',
  };
}
export type Options = ReturnType<typeof defaultOptions>;

function flagValue(name: string, f: Flag, raw: string | undefined): unknown {
  if (raw === undefined) fail(`--${name} needs a value`);
  if (f.choice !== undefined) {
    if (!f.choice.includes(raw)) fail(`--${name} must be one of ${f.choice.join(', ')}, got ${raw}`);
    return raw;
  }
  if (f.str === true) return name === 'endpoints' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : raw;
  const [min, max] = f.int ?? f.num ?? [0, 0];
  const n = Number(raw);
  const ok = f.int !== undefined ? Number.isInteger(n) : Number.isFinite(n);
  if (!ok || n < min || n > max) fail(`--${name} must be ${f.int !== undefined ? 'an integer' : 'a number'} in [${min}, ${max}], got ${raw}`);
  return n;
}

export function parseArgs(argv: string[]): Options {
  const o = defaultOptions();
  const bag = o as unknown as Record<string, unknown>;
  const positional: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) { positional.push(arg); continue; }
    const eq = arg.indexOf('=');
    const given = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const name = aliases[given] ?? given;
    if (name === 'help') { process.stdout.write(`${usage}\n`); process.exit(0); }
    const f = flags[name];
    if (f === undefined) fail(`unknown flag --${name}`);
    seen.add(name);
    bag[f.key] = f.set !== undefined ? f.set : flagValue(name, f, eq >= 0 ? arg.slice(eq + 1) : argv[++i]);
  }
  const op = positional.shift();
  if (op === undefined || !(ops as readonly string[]).includes(op)) fail(`first argument must be one of ${ops.join(', ')}`);
  o.op = op as Op;
  for (const name of seen) {
    const allowed = flags[name]?.ops;
    if (allowed !== undefined && !allowed.includes(o.op)) fail(`--${name} does not apply to ${o.op} (only ${allowed.join(', ')})`);
  }
  if (o.op === 'range' || o.op === 'txn-mixed') { o.rangeKey = positional.shift(); o.rangeEnd = positional.shift(); }
  if (positional.length > 0) fail(`unexpected argument ${positional[0]}`);
  // etcd's benchmark gives some workloads their own defaults for shared flag names.
  if (o.op === 'watch' && !seen.has('key-size')) o.keySize = 32;
  if (o.op === 'stm' && !seen.has('key-size')) o.keySize = 16;
  if (o.op === 'watch-get' && !seen.has('streams')) o.streams = 1;
  if (o.op === 'txn-mixed' && !seen.has('limit')) o.limit = 1000;
  validate(o);
  return o;
}

function validate(o: Options): void {
  if (o.endpoints.length === 0) fail('--endpoints is empty');
  for (const e of o.endpoints) if (/^(https|unixs):\/\//.test(e)) fail(`TLS endpoints are not supported: ${e}`);
  o.endpoints = o.endpoints.map((e) => e.replace(/^http:\/\//, ''));
  if (o.workers > 1 && !unaryOps.includes(o.op)) fail(`--workers applies to ${unaryOps.join(', ')}`);
  if (o.workers > o.clients) o.workers = o.clients;
  const keys = o.op === 'stm' ? o.stmKeys : o.keySpaceSize;
  if (varintBytes(keys - 1) > o.keySize) fail(`--key-size ${o.keySize} cannot hold ${keys} distinct keys`);
  if (o.op === 'txn-put' && o.txnOps > o.keySpaceSize) {
    fail(`expected --txn-ops no larger than --key-space-size, got txn-ops(${o.txnOps}) key-space-size(${o.keySpaceSize})`);
  }
  if (o.op === 'stm' && o.keysPerTxn > o.stmKeys) fail(`expected --keys-per-txn between 0 and ${o.stmKeys}, got (${o.keysPerTxn})`);
  // The put index and a run nonce travel in the first 8 value bytes, so each event finds its put's send time.
  if (o.op === 'watch' && o.valSize < 8) fail('watch needs --val-size 8 or more (the put index travels in the value)');
  if (o.op === 'watch' && o.putTotal > eventSamplesMax) fail(`watch: --put-total must be at most ${eventSamplesMax}`);
  if (o.op === 'watch' && o.streams * o.watchPerStream > watchersMax) fail(`--streams × --watch-per-stream must be at most ${watchersMax}`);
}

/** Bytes of Go's binary.PutVarint(n) for n >= 0 (zigzag: 2n as uvarint). */
export function varintBytes(n: number): number {
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
