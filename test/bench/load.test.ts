// keel-bench self-check: every workload of dist/bench/load.js, with tiny
// counts, against one real keel member: the counts add up, nothing fails, and
// the report's statistics are self-consistent. No timing thresholds.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { cleanupAll, freePort, repoRoot, skipUnlessTools, startEtcd, startKeel, type ServerProcess } from '../helpers/procs';
import { histogram, percentileIndex, type Report, type SeriesStats } from '../../bench/workloads/report';
import { render } from '../../bench/workloads/progress';

const loadScript = path.join(repoRoot, 'dist', 'bench', 'load.js');
const runTimeoutMs = 45_000;
const skip = skipUnlessTools(['keel']);
const skipEtcd = skipUnlessTools(['etcd']);

let keel: ServerProcess | undefined;
before(async () => { if (skip === false) keel = await startKeel(); });
after(cleanupAll);

interface Ran { code: number | null; stdout: string; stderr: string }

function runBench(args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [loadScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { if (stdout.length < 1 << 20) stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < 1 << 16) stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), runTimeoutMs);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

async function bench(args: string[], endpoint = (keel as ServerProcess).endpoint): Promise<Report> {
  const r = await runBench([...args, '--endpoints', endpoint, '--duration-max', '30', '--json']);
  assert.equal(r.code, 0, `keel-bench ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, '--json prints exactly one line');
  return JSON.parse(lines[0] as string) as Report;
}

/** What must hold for every series: counts add up, and the statistics are ordered as statistics are. */
function assertSane(name: string, s: SeriesStats): void {
  assert.equal(s.errors, 0, `${name}: errors ${JSON.stringify(s.errorKinds)}`);
  assert.equal(s.unfinished, 0, `${name}: unfinished`);
  assert.ok(s.ok > 0, `${name}: some operations completed`);
  assert.ok(s.seconds > 0 && s.rps > 0, `${name}: seconds and rps`);
  assert.equal(s.histogram.length, 11, `${name}: ten buckets plus the slowest, as etcd's`);
  assert.equal(s.histogram.reduce((a, h) => a + h.count, 0), s.ok, `${name}: the histogram holds every sample`);
  assert.equal(s.histogram[0]?.le_ms, s.fastest_ms);
  assert.equal(s.histogram[10]?.le_ms, s.slowest_ms);
  const ordered = [s.fastest_ms, s.p10_ms, s.p25_ms, s.p50_ms, s.p75_ms, s.p90_ms, s.p95_ms, s.p99_ms, s.p999_ms, s.slowest_ms];
  for (let i = 1; i < ordered.length; i++) assert.ok((ordered[i] as number) >= (ordered[i - 1] as number), `${name}: percentiles ordered: ${ordered.join(' ')}`);
  assert.ok(s.fastest_ms > 0, `${name}: latencies are positive`);
  assert.ok(s.average_ms >= s.fastest_ms && s.average_ms <= s.slowest_ms, `${name}: average within [fastest, slowest]`);
  assert.ok(s.stddev_ms >= 0);
}

function assertReport(r: Report, op: string, total: number): void {
  assert.equal(r.tool, 'keel-bench');
  assert.equal(r.op, op);
  assert.equal(r.hardStopped, false);
  assert.equal(r.total, total);
  assert.equal(r.ok, total, `all ${total} completed: ${JSON.stringify(r.errorKinds)}`);
  assert.equal(r.errors, 0);
  for (const [name, s] of Object.entries(r.series)) assertSane(name, s);
  assert.ok(r.cpu.elu.length >= 1 && r.cpu.elu.every((e) => e >= 0 && e <= 1), 'ELU per worker');
  assert.ok(r.cpu.core_percent >= 0);
}

test('statistics: etcd 3.5 percentiles and histogram', () => {
  // pkg/report: the first sample i with i × 100 / n ≥ p.
  assert.equal(percentileIndex(50, 10), 5);
  assert.equal(percentileIndex(50, 99), -1, 'no sample i of 50 has i × 2 ≥ 99: etcd prints no 99% line');
  assert.equal(percentileIndex(1000, 99.9), 999);
  assert.equal(percentileIndex(1000, 50), 500);
  assert.equal(percentileIndex(0, 50), -1);
  const h = histogram(Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  assert.equal(h.length, 11);
  assert.deepEqual(h.map((b) => b.count), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.match(render('put', 20, 40, 3), /^put 20 \/ 40 Bo+m {20}! +50\.00% 3s$/);
});

test('put, closed and open loop, over two workers; range; --target-leader', { skip }, async () => {
  assertReport(await bench(['put', '--total', '60', '--clients', '4', '--conns', '2', '--key-space-size', '30']), 'put', 60);
  const open = await bench(['put', '--total', '40', '--clients', '4', '--rate', '400']);
  assertReport(open, 'put', 40);
  assert.equal(open.rate, 400);
  const workers = await bench(['put', '--total', '50', '--clients', '4', '--conns', '2', '--workers', '2']);
  assertReport(workers, 'put', 50);
  assert.equal(workers.cpu.elu.length, 2, 'one ELU per worker');
  assertReport(await bench(['range', '--total', '50', '--clients', '3', '--consistency', 's']), 'range', 50);
  const closed = await freePort();
  const led = await bench(['put', '--total', '20', '--target-leader', '--endpoints', `127.0.0.1:${closed},${(keel as ServerProcess).endpoint}`]);
  assertReport(led, 'put', 20);
  assert.deepEqual(led.endpoints, [(keel as ServerProcess).endpoint], 'the leader alone is targeted');
});

test('txn-put and txn-mixed', { skip }, async () => {
  const put = await bench(['txn-put', '--total', '50', '--txn-ops', '3', '--key-space-size', '10', '--clients', '3']);
  assertReport(put, 'txn-put', 50);
  assert.equal(put.settings['txn_ops'], 3);
  const mixed = await bench(['txn-mixed', '--total', '50', '--rw-ratio', '1', '--key-space-size', '10', '--clients', '3']);
  assertReport(mixed, 'txn-mixed', 50);
  assert.deepEqual(mixed.sections, ['read', 'write']);
  assert.equal((mixed.counters['read_ops'] ?? 0) + (mixed.counters['write_ops'] ?? 0), 50, 'every op is a read or a write');
});

test('lease-keepalive and stm', { skip }, async () => {
  const lease = await bench(['lease-keepalive', '--total', '50', '--clients', '3', '--conns', '2']);
  assertReport(lease, 'lease-keepalive', 50);
  assert.equal(lease.counters['leases'], 3);
  const stm = await bench(['stm', '--total', '30', '--keys', '4', '--keys-per-txn', '2', '--clients', '3', '--isolation', 'ss']);
  assertReport(stm, 'stm', 30);
  const c = stm.counters;
  assert.equal(c['commits'], 30 + (c['retries'] ?? 0), 'every retry is one failed commit');
  assert.ok((c['reads'] ?? 0) >= 60, 'two reads per transaction at least');
  const committed = await bench(['stm', '--total', '20', '--keys', '4', '--keys-per-txn', '2', '--clients', '3', '--isolation', 'c']);
  assertReport(committed, 'stm', 20);
  assert.equal(committed.counters['retries'], 0, 'read committed never conflicts');
});

async function checkWatch(endpoint?: string): Promise<void> {
  const r = await bench(['watch', '--streams', '2', '--watch-per-stream', '5', '--watched-key-total', '2', '--sequential-keys',
    '--key-space-size', '2', '--put-total', '20', '--clients', '2'], endpoint);
  // 10 watchers, 5 per key; 10 puts per key: 100 events.
  assertReport(r, 'watch', 100);
  assert.equal(r.counters['watchers_created'], 10);
  assert.equal(r.counters['events_received'], 100);
  assert.equal(r.series['create']?.ok, 10);
  assert.equal(r.series['put']?.ok, 20);
  assert.deepEqual(r.sections, ['create', 'put', 'watch']);
}

async function checkWatchGet(endpoint?: string): Promise<void> {
  const r = await bench(['watch-get', '--watchers', '20', '--streams', '2', '--events', '4'], endpoint);
  assert.equal(r.op, 'watch-get');
  assert.equal(r.hardStopped, false);
  assert.equal(r.counters['watchers_caught_up'], 20);
  assert.equal(r.series['catchup']?.ok, 20);
  assert.equal(r.series['create']?.ok, 20);
  assert.ok(r.ok >= 1 && r.ok === r.total, 'the gets that ran all answered');
  for (const [name, s] of Object.entries(r.series)) assertSane(name, s);
}

test('watch: every event of every watcher, timed from its put', { skip }, () => checkWatch());

test('watch-get: ranges while watchers catch up', { skip }, () => checkWatchGet());

test('every workload against a real etcd, the reference', { skip: skipEtcd }, async () => {
  const etcd = await startEtcd();
  const runs: [string[], string, number][] = [
    [['put', '--total', '40', '--clients', '3'], 'put', 40],
    [['range', '--total', '40', '--clients', '3'], 'range', 40],
    [['txn-put', '--total', '40', '--txn-ops', '2', '--key-space-size', '10', '--clients', '3'], 'txn-put', 40],
    [['txn-mixed', '--total', '40', '--key-space-size', '10', '--clients', '3', '--consistency', 's'], 'txn-mixed', 40],
    [['lease-keepalive', '--total', '40', '--clients', '3'], 'lease-keepalive', 40],
    [['stm', '--total', '20', '--keys', '4', '--keys-per-txn', '2', '--clients', '3', '--isolation', 's'], 'stm', 20],
    [['stm', '--total', '10', '--keys', '4', '--keys-per-txn', '2', '--clients', '2', '--stm-locker', 'lock-rpc'], 'stm', 10],
  ];
  for (const [args, op, total] of runs) assertReport(await bench(args, etcd.endpoint), op, total);
  await checkWatch(etcd.endpoint);
  await checkWatchGet(etcd.endpoint);
});

test('text report has etcd benchmark shape; --progress goes to stderr only', { skip }, async () => {
  const endpoint = (keel as ServerProcess).endpoint;
  const text = await runBench(['put', '--total', '30', '--endpoints', endpoint, '--duration-max', '30', '--progress']);
  assert.equal(text.code, 0, text.stderr);
  for (const line of ['Summary:', '  Total:\t', '  Slowest:\t', '  Fastest:\t', '  Average:\t', '  Stddev:\t', '  Requests/sec:\t',
    'Response time histogram:', 'Latency distribution:', '  10% in ', '  50% in ', '  90% in ', 'Load generator:', 'Event-loop utilization']) {
    assert.ok(text.stdout.includes(line), `text report has ${JSON.stringify(line)}`);
  }
  assert.match(text.stdout, /\n {2}\d+\.\d{4} \[\d+\]\t\|/, 'histogram lines in seconds, 4 decimals');
  assert.ok(!text.stdout.includes(' / 30 B'), 'no progress bar on stdout');
  assert.match(text.stderr, /30 \/ 30 B/, 'progress bar on stderr');
  const json = await runBench(['put', '--total', '30', '--endpoints', endpoint, '--duration-max', '30', '--progress', '--json']);
  assert.doesNotThrow(() => JSON.parse(json.stdout), '--json stdout stays one JSON object');
});
