// h2load against three servers answering /etcdserverpb.Maintenance/Status:
// keel's wire server with a canned reply, a bare node:http2 server with the
// same reply, and etcd 3.5 (when /opt/etcd35 or $ETCD35_BIN has it). Each
// server is its own process; runs alternate between them; requests/s from
// h2load and server CPU per request from /proc/<pid>/stat. --strace counts
// the server's write syscalls per request (strace -f -c).
//
//   node dist/bench/wire-h2load.js [--rounds 3] [--requests 100000] [--strace]
//   node dist/bench/wire-h2load.js --serve keel|node   (a server: prints its port)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { WireServer } from '../src/wire';

const statusPath = '/etcdserverpb.Maintenance/Status';
/** A StatusResponse-sized canned reply (etcd's is ~60 bytes). */
const canned = Buffer.from('0a1a08b5e4c9b2c8a1f7d6a21010a8b7c6d5e4f3a2b11805200a1207332e352e3136188040288040300a380a400a48805c', 'hex');
const clockTicksPerSecond = 100;
const runTimeoutMs = 120_000;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

// --- servers ------------------------------------------------------------

async function serveKeel(): Promise<void> {
  // A clean exit on SIGTERM, so --cpu-prof gets written.
  process.on('SIGTERM', () => process.exit(0));
  const server = new WireServer({ permitWithoutStream: true });
  server.addService('etcdserverpb.Maintenance', { Status: { kind: 'unary', handler: () => canned } });
  const l = await server.listen({ host: '127.0.0.1', port: 0 });
  console.log(`port ${l.port}`);
}

function serveNode(): void {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    if (headers[':path'] !== statusPath) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unknown' }, { endStream: true });
      return;
    }
    stream.on('data', () => undefined);
    stream.on('end', () => {
      const msg = Buffer.allocUnsafe(5 + canned.length);
      msg[0] = 0;
      msg.writeUInt32BE(canned.length, 1);
      canned.copy(msg, 5);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
      stream.end(msg);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    console.log(`port ${typeof a === 'object' && a !== null ? a.port : 0}`);
  });
}

// --- the driver -----------------------------------------------------------

interface Target {
  name: string;
  pid: number;
  port: number;
  child: ChildProcess;
  dataDir?: string;
}

const children = new Set<ChildProcess>();
const dataDirs: string[] = [];

function waitForLine(child: ChildProcess, re: RegExp, stream: 'stdout' | 'stderr'): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no ${re} from pid ${child.pid}`)), 30_000);
    child[stream]?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = re.exec(text);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', () => reject(new Error(`pid ${child.pid} exited: ${text.slice(-500)}`)));
  });
}

async function startNodeServer(kind: 'keel' | 'node'): Promise<Target> {
  const child = spawn(process.execPath, [__filename, '--serve', kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const m = await waitForLine(child, /port (\d+)/, 'stdout');
  return { name: kind === 'keel' ? 'keel wire' : 'node:http2', pid: child.pid as number, port: Number(m[1]), child };
}

async function startEtcd(bin: string): Promise<Target> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wire-bench-etcd-'));
  // etcd needs fixed URLs: the kernel picks two free loopback ports first.
  dataDirs.push(dataDir);
  const [client, peer] = await Promise.all([kernelPort(), kernelPort()]);
  const args = ['--name', 'b', '--data-dir', dataDir, '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `b=http://127.0.0.1:${peer}`, '--log-level', 'warn'];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GOMAXPROCS: String(os.cpus().length) } });
  children.add(child);
  const ready = waitForLine(child, /ready to serve client requests|serving client traffic/, 'stderr').catch(() => undefined);
  await Promise.race([ready, new Promise((r) => setTimeout(r, 3000))]);
  for (let i = 0; i < 100; i++) {
    if (h2load(client, 10, 1, 1).ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name: 'etcd 3.5', pid: child.pid as number, port: client, child, dataDir };
}

function kernelPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = require('node:net').createServer() as import('node:net').Server;
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

const bodyFile = path.join(os.tmpdir(), `wire-bench-status-${process.pid}.bin`);

function h2load(port: number, n: number, c: number, m: number): { ok: boolean; rps: number; text: string } {
  const r = spawnSync('h2load', ['-n', String(n), '-c', String(c), '-m', String(m), '-d', bodyFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${port}${statusPath}`], { encoding: 'utf8', timeout: runTimeoutMs });
  const text = (r.stdout ?? '') + (r.stderr ?? '');
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(text);
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(text);
  return { ok: done !== null && done[1] === String(n) && done[2] === String(n), rps: rps === null ? 0 : Number(rps[1]), text };
}

function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
}

function measure(t: Target, n: number): { rps: number; cpuUs: number } {
  const before = cpuTicks(t.pid);
  const r = h2load(t.port, n, 10, 10);
  const ticks = cpuTicks(t.pid) - before;
  if (!r.ok) throw new Error(`${t.name}: h2load failed:\n${r.text}`);
  return { rps: r.rps, cpuUs: ((ticks / clockTicksPerSecond) * 1e6) / n };
}

/** write-type syscalls the server made per request during one run (strace -f -c). */
async function straceWrites(t: Target, n: number, streams: number): Promise<string> {
  const out = path.join(os.tmpdir(), `wire-bench-strace-${process.pid}-${t.pid}.txt`);
  const s = spawn('strace', ['-f', '-c', '-o', out, '-e', 'trace=write,writev,sendmsg,sendto,read,readv,recvfrom', '-p', String(t.pid)], { stdio: 'ignore' });
  children.add(s);
  await new Promise((r) => setTimeout(r, 500));
  h2load(t.port, n, 10, streams);
  s.kill('SIGINT');
  await new Promise((r) => s.once('exit', r));
  const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
  fs.rmSync(out, { force: true });
  const counts: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line);
    if (m !== null) counts.push(`${m[2]} ${(Number(m[1]) / n).toFixed(2)}`);
  }
  return counts.join(', ');
}

async function drive(): Promise<void> {
  const rounds = Number(arg('--rounds', '3'));
  const n = Number(arg('--requests', '100000'));
  fs.writeFileSync(bodyFile, Buffer.from([0, 0, 0, 0, 0]));
  const etcdBin = process.env['ETCD35_BIN'] ?? '/opt/etcd35/usr/bin/etcd';
  const targets: Target[] = [await startNodeServer('keel'), await startNodeServer('node')];
  if (fs.existsSync(etcdBin)) targets.push(await startEtcd(etcdBin));
  else console.log(`(no etcd 3.5 at ${etcdBin}: run /work/shared/tools/etcd35.sh)`);
  for (const t of targets) h2load(t.port, 20_000, 10, 10); // warm-up
  const results = new Map<string, Array<{ rps: number; cpuUs: number }>>();
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      const m = measure(t, n);
      console.log(`round ${r + 1} ${t.name.padEnd(10)} ${m.rps.toFixed(0).padStart(7)} req/s  ${m.cpuUs.toFixed(1).padStart(6)} µs CPU/req`);
      results.set(t.name, [...(results.get(t.name) ?? []), m]);
    }
  }
  console.log(`\nh2load -c 10 -m 10 -n ${n}, ${statusPath}, ${rounds} alternating rounds (min–max):`);
  for (const [name, ms] of results) {
    const rps = ms.map((m) => m.rps);
    const cpu = ms.map((m) => m.cpuUs);
    console.log(`  ${name.padEnd(10)} ${Math.min(...rps).toFixed(0)}–${Math.max(...rps).toFixed(0)} req/s, ${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)} µs CPU/req`);
  }
  if (process.argv.includes('--strace')) {
    for (const m of [10, 1]) {
      for (const t of targets) console.log(`  strace -f -c, h2load -c 10 -m ${m}, ${t.name}: syscalls per request: ${await straceWrites(t, 20_000, m)}`);
    }
  }
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  fs.rmSync(bodyFile, { force: true });
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
}

if (process.argv.includes('--serve')) {
  if (arg('--serve', '') === 'node') serveNode();
  else void serveKeel();
} else {
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  drive()
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    })
    .finally(cleanup);
}
