// Self-tests of the process harness (test/helpers/procs.ts) against a real
// etcd: ports, restart keeping the data dir, kill -9, cleanup, and that no
// server outlives a test process that is itself SIGKILLed.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EtcdClient, b, must } from '../helpers/client';
import { assertTools, cleanupAll, freePort, missingTools, releasePort, skipUnlessTools, startEtcd } from '../helpers/procs';

after(cleanupAll);

const skip = skipUnlessTools(['etcd']);
const etcdFlags = ['--heartbeat-interval', '10', '--election-timeout', '100'];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

test('freePort hands out distinct ports', async () => {
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  assert.equal(new Set(ports).size, ports.length);
  for (const p of ports) releasePort(p);
});

test('missingTools names what is missing', () => {
  const saved = process.env['ETCD_BIN'];
  process.env['ETCD_BIN'] = '/nonexistent/etcd';
  try {
    const missing = missingTools(['etcd']);
    assert.equal(missing.length, 1);
    assert.match(missing[0] ?? '', /etcd/);
  } finally {
    if (saved === undefined) delete process.env['ETCD_BIN'];
    else process.env['ETCD_BIN'] = saved;
  }
});

test('etcd: restart keeps the data dir; kill -9 and restart; cleanup removes everything', { skip }, async () => {
  assertTools(['etcd']);
  const etcd = await startEtcd({ extraArgs: etcdFlags });
  const pid1 = etcd.pid ?? -1;
  const c = new EtcdClient(etcd.endpoint);
  try {
    must(await c.put({ key: b('k'), value: b('v1') }));
    await etcd.restart();
    assert.ok(!alive(pid1), 'old process gone after restart');
    const c2 = new EtcdClient(etcd.endpoint);
    const r = must(await c2.range({ key: b('k') }));
    assert.equal(r.kvs[0]?.value.toString(), 'v1');
    must(await c2.put({ key: b('k'), value: b('v2') }));
    c2.close();
    const pid2 = etcd.pid ?? -1;
    await etcd.restart({ kill9: true });
    assert.equal(etcd.exit, undefined, 'running again');
    assert.ok(!alive(pid2));
    const c3 = new EtcdClient(etcd.endpoint);
    const r3 = must(await c3.range({ key: b('k') }));
    assert.equal(r3.kvs[0]?.value.toString(), 'v2');
    assert.equal(r3.header?.revision, '3');
    c3.close();
  } finally {
    c.close();
    const pid3 = etcd.pid ?? -1;
    const dir = path.dirname(etcd.dataDir);
    await etcd.cleanup();
    assert.ok(!alive(pid3));
    assert.ok(!fs.existsSync(dir), 'temp dir removed');
  }
});

test('a server does not outlive a SIGKILLed test process', { skip }, async () => {
  assertTools(['etcd']);
  const procsJs = path.join(__dirname, '..', 'helpers', 'procs.js');
  const script = `require(${JSON.stringify(procsJs)}).startEtcd({extraArgs:${JSON.stringify(etcdFlags)}}).then(s => { console.log(s.pid + ' ' + s.dataDir); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', () => reject(new Error(`child exited early: ${out}`)));
  });
  const [pidText, dataDir] = line.split(' ');
  const etcdPid = Number(pidText);
  assert.ok(alive(etcdPid));
  child.kill('SIGKILL');
  const gone = await waitFor(() => !alive(etcdPid), 5_000);
  if (!gone) process.kill(etcdPid, 'SIGKILL');
  if (dataDir !== undefined) fs.rmSync(path.dirname(dataDir), { recursive: true, force: true }); // its exit hook never ran
  assert.ok(gone, `etcd ${etcdPid} still alive after its test process was SIGKILLed`);
});
