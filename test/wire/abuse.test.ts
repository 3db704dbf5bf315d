// Each abuse bound of src/util/limits.ts, exercised: rapid reset
// (CVE-2023-44487), CONTINUATION floods (CVE-2024-27316), HPACK bombs,
// PING abuse (grpc-go's too_many_pings), floods from a client that does not
// read, zero-window stalls, and slow or endless request heads.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { ManualClock, limits } from '../../src/util';
import { F, RawClient, T, frame, grpcMessage, preface, settings, u32 } from './h2-client';
import { startTestServer, unary, echoClient, type TestServer } from './service';

const enhanceYourCalm = 0xb;
const settingInitialWindow = 4;

/** A server other connections check against after the abuse. */
async function stillServes(t: TestServer): Promise<void> {
  const client = echoClient(t.port);
  const r = await unary(client, 'Unary', Buffer.from('alive'));
  client.close();
  assert.equal(r.res?.toString(), 'alive');
}

describe('wire: abuse bounds', () => {
  let t: TestServer;
  /** A server with a short head timeout, for the slowloris cases. */
  let slow: TestServer;
  const clock = new ManualClock(1_000_000);
  before(async () => {
    // A frozen clock: rate limits see every event at the same instant.
    t = await startTestServer({ clock });
    slow = await startTestServer({ headTimeoutMs: 300 });
  });
  after(async () => {
    await t.close();
    await slow.close();
  });

  it('closes a connection that resets streams faster than h2ResetsPerSecondMax (rapid reset)', async () => {
    const c = await RawClient.connect(t.port, { handshake: false });
    const before = t.slowCalls.n;
    const n = limits.h2ResetsBurstMax + 500;
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const id = 1 + 2 * i;
      parts.push(frame(T.HEADERS, F.END_HEADERS, id, c.block(c.requestHeaders('/test.Echo/Slow'))), frame(T.DATA, F.END_STREAM, id, grpcMessage(Buffer.from('x'))), u32(T.RST_STREAM, id, 8));
    }
    c.write(Buffer.concat([preface, settings([]), ...parts]));
    await c.until(() => c.goaway() !== undefined, 'GOAWAY');
    assert.equal(c.goaway()?.code, enhanceYourCalm);
    await c.untilClosed();
    assert.ok(t.slowCalls.n - before <= limits.h2ResetsBurstMax + 1, `${t.slowCalls.n - before} handlers started`);
    await stillServes(t);
  });

  it('closes a connection whose header block grows past h2HeaderBlockBytesMax (CONTINUATION flood)', async () => {
    const c = await RawClient.connect(t.port);
    const first = c.block(c.requestHeaders('/test.Echo/Unary'));
    c.write(frame(T.HEADERS, 0, 1, first));
    const junk = Buffer.alloc(16_000, 0x41);
    for (let i = 0; i < 2 * Math.ceil(limits.h2HeaderBlockBytesMax / junk.length) && !c.closed; i++) c.write(frame(T.CONTINUATION, 0, 1, junk));
    await c.until(() => c.goaway() !== undefined, 'GOAWAY');
    assert.equal(c.goaway()?.code, enhanceYourCalm);
    await c.untilClosed();
    await stillServes(t);
  });

  it('answers 431 to a header list that decodes past h2HeaderListBytesMax (HPACK bomb), and keeps the connection in sync', async () => {
    const c = await RawClient.connect(t.port);
    // One 4000-byte field enters the dynamic table, then index 62 repeats it 100 times: ~400 kB from ~4 kB.
    const value = 'v'.repeat(4000);
    const literal = Buffer.concat([Buffer.from([0x40, 5]), Buffer.from('bomb1'), Buffer.from([0x7f, (4000 - 127) % 128 | 0x80, Math.floor((4000 - 127) / 128)]), Buffer.from(value)]);
    const pseudo = Buffer.from([0x83, 0x86, 0x44, 16, ...Buffer.from('/test.Echo/Unary')]); // :method POST, :scheme http, :path literal
    const block = Buffer.concat([pseudo, literal, Buffer.alloc(100, 0xbe)]);
    c.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block));
    await c.until(() => c.ended(1), 'answer to the bomb');
    const first = c.frames.find((f) => f.streamId === 1 && f.type === T.HEADERS);
    assert.ok(first !== undefined);
    assert.deepEqual(c.decode(first.payload), [[':status', '431']]);
    // The table kept the bomb's entry: the next block may refer to it by index and still decodes.
    // (Adding :path again evicts the first :path: the table is [:path, bomb1], so bomb1 is 63; content-type goes unindexed.)
    c.write(Buffer.concat([frame(T.HEADERS, F.END_HEADERS, 3, Buffer.from([0x83, 0x86, 0x44, 16, ...Buffer.from('/test.Echo/Unary'), 0xbf, 0x0f, 0x10, 16, ...Buffer.from('application/grpc')])), frame(T.DATA, F.END_STREAM, 3, grpcMessage(Buffer.from('after')))]));
    await c.until(() => c.ended(3), 'a call after the bomb: ' + JSON.stringify(c.goaway()), true);
    assert.equal(c.goaway(), undefined);
    const data = c.frames.filter((f) => f.streamId === 3 && f.type === T.DATA).map((f) => f.payload);
    assert.deepEqual(Buffer.concat(data), grpcMessage(Buffer.from('after')));
    c.close();
  });

  it('sends GOAWAY ENHANCE_YOUR_CALM "too_many_pings" to pings more often than the keepalive policy allows', async () => {
    const c = await RawClient.connect(t.port);
    for (let i = 0; i < 10 && c.goaway() === undefined; i++) c.write(frame(T.PING, 0, 0, Buffer.alloc(8, i)));
    await c.until(() => c.goaway() !== undefined, 'GOAWAY');
    assert.deepEqual(c.goaway(), { lastStreamId: 0, code: enhanceYourCalm, debug: 'too_many_pings' });
    // grpc-go acks the ping that crosses the line too.
    assert.equal(c.frames.filter((f) => f.type === T.PING).length, limits.h2PingStrikesMax + 2);
    await c.untilClosed();
  });

  it('accepts pings the policy allows (one per keepalive-min-time, with a stream open)', async () => {
    const c = await RawClient.connect(t.port);
    c.write(c.unary(1, '/test.Echo/Hold', Buffer.from('x')).subarray(0)); // keeps a stream open
    while (t.held.length === 0) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 6; i++) {
      clock.advance(limits.grpcKeepaliveMinTimeMsDefault);
      c.write(frame(T.PING, 0, 0, Buffer.alloc(8, i)));
      await c.until((fs) => fs.filter((f) => f.type === T.PING).length === i + 1, `ack ${i}`);
    }
    assert.equal(c.goaway(), undefined);
    (t.held.shift() as (b: Buffer) => void)(Buffer.from('done'));
    await c.until(() => c.ended(1), 'held call answered');
    c.close();
  });

  it('stops reading from a client that floods SETTINGS and PINGs but never reads (h2SocketBufferedBytesMax)', async () => {
    const own = await startTestServer({ keepaliveMinTimeMs: 0, permitWithoutStream: true });
    const c = await RawClient.connect(own.port);
    c.socket.pause();
    const conn = await firstConnection(own);
    const chunk = Buffer.concat(Array.from({ length: 2000 }, (_, i) => (i % 2 === 0 ? settings([]) : frame(T.PING, 0, 0, Buffer.alloc(8)))));
    // Bounded: at most ~200 MB of flood; it stops as soon as the server stops reading.
    for (let i = 0; i < 8000 && !conn.readPaused; i++) {
      c.socket.write(chunk);
      while (c.socket.writableLength > 1024 * 1024 && !conn.readPaused) await new Promise((r) => setImmediate(r));
    }
    assert.equal(conn.readPaused, true);
    assert.ok(conn.socket.writableLength <= limits.h2SocketBufferedBytesMax + 256 * 1024, `${conn.socket.writableLength} bytes buffered`);
    await stillServes(own);
    c.close();
    await own.close();
  });

  it('bounds what a client that never opens its window pins (zero-window stall), then serves it once it does', async () => {
    const own = await startTestServer();
    const c = await RawClient.connect(own.port, { settings: [[settingInitialWindow, 0]] });
    const streams = 30;
    const req = Buffer.from(JSON.stringify({ count: 8, size: 256 * 1024 }));
    for (let i = 0; i < streams; i++) c.write(Buffer.concat([frame(T.HEADERS, F.END_HEADERS, 1 + 2 * i, c.block(c.requestHeaders('/test.Echo/ServerStream'))), frame(T.DATA, F.END_STREAM, 1 + 2 * i, grpcMessage(req))]));
    const conn = await firstConnection(own);
    const ids = Array.from({ length: streams }, (_, i) => 1 + 2 * i);
    // Past h2ConnectionQueuedBytesMax stuck bytes, new streams are refused; the ones admitted hold what they queued.
    await c.until(() => ids.some((id) => c.response(id).rst === 7), 'a stream refused while stalled');
    const bound = limits.h2ConnectionQueuedBytesMax + limits.h2StreamQueuedBytesMax + 256 * 1024 + 5;
    assert.ok(conn.queuedBytes <= bound, `${conn.queuedBytes} queued`);
    assert.equal(conn.readPaused, false);
    // Open every window: every admitted stream finishes.
    c.write(Buffer.concat([settings([[settingInitialWindow, 0x7fffffff]]), u32(T.WINDOW_UPDATE, 0, 0x7fffffff - 65535)]));
    await c.until(() => ids.every((id) => c.ended(id)), 'every stream ends');
    const refused = ids.filter((id) => c.response(id).rst === 7).length;
    const served = ids.filter((id) => c.response(id).rst === undefined).length;
    assert.equal(refused + served, streams);
    assert.ok(served >= limits.h2ConnectionQueuedBytesMax / (limits.h2StreamQueuedBytesMax + 256 * 1024 + 5), `${served} served`);
    const dataBytes = c.frames.filter((f) => f.type === T.DATA).reduce((n, f) => n + f.payload.length, 0);
    assert.equal(dataBytes, served * 8 * (256 * 1024 + 5));
    c.close();
    await own.close();
  });

  it('closes an HTTP/2 connection that never completes its preface (h2 slowloris)', async () => {
    const s = net.connect(slow.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write('PRI * HTTP/2.0\r\n');
    await new Promise((r) => s.once('close', r));
  });

  it('closes an HTTP/1.1 connection whose head never ends (slowloris) after the head timeout', async () => {
    const s = net.connect(slow.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => s.writable && s.write('X-A: b\r\n'), 20);
    await new Promise((r) => s.once('close', r));
    clearInterval(trickle);
  });

  it('answers 431 to an HTTP/1.1 head larger than http1HeadBytesMax', async () => {
    const s = net.connect(t.port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => undefined);
    s.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    for (let i = 0; i < 2 * (limits.http1HeadBytesMax / 1024) && s.writable; i++) s.write(`X-Fill-${i}: ${'y'.repeat(1000)}\r\n`);
    await new Promise((r) => s.once('close', r));
    assert.match(got, /^HTTP\/1\.1 431 /);
  });

  it('answers 413 to an HTTP/1.1 body larger than http1BodyBytesMax', async () => {
    const s = net.connect(t.port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => undefined);
    s.write(`POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: ${limits.http1BodyBytesMax + 1}\r\n\r\n`);
    await new Promise((r) => s.once('close', r));
    assert.match(got, /^HTTP\/1\.1 413 /);
  });
});

async function firstConnection(t: TestServer): Promise<import('../../src/wire').H2Connection> {
  for (;;) {
    const c = t.server.h2Connections()[0];
    if (c !== undefined) return c;
    await new Promise((r) => setImmediate(r));
  }
}
