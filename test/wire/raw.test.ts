// HTTP/2 and gRPC behaviour seen frame by frame, with a raw client: the
// :authority etcdctl 3.4 sends, coalesced writes, flow control, the errors
// grpc-go gives for compressed messages and bad timeouts, concurrency limits
// and a graceful GOAWAY.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { limits } from '../../src/util';
import { F, RawClient, T, frame, grpcMessage, header, preface, settings, u32 } from './h2-client';
import { startTestServer, type TestServer } from './service';

const settingInitialWindow = 4;

function trailer(c: RawClient, streamId: number): Array<[string, string]> {
  const r = c.response(streamId);
  const last = r.headers[r.headers.length - 1];
  assert.ok(last !== undefined, `stream ${streamId} has headers`);
  return last;
}

describe('wire: raw HTTP/2', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  it('accepts an :authority carrying a scheme (etcdctl 3.4 sends http://host:port)', async () => {
    const c = await RawClient.connect(t.port);
    c.write(c.unary(1, '/test.Echo/Unary', Buffer.from('status?'), [], `http://127.0.0.1:${t.port}`));
    await c.until(() => c.ended(1), 'stream 1 ends');
    const r = c.response(1);
    assert.equal(r.rst, undefined);
    assert.equal(header(r.headers[0] ?? [], ':status'), '200');
    assert.equal(header(trailer(c, 1), 'grpc-status'), '0');
    assert.deepEqual(r.data, grpcMessage(Buffer.from('status?')));
    c.close();
  });

  it('answers a unary call as HEADERS, DATA, trailers HEADERS; requests read together are answered in one write', async () => {
    const c = await RawClient.connect(t.port);
    c.write(c.unary(1, '/test.Echo/Unary', Buffer.from('warm')));
    await c.until(() => c.ended(1), 'warm-up');
    const conn = t.server.h2Connections().at(-1);
    assert.ok(conn !== undefined);
    const before = { ...conn.stats };
    const batch = Buffer.concat(Array.from({ length: 20 }, (_, i) => c.unary(3 + 2 * i, '/test.Echo/Unary', Buffer.from(`m${i}`))));
    const seen = c.frames.length;
    c.write(batch);
    await c.until(() => Array.from({ length: 20 }, (_, i) => 3 + 2 * i).every((id) => c.ended(id)), 'all 20 answered');
    // Handlers here answer in the turn of the read: each read makes at most one socket write.
    const reads = conn.stats.reads - before.reads;
    const writes = conn.stats.writes - before.writes;
    assert.ok(writes >= 1 && writes <= reads, `${writes} writes for ${reads} reads`);
    const order = c.frames.slice(seen).filter((f) => f.streamId === 3).map((f) => `${f.type}:${f.flags}`);
    assert.deepEqual(order, [`${T.HEADERS}:${F.END_HEADERS}`, `${T.DATA}:0`, `${T.HEADERS}:${F.END_HEADERS | F.END_STREAM}`]);
    c.close();
  });

  it('honours the peer initial window and MAX_FRAME_SIZE: DATA waits for WINDOW_UPDATE', async () => {
    const c = await RawClient.connect(t.port, { settings: [[settingInitialWindow, 100]] });
    const body = Buffer.alloc(1000, 7);
    c.write(c.unary(1, '/test.Echo/Unary', body));
    await c.until((fs) => fs.filter((f) => f.streamId === 1 && f.type === T.DATA).reduce((n, f) => n + f.payload.length, 0) >= 100, 'first 100 bytes');
    assert.equal(c.ended(1), false);
    assert.equal(c.response(1).data.length, 100);
    c.write(u32(T.WINDOW_UPDATE, 1, 10_000));
    await c.until(() => c.ended(1), 'the rest after WINDOW_UPDATE');
    assert.deepEqual(c.response(1).data, grpcMessage(body));
    c.close();
  });

  it('refuses a compressed message without grpc-encoding with INTERNAL, as grpc-go', async () => {
    const c = await RawClient.connect(t.port);
    c.write(Buffer.concat([frame(T.HEADERS, F.END_HEADERS, 1, c.block(c.requestHeaders('/test.Echo/Unary'))), frame(T.DATA, F.END_STREAM, 1, grpcMessage(Buffer.from('x'), 1))]));
    await c.until(() => c.ended(1), 'answer');
    const tr = trailer(c, 1);
    assert.equal(header(tr, 'grpc-status'), '13');
    assert.equal(header(tr, 'grpc-message'), 'grpc: compressed flag set with identity or empty encoding');
    c.close();
  });

  it('refuses an unknown grpc-encoding with UNIMPLEMENTED, as grpc-go', async () => {
    const c = await RawClient.connect(t.port);
    c.write(c.unary(1, '/test.Echo/Unary', Buffer.from('x'), [['grpc-encoding', 'gzip']]));
    await c.until(() => c.ended(1), 'answer');
    const tr = trailer(c, 1);
    assert.equal(header(tr, 'grpc-status'), '12');
    assert.equal(header(tr, 'grpc-message'), 'grpc: Decompressor is not installed for grpc-encoding "gzip"');
    // A trailers-only response: one HEADERS frame that also carries :status.
    assert.equal(c.response(1).headers.length, 1);
    assert.equal(header(tr, ':status'), '200');
    c.close();
  });

  it('refuses a malformed grpc-timeout with INTERNAL', async () => {
    const c = await RawClient.connect(t.port);
    c.write(c.unary(1, '/test.Echo/Unary', Buffer.from('x'), [['grpc-timeout', '10x']]));
    await c.until(() => c.ended(1), 'answer');
    const tr = trailer(c, 1);
    assert.equal(header(tr, 'grpc-status'), '13');
    assert.equal(header(tr, 'grpc-message'), 'malformed grpc-timeout: transport: timeout unit is not recognized: "10x"');
    c.close();
  });

  it('answers unknown services and malformed names in grpc-go words', async () => {
    const c = await RawClient.connect(t.port);
    c.write(c.unary(1, '/nope.Svc/M', Buffer.alloc(0)));
    c.write(c.unary(3, 'nomethod', Buffer.alloc(0)));
    await c.until(() => c.ended(1) && c.ended(3), 'answers');
    assert.equal(header(trailer(c, 1), 'grpc-message'), 'unknown service nope.Svc');
    assert.equal(header(trailer(c, 3), 'grpc-message'), 'malformed method name: "nomethod"');
    c.close();
  });

  it('resets streams beyond MAX_CONCURRENT_STREAMS with REFUSED_STREAM', async () => {
    const c = await RawClient.connect(t.port);
    const n = limits.h2StreamsPerConnectionMax + 1;
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) parts.push(frame(T.HEADERS, F.END_HEADERS, 1 + 2 * i, c.block(c.requestHeaders('/test.Echo/Hold'))));
    c.write(Buffer.concat(parts));
    const lastId = 1 + 2 * (n - 1);
    await c.until(() => c.ended(lastId), 'the extra stream is refused');
    assert.equal(c.response(lastId).rst, 7);
    assert.equal(c.ended(1), false);
    c.close();
  });

  it('shuts down gracefully: GOAWAY, the in-flight stream still answered, then the connection ends', async () => {
    const own = await startTestServer();
    const c = await RawClient.connect(own.port);
    c.write(c.unary(1, '/test.Echo/Hold', Buffer.from('x')));
    while (own.held.length === 0) await new Promise((r) => setImmediate(r));
    const closed = own.server.close(60_000);
    await c.until(() => c.goaway() !== undefined, 'GOAWAY');
    assert.deepEqual(c.goaway(), { lastStreamId: 1, code: 0, debug: '' });
    assert.equal(c.ended(1), false);
    (own.held[0] as (b: Buffer) => void)(Buffer.from('finished'));
    await c.until(() => c.ended(1), 'stream 1 answered after GOAWAY');
    assert.deepEqual(c.response(1).data, grpcMessage(Buffer.from('finished')));
    await c.untilClosed();
    await closed;
  });

  it('ignores unknown frame types and PRIORITY, answers PING with an ACK of the same bytes', async () => {
    const c = await RawClient.connect(t.port);
    const ping = Buffer.from('12345678');
    c.write(Buffer.concat([frame(0xfa, 0, 0, Buffer.from('whatever')), frame(T.PRIORITY, 0, 1, Buffer.alloc(5)), frame(T.PING, 0, 0, ping)]));
    await c.until((fs) => fs.some((f) => f.type === T.PING && f.flags === F.ACK), 'PING ack');
    assert.deepEqual(c.frames.find((f) => f.type === T.PING)?.payload, ping);
    c.write(c.unary(3, '/test.Echo/Unary', Buffer.from('still fine')));
    await c.until(() => c.ended(3), 'call after odd frames');
    c.close();
  });

  it('gives a SETTINGS ACK and takes a smaller header table from the peer', async () => {
    const c = await RawClient.connect(t.port, { settings: [[1, 0]] });
    await c.until((fs) => fs.some((f) => f.type === T.SETTINGS && f.flags === F.ACK), 'SETTINGS ack');
    for (let i = 0; i < 3; i++) c.write(c.unary(1 + 2 * i, '/test.Echo/Unary', Buffer.from(`t${i}`)));
    await c.until(() => c.ended(5), 'three calls');
    for (let i = 0; i < 3; i++) assert.equal(header(trailer(c, 1 + 2 * i), 'grpc-status'), '0');
    c.write(settings([[1, 4096]]));
    c.write(c.unary(7, '/test.Echo/Unary', Buffer.from('t3')));
    await c.until(() => c.ended(7), 'after growing the table again');
    assert.equal(header(trailer(c, 7), 'grpc-status'), '0');
    c.close();
  });

  it('takes a header block split over HEADERS and CONTINUATION frames, and padded DATA', async () => {
    const c = await RawClient.connect(t.port);
    const token = 't'.repeat(30_000);
    const block = c.block(c.requestHeaders('/test.Echo/Unary', [['token', token]]));
    const parts = [frame(T.HEADERS, 0, 1, block.subarray(0, 10_000)), frame(T.CONTINUATION, 0, 1, block.subarray(10_000, 20_000)), frame(T.CONTINUATION, F.END_HEADERS, 1, block.subarray(20_000))];
    const body = grpcMessage(Buffer.from('token'));
    const padded = Buffer.concat([Buffer.from([7]), body, Buffer.alloc(7)]);
    c.write(Buffer.concat([...parts, frame(T.DATA, F.END_STREAM | F.PADDED, 1, padded)]));
    await c.until(() => c.ended(1), 'answer');
    assert.deepEqual(c.response(1).data, grpcMessage(Buffer.from(token)));
    c.close();
  });

  it('sends GOAWAY FRAME_SIZE_ERROR for a frame larger than its SETTINGS_MAX_FRAME_SIZE', async () => {
    const c = await RawClient.connect(t.port);
    c.write(frame(T.DATA, 0, 1, Buffer.alloc(limits.h2FrameBytesMax + 1)));
    await c.until(() => c.goaway() !== undefined, 'GOAWAY');
    assert.equal(c.goaway()?.code, 6);
    await c.untilClosed();
  });

  it('sends GOAWAY PROTOCOL_ERROR when the first frame is not SETTINGS, and for even stream ids', async () => {
    for (const bad of [frame(T.PING, 0, 0, Buffer.alloc(8)), Buffer.concat([settings([]), frame(T.HEADERS, F.END_HEADERS, 2, Buffer.from([0x83]))])]) {
      const c = await RawClient.connect(t.port, { handshake: false });
      c.write(Buffer.concat([preface, bad]));
      await c.until(() => c.goaway() !== undefined, 'GOAWAY');
      assert.equal(c.goaway()?.code, 1);
      await c.untilClosed();
    }
  });

  it('resets a stream whose request breaks RFC 9113 8.3 (uppercase names, missing :path, connection headers)', async () => {
    const c = await RawClient.connect(t.port);
    const bad: Array<Array<[string, string]>> = [
      [[':method', 'POST'], [':scheme', 'http'], [':path', '/test.Echo/Unary'], ['Content-Type', 'application/grpc']],
      [[':method', 'POST'], [':scheme', 'http'], ['content-type', 'application/grpc']],
      [[':method', 'POST'], [':scheme', 'http'], [':path', '/x'], ['connection', 'keep-alive']],
    ];
    bad.forEach((h, i) => c.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1 + 2 * i, c.block(h))));
    await c.until(() => [1, 3, 5].every((id) => c.ended(id)), 'three resets');
    for (const id of [1, 3, 5]) assert.equal(c.response(id).rst, 1);
    c.write(c.unary(7, '/test.Echo/Unary', Buffer.from('fine')));
    await c.until(() => c.ended(7), 'the connection still serves');
    c.close();
  });

  it('assembles messages whose prefix and body are split across DATA frames (client stream)', async () => {
    const c = await RawClient.connect(t.port);
    const wire = Buffer.concat([grpcMessage(Buffer.from('first')), grpcMessage(Buffer.alloc(0)), grpcMessage(Buffer.alloc(20_000, 1))]);
    const cuts = [2, 4, 9, 11, 600, wire.length];
    const frames = [frame(T.HEADERS, F.END_HEADERS, 1, c.block(c.requestHeaders('/test.Echo/ClientStream')))];
    let from = 0;
    for (const cut of cuts) {
      for (let p = from; p < cut; p += 16_384) frames.push(frame(T.DATA, p + 16_384 >= cut && cut === wire.length ? F.END_STREAM : 0, 1, wire.subarray(p, Math.min(cut, p + 16_384))));
      from = cut;
    }
    c.write(Buffer.concat(frames));
    await c.until(() => c.ended(1), 'answer');
    assert.deepEqual(JSON.parse(c.response(1).data.subarray(5).toString()), { n: 3, bytes: 20_005 });
    c.close();
  });

  it('ends a bidi call on a bad message with INTERNAL and its handler returns (no slot leaks)', async () => {
    const c = await RawClient.connect(t.port);
    c.write(Buffer.concat([frame(T.HEADERS, F.END_HEADERS, 1, c.block(c.requestHeaders('/test.Echo/Bidi'))), frame(T.DATA, 0, 1, grpcMessage(Buffer.from('ok')))]));
    await c.until(() => c.response(1).data.length > 0, 'first echo');
    c.write(frame(T.DATA, 0, 1, grpcMessage(Buffer.from('zz'), 1)));
    await c.until(() => c.ended(1), 'status');
    assert.equal(header(trailer(c, 1), 'grpc-status'), '13');
    const conn = t.server.h2Connections().at(-1);
    assert.ok(conn !== undefined);
    while (conn.running > 0) await new Promise((r) => setImmediate(r));
    c.close();
  });

  it('takes the server-wide receive limit for methods without their own', async () => {
    const own = await startTestServer({ receiveMessageBytesMax: 100 });
    const c = await RawClient.connect(own.port);
    c.write(c.unary(1, '/test.Echo/Unary', Buffer.alloc(100)));
    c.write(c.unary(3, '/test.Echo/Unary', Buffer.alloc(101)));
    await c.until(() => c.ended(1) && c.ended(3), 'answers');
    assert.equal(header(trailer(c, 1), 'grpc-status'), '0');
    assert.equal(header(trailer(c, 3), 'grpc-message'), 'grpc: received message larger than max (101 vs. 100)');
    c.close();
    await own.close();
  });
});
