// bench:memory — how much memory keel and etcd hold for the same data.
//
//   node dist/bench/memory.js [--keys N] [--val-size 256] [--members 1|3] [--etcd 3.4|3.5]
//                             [--only keel|etcd] [--inflight N] [--json]
//
// Starts a keel cluster (node bin/keel.js) and then an etcd cluster with the
// same flags (bench/procs.ts: loopback ports, temporary data dirs), one after
// the other so they never compete for the machine. Each is loaded with N distinct keys of
// 8–16 bytes and random values through Txn requests of up to 128 puts (etcd's
// default --max-txn-ops), many in flight, spread over every member. Once every
// member serves all N keys and the members' CPU has gone quiet, it reads
// VmRSS, VmHWM, RssAnon and RssFile from /proc/PID/status (per member and
// summed) and the data dirs' size, then stops the cluster. Every process it
// starts is tracked by PID and stopped on exit, error and Ctrl-C; its
// temporary dirs are removed.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, type TxnRequest } from '../src/client';
import { cpuSeconds, errorMessage, etcdBins, etcdSpec, installSignalHandlers, keelSpec, sleep, startCluster, statusKiB, stopCluster, type Cluster } from './procs';

const usage = `usage: node dist/bench/memory.js [--keys N] [--val-size 256] [--members 1|3] [--etcd 3.4|3.5]
                                [--only keel|etcd] [--inflight N] [--json]`;

// Bounds: every loop in this tool has a count and a time limit.
const keysMax = 10_000_000;
const putsPerTxn = 128;
const inflightMax = 256;
const loadTimeoutMs = 1_800_000;
const requestTimeoutMs = 60_000;
const quiesceTimeoutMs = 180_000;
const quiescePollMs = 1_000;
/** CPU seconds per second below which a member counts as quiet. */
const quietCoresMax = 0.03;
const quietPollsNeeded = 3;

function fail(message: string): never {
  process.stderr.write(`bench-memory: ${message}\n${usage}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]) {
  const o = { keys: 100_000, valSize: 256, members: 3, etcd: '3.4', only: undefined as 'keel' | 'etcd' | undefined, inflight: 32, json: false };
  const int = (name: string, raw: string | undefined, min: number, max: number): number => {
    const n = Number(raw);
    return raw !== undefined && Number.isInteger(n) && n >= min && n <= max ? n : fail(`--${name} must be an integer in [${min}, ${max}]`);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--keys') o.keys = int('keys', argv[++i], 1, keysMax);
    else if (arg === '--val-size') o.valSize = int('val-size', argv[++i], 0, 1 << 20);
    else if (arg === '--members') o.members = [1, 3].includes(Number(argv[++i])) ? Number(argv[i]) : fail('--members is 1 or 3');
    else if (arg === '--etcd') o.etcd = etcdBins[argv[++i] ?? ''] !== undefined ? argv[i] as string : fail('--etcd is 3.4 or 3.5');
    else if (arg === '--only') o.only = argv[++i] === 'keel' || argv[i] === 'etcd' ? argv[i] as 'keel' | 'etcd' : fail('--only is keel or etcd');
    else if (arg === '--inflight') o.inflight = int('inflight', argv[++i], 1, inflightMax);
    else if (arg === '--json') o.json = true;
    else fail(`unknown argument ${arg}`);
  }
  return o;
}
type Options = ReturnType<typeof parseArgs>;

function say(s: string): void {
  process.stderr.write(`bench-memory: ${s}\n`);
}

// ---- keys and requests ----------------------------------------------------------

/** Key i: 'k' + i in base 36 over 7 digits, then 0–8 filler bytes (8–16 bytes in all, distinct for distinct i). */
export function memoryKey(i: number): Buffer {
  const head = `k${i.toString(36).padStart(7, '0')}`;
  return Buffer.from(head + 'abcdefgh'.slice(0, (i * 5) % 9), 'latin1');
}

/** The txn that puts keys [first, first + count) with random values. */
function putTxn(first: number, count: number, valSize: number): TxnRequest {
  const values = randomBytes(count * valSize);
  return { compare: [], failure: [], success: Array.from({ length: count }, (_, j) => ({ request_put: { key: memoryKey(first + j), value: values.subarray(j * valSize, (j + 1) * valSize) } })) };
}

/** Keys a member serves locally (serializable count over the whole 'k' range). */
async function countKeys(client: Client): Promise<number> {
  const res = await client.range({ key: Buffer.from('k'), range_end: Buffer.from('l'), count_only: true, serializable: true }, { timeoutMs: requestTimeoutMs });
  return Number(res.count ?? 0);
}

// ---- load and quiesce --------------------------------------------------------------

/** Puts keys [0, N) in txns of up to 128 puts, `inflight` txns at once, round-robin over the members; then waits until each member serves them all. */
async function load(c: Cluster, o: Options): Promise<number> {
  const clients = c.members.map((m) => new Client({ endpoints: [m.endpoint], ownConnection: true }));
  try {
    const txnCount = Math.ceil(o.keys / putsPerTxn);
    const t0 = Date.now();
    let [next, lastReport] = [0, t0];
    await Promise.all(Array.from({ length: Math.min(o.inflight, txnCount) }, async (_, w) => {
      while (next < txnCount) {
        if (Date.now() - t0 > loadTimeoutMs) throw new Error(`load did not finish within ${loadTimeoutMs / 1000}s`);
        const t = next++;
        const first = t * putsPerTxn;
        const res = await (clients[(t + w) % clients.length] as Client).txn(putTxn(first, Math.min(putsPerTxn, o.keys - first), o.valSize), { timeoutMs: requestTimeoutMs });
        if (res.succeeded !== true) throw new Error(`load txn ${t} did not succeed`);
        if (Date.now() - lastReport > 10_000) say(`${c.name}: ${Math.min(next * putsPerTxn, o.keys)} of ${o.keys} keys after ${(((lastReport = Date.now()) - t0) / 1000).toFixed(0)} s`);
      }
    }));
    const seconds = (Date.now() - t0) / 1000;
    await waitAllKeys(clients, o.keys);
    return seconds;
  } finally {
    for (const client of clients) client.close();
  }
}

async function waitAllKeys(clients: Client[], keys: number): Promise<void> {
  const deadline = Date.now() + quiesceTimeoutMs;
  let counts: number[] = [];
  for (let i = 0; i < quiesceTimeoutMs / quiescePollMs && Date.now() < deadline; i++) {
    counts = await Promise.all(clients.map(countKeys));
    if (counts.every((n) => n === keys)) return;
    await sleep(quiescePollMs);
  }
  throw new Error(`not every member serves ${keys} keys within ${quiesceTimeoutMs / 1000}s (counts ${counts.join(', ')})`);
}

/** Waits (bounded) until every member's CPU stays below quietCoresMax for a few polls in a row. */
async function waitQuiet(c: Cluster): Promise<number> {
  const t0 = Date.now();
  let quiet = 0;
  let before = c.members.map((m) => cpuSeconds(m.pid));
  for (let i = 0; i < quiesceTimeoutMs / quiescePollMs && Date.now() - t0 < quiesceTimeoutMs; i++) {
    await sleep(quiescePollMs);
    const now = c.members.map((m) => cpuSeconds(m.pid));
    const busiest = Math.max(...now.map((s, j) => (s - (before[j] ?? 0)) / (quiescePollMs / 1000)));
    before = now;
    quiet = busiest < quietCoresMax ? quiet + 1 : 0;
    if (quiet >= quietPollsNeeded) return (Date.now() - t0) / 1000;
  }
  say(`${c.name}: members still busy after ${quiesceTimeoutMs / 1000}s; measuring anyway`);
  return (Date.now() - t0) / 1000;
}

// ---- measuring -------------------------------------------------------------------

/** Bytes of the files under dir (bounded walk). */
function dirBytes(dir: string): number {
  let total = 0;
  const stack = [dir];
  for (let visited = 0; stack.length > 0 && visited < 100_000; visited++) {
    const d = stack.pop() as string;
    let names: fs.Dirent[] = [];
    try { names = fs.readdirSync(d, { withFileTypes: true }); } catch { continue; }
    for (const e of names) {
      if (e.isDirectory()) stack.push(path.join(d, e.name));
      else if (e.isFile()) { try { total += fs.statSync(path.join(d, e.name)).size; } catch { /* removed meanwhile */ } }
    }
  }
  return total;
}

const fields = { rssMiB: 'VmRSS', hwmMiB: 'VmHWM', anonMiB: 'RssAnon', fileMiB: 'RssFile' } as const;
type Memory = Record<keyof typeof fields | 'dataDirMiB', number>;

function measure(c: Cluster, loadSeconds: number, quietSeconds: number) {
  const members = c.members.map((m) => ({
    name: m.name, dataDirMiB: dirBytes(m.dataDir) / 1048576,
    ...Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, statusKiB(m.pid, f) / 1024])) as Record<keyof typeof fields, number>,
  }));
  const sum = Object.fromEntries([...Object.keys(fields), 'dataDirMiB'].map((k) => [k, members.reduce((s, m) => s + m[k as keyof Memory], 0)])) as Memory;
  return { side: c.name === 'keel' ? 'keel' : 'etcd', version: c.version, command: c.members.find((m) => m.name === 'm1')?.command ?? '', loadSeconds, quietSeconds, ...sum, members };
}
type SideResult = ReturnType<typeof measure>;

async function runSide(side: 'keel' | 'etcd', o: Options): Promise<SideResult> {
  say(`${side}: starting ${o.members} member(s)`);
  const c = await startCluster(side === 'keel' ? keelSpec(o.members) : etcdSpec(o.members, o.etcd), say);
  try {
    say(`${side}: loading ${o.keys} keys of ${o.valSize} B`);
    const loadSeconds = await load(c, o);
    say(`${side}: loaded in ${loadSeconds.toFixed(1)} s; waiting for quiet`);
    const quietSeconds = await waitQuiet(c);
    const gone = c.members.filter((m) => !fs.existsSync(`/proc/${m.pid}`));
    if (gone.length > 0) throw new Error(`${side}: ${gone.map((m) => m.name).join(', ')} exited during the run`);
    return measure(c, loadSeconds, quietSeconds);
  } catch (e) {
    for (const m of c.members) say(`${side} ${m.name} log tail:\n    ${m.tail.slice(-6).join('\n    ')}`);
    throw e;
  } finally {
    await stopCluster(c);
  }
}

// ---- report ------------------------------------------------------------------------

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');
const memText = (m: Memory, dir: string): string => `VmRSS ${f1(m.rssMiB)} MiB  VmHWM ${f1(m.hwmMiB)} MiB  (RssAnon ${f1(m.anonMiB)}, RssFile ${f1(m.fileMiB)})  ${dir} ${f1(m.dataDirMiB)} MiB`;

function format(o: Options, results: SideResult[]): string {
  const lines = [`memory: ${o.keys} keys of 8-16 B, ${o.valSize} B random values, ${o.members} member(s) each, txns of ${putsPerTxn} puts, ${o.inflight} in flight`];
  for (const r of results) {
    lines.push('', `${r.side}: ${r.version}`, `  ${r.command}`, `  load ${f1(r.loadSeconds)} s (${Math.round(o.keys / r.loadSeconds)} keys/s), quiet after ${f1(r.quietSeconds)} s`);
    lines.push(`  sum   ${memText(r, 'data dirs')}`, ...r.members.map((m) => `  ${m.name.padEnd(5)} ${memText(m, 'data dir')}`));
  }
  const [keel, etcd] = [results.find((r) => r.side === 'keel'), results.find((r) => r.side === 'etcd')];
  if (keel !== undefined && etcd !== undefined) {
    const ratio = (k: 'rssMiB' | 'hwmMiB' | 'dataDirMiB' | 'loadSeconds'): string => (etcd[k] > 0 ? (keel[k] / etcd[k]).toFixed(2) : '-');
    lines.push('', `keel/etcd: VmRSS ${ratio('rssMiB')}  VmHWM ${ratio('hwmMiB')}  data dir ${ratio('dataDirMiB')}  load time ${ratio('loadSeconds')}`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.only !== 'keel' && !fs.existsSync(etcdBins[o.etcd] as string)) {
    fail(`${etcdBins[o.etcd] as string} not found${o.etcd === '3.5' ? ' (unpack it with /work/shared/tools/etcd35.sh)' : ''}`);
  }
  installSignalHandlers('bench-memory');
  const results: SideResult[] = [];
  for (const side of ['keel', 'etcd'] as const) if (o.only === undefined || o.only === side) results.push(await runSide(side, o));
  process.stdout.write(o.json ? `${JSON.stringify({ options: o, results })}\n` : format(o, results));
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => { process.stderr.write(`bench-memory: ${errorMessage(e)}\n`); process.exit(1); },
  );
}
