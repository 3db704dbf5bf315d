// Debian's etcdctl 3.4 against the wire server with a canned
// Maintenance/Status: `endpoint status` is one of the calls for which
// etcdctl puts "http://host:port" in :authority (node:http2 resets those
// streams; the wire server must answer them).
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { GrpcError, WireServer } from '../../src/wire';
import { etcdctlBin } from '../helpers/procs';

/** A StatusResponse: header {cluster_id 1, member_id 2, revision 3, raft_term 4}, version, dbSize 8192, leader 2, raftIndex 5, raftTerm 4, raftAppliedIndex 5. */
const status = Buffer.concat([
  Buffer.from([0x0a, 0x08, 0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x04]),
  Buffer.from([0x12, 0x06]), Buffer.from('3.5.16'),
  Buffer.from([0x18, 0x80, 0x40, 0x20, 0x02, 0x28, 0x05, 0x30, 0x04, 0x38, 0x05]),
]);

function run(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const bin = etcdctlBin();

describe('wire: etcdctl 3.4', { skip: bin === undefined ? 'skipped: etcdctl is not installed (Debian etcd-client)' : false }, () => {
  const server = new WireServer();
  const authorities: string[] = [];
  let port = 0;
  before(async () => {
    server.addService('etcdserverpb.Maintenance', {
      Status: { kind: 'unary', handler: (_req, call) => (authorities.push(call.authority), status) },
    });
    server.addService('etcdserverpb.KV', {
      Range: { kind: 'unary', handler: () => { throw new GrpcError(14, 'etcdserver: no leader'); } },
    });
    port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
  });
  after(() => server.close(2000));

  it('answers `endpoint status` although :authority carries the scheme', async () => {
    const r = await run(bin as string, ['--endpoints', `http://127.0.0.1:${port}`, 'endpoint', 'status', '-w', 'fields']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"Version" : "3\.5\.16"/);
    assert.match(r.stdout, /"DBSize" : 8192/);
    assert.match(r.stdout, /"Leader" : 2/);
    assert.ok(authorities.some((a) => a.startsWith('http://')), JSON.stringify(authorities));
  });

  it('shows a handler error to etcdctl with its code and message', async () => {
    const r = await run(bin as string, ['--endpoints', `127.0.0.1:${port}`, '--command-timeout', '5s', 'get', 'foo']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /etcdserver: no leader/);
  });
});
