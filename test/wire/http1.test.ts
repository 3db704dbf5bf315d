// HTTP/1.1 on the client port, byte by byte: pipelined requests answered in
// order on one connection, 100 Continue, HTTP/1.0 closing, chunked request
// bodies, and malformed requests refused with 400 without hurting others.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { startTestServer, type TestServer } from './service';

/** Sends raw bytes, half-closes, and returns everything the server said before closing. */
function exchange(port: number, ...chunks: string[]): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
    for (const c of chunks) s.write(c);
    s.end();
  });
}

describe('wire: HTTP/1.1', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('answers pipelined requests in order on one connection', async () => {
    const got = await exchange(t.port, 'GET /health HTTP/1.1\r\nHost: a\r\n\r\nPOST /v3/kv/range HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}GET /nope HTTP/1.1\r\nHost: a\r\n\r\n');
    const statuses = [...got.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '404']);
    assert.ok(got.indexOf('"health"') < got.indexOf('"/v3/kv/range"'));
    assert.match(got, /"body":"\{\}"/);
  });

  it('says 100 Continue to Expect, then reads the body', async () => {
    const s = net.connect(t.port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got === 'HTTP/1.1 100 Continue\r\n\r\n') s.end('hello');
    });
    s.write('POST /v3/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    await new Promise((r) => s.once('close', r));
    assert.match(got, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.match(got, /"body":"hello"/);
  });

  it('closes after an HTTP/1.0 response, delimiting a streamed body by the close', async () => {
    const got = await exchange(t.port, 'GET /stream HTTP/1.0\r\n\r\n');
    assert.match(got, /^HTTP\/1\.0 200 OK\r\n/);
    assert.match(got, /Connection: close\r\n/);
    assert.doesNotMatch(got, /chunked/);
    assert.match(got, /\r\n\r\npart 0\npart 1\npart 2\n$/);
  });

  it('reads chunked request bodies', async () => {
    const got = await exchange(t.port, 'POST /v3/y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n');
    assert.match(got, /"body":"abcdefg"/);
  });

  it('refuses malformed requests with 400 and closes', async () => {
    for (const bad of ['GET /health HTTP/1.1\r\n\r\n', 'GET  HTTP/1.1\r\nHost: a\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n bad fold\r\n\r\n', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n']) {
      const got = await exchange(t.port, bad);
      assert.match(got, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(bad));
    }
    const ok = await exchange(t.port, 'GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.match(ok, /^HTTP\/1\.1 200 OK\r\n/);
  });
});
