// The wire server on TLS: ALPN picks h2 or http/1.1, grpc-js with real TLS
// credentials, curl over both protocols, and certificates chosen per
// connection by an SNICallback (how another engineer's TLS config plugs in).
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { which } from '../helpers/procs';
import { EchoClient, startTestServer, unary, type AnyClient, type TestServer } from './service';

function run(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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

const skip = which('openssl') === undefined ? 'skipped: openssl is not installed (needed to make a test certificate)' : false;

describe('wire: TLS with ALPN', { skip }, () => {
  let t: TestServer;
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  let port: number;
  let sniNames: string[];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wire-tls-'));
    const r = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
    assert.equal(r.code, 0, r.stderr);
    cert = fs.readFileSync(path.join(dir, 'cert.pem'));
    key = fs.readFileSync(path.join(dir, 'key.pem'));
    t = await startTestServer();
    sniNames = [];
    const context = tls.createSecureContext({ cert, key });
    const l = await t.server.listen({
      host: '127.0.0.1',
      port: 0,
      tls: { secure: { cert, key, SNICallback: (name, cb) => { sniNames.push(name); cb(null, context); } } },
    });
    port = l.port;
  });
  after(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves grpc-js over TLS (ALPN h2), the certificate picked by SNICallback', async () => {
    const client = new EchoClient(`localhost:${port}`, grpc.credentials.createSsl(cert)) as unknown as AnyClient;
    const r = await unary(client, 'Unary', Buffer.from('over tls'));
    client.close();
    assert.equal(r.err, undefined);
    assert.equal(r.res?.toString(), 'over tls');
    assert.ok(sniNames.includes('localhost'));
  });

  it('serves curl over TLS by ALPN: h2 and http/1.1', { skip: which('curl') === undefined ? 'skipped: curl is not installed' : false }, async () => {
    const h2 = await run('curl', ['-sS', '--cacert', path.join(dir, 'cert.pem'), '--http2', '-w', ' %{http_version}', `https://localhost:${port}/health`, '--resolve', `localhost:${port}:127.0.0.1`]);
    assert.equal(h2.stdout, '{"health":"true","reason":""} 2', h2.stderr);
    const h1 = await run('curl', ['-sS', '--cacert', path.join(dir, 'cert.pem'), '--http1.1', '-w', ' %{http_version}', `https://localhost:${port}/health`, '--resolve', `localhost:${port}:127.0.0.1`]);
    assert.equal(h1.stdout, '{"health":"true","reason":""} 1.1', h1.stderr);
  });
});
