// Clients nobody here wrote, run as processes against the wire server:
// nghttp and h2load (Debian's nghttp2-client) and curl over HTTP/2 with
// prior knowledge and over HTTP/1.1 (keep-alive, chunked, bodies).
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { which } from '../helpers/procs';
import { startTestServer, type TestServer } from './service';

const toolTimeoutMs = 60_000;

/** Runs a tool without blocking the event loop (the server under test lives in this process). */
function run(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), toolTimeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function skipUnless(tool: string): string | false {
  return which(tool) === undefined ? `skipped: ${tool} is not installed (apt-get install ${tool === 'curl' ? 'curl' : 'nghttp2-client'})` : false;
}

describe('wire: nghttp, h2load, curl', () => {
  let t: TestServer;
  let dir: string;
  let grpcBody: string;
  before(async () => {
    t = await startTestServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wire-tools-'));
    grpcBody = path.join(dir, 'req.bin');
    fs.writeFileSync(grpcBody, Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), Buffer.from('hello')]));
  });
  after(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('nghttp: a gRPC unary call, frame by frame', { skip: skipUnless('nghttp') }, async () => {
    const r = await run('nghttp', ['-v', '-d', grpcBody, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${t.port}/test.Echo/Unary`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /recv \(stream_id=\d+\) :status: 200/);
    assert.match(r.stdout, /recv \(stream_id=\d+\) grpc-status: 0/);
    assert.match(r.stdout, /recv DATA frame <length=10, flags=0x00, stream_id=\d+>/);
    assert.match(r.stdout, /recv HEADERS frame <length=\d+, flags=0x05, stream_id=\d+>/);
  });

  it('nghttp: an HTTP route over HTTP/2', { skip: skipUnless('nghttp') }, async () => {
    const r = await run('nghttp', [`http://127.0.0.1:${t.port}/health`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '{"health":"true","reason":""}');
  });

  it('h2load: 4,000 unary calls over 4 connections × 10 streams all succeed', { skip: skipUnless('h2load') }, async () => {
    const r = await run('h2load', ['-n', '4000', '-c', '4', '-m', '10', '-d', grpcBody, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${t.port}/test.Echo/Unary`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /requests: 4000 total, 4000 started, 4000 done, 4000 succeeded, 0 failed, 0 errored/);
    assert.match(r.stdout, /status codes: 4000 2xx/);
  });

  it('curl --http2-prior-knowledge: routes and a POST body over h2c', { skip: skipUnless('curl') }, async () => {
    const r = await run('curl', ['-sS', '--http2-prior-knowledge', `http://127.0.0.1:${t.port}/health`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '{"health":"true","reason":""}');
    const p = await run('curl', ['-sS', '--http2-prior-knowledge', '-d', '{"key":"Zm9v"}', `http://127.0.0.1:${t.port}/v3/kv/range`]);
    assert.deepEqual(JSON.parse(p.stdout), { method: 'POST', path: '/v3/kv/range', body: '{"key":"Zm9v"}', version: '2' });
  });

  it('curl over HTTP/1.1: keep-alive across requests, chunked streaming, 404 in Go words', { skip: skipUnless('curl') }, async () => {
    const base = `http://127.0.0.1:${t.port}`;
    const r = await run('curl', ['-sS', '--http1.1', '-w', '\n%{http_code} %{num_connects}\n', `${base}/health`, `${base}/health`]);
    assert.equal(r.code, 0, r.stderr);
    // Two responses, the second on the same connection (no new connect).
    assert.equal(r.stdout, '{"health":"true","reason":""}\n200 1\n{"health":"true","reason":""}\n200 0\n');
    const s = await run('curl', ['-sS', '--http1.1', '-i', `${base}/stream`]);
    assert.match(s.stdout, /Transfer-Encoding: chunked/);
    assert.match(s.stdout, /part 0\npart 1\npart 2\n$/);
    const n = await run('curl', ['-sS', '--http1.1', '-w', '%{http_code}', `${base}/nope`]);
    assert.equal(n.stdout, '404 page not found\n404');
    const p = await run('curl', ['-sS', '--http1.1', '-H', 'Transfer-Encoding: chunked', '--data-binary', '{"k":"v"}', `${base}/v3/kv/put`]);
    assert.deepEqual(JSON.parse(p.stdout), { method: 'POST', path: '/v3/kv/put', body: '{"k":"v"}', version: '1.1' });
  });
});
