// grpc-js's client (a client nobody here wrote) against the wire server:
// unary, all three streaming kinds, errors whose messages need
// percent-encoding, metadata, deadlines, and messages larger than the
// flow-control windows.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { echoClient, startTestServer, unary, type AnyClient, type TestServer } from './service';

describe('wire: grpc-js client', () => {
  let t: TestServer;
  let client: AnyClient;
  before(async () => {
    t = await startTestServer();
    client = echoClient(t.port, { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  });
  after(async () => {
    client.close();
    await t.close();
  });

  it('answers unary calls, sync and async handlers', async () => {
    const r = await unary(client, 'Unary', Buffer.from('hello'));
    assert.equal(r.err, undefined);
    assert.equal(r.res?.toString(), 'hello');
    const a = await unary(client, 'Unary', Buffer.from('async'));
    assert.equal(a.res?.toString(), 'later');
    const empty = await unary(client, 'Unary', Buffer.alloc(0));
    assert.equal(empty.res?.length, 0);
  });

  it('passes metadata to handlers', async () => {
    const md = new grpc.Metadata();
    md.set('token', 'abc.def');
    const r = await unary(client, 'Unary', Buffer.from('token'), md);
    assert.equal(r.res?.toString(), 'abc.def');
  });

  it('sends errors with percent-encoded messages and extra trailers', async () => {
    const message = 'etcdserver: 100% done, naïve ✓ \n next line';
    const r = await unary(client, 'Unary', Buffer.from(`error:5:${message}`));
    assert.equal(r.err?.code, 5);
    assert.equal(r.err?.details, message);
    assert.deepEqual(r.err?.metadata.get('x-detail'), ['yes']);
  });

  it('answers UNKNOWN with the message of a plain throw', async () => {
    const r = await unary(client, 'Unary', Buffer.from('throw'));
    assert.equal(r.err?.code, grpc.status.UNKNOWN);
    assert.equal(r.err?.details, 'plain failure');
  });

  it('answers UNIMPLEMENTED in grpc-go words for unknown methods', async () => {
    const r = await unary(client, 'Missing', Buffer.from('x'));
    assert.equal(r.err?.code, grpc.status.UNIMPLEMENTED);
    assert.equal(r.err?.details, 'unknown method Missing for service test.Echo');
  });

  it('carries large messages across flow-control windows both ways', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i += 4093) big[i] = i % 256;
    const r = await unary(client, 'Unary', big);
    assert.equal(r.err, undefined);
    assert.ok(r.res !== undefined && r.res.equals(big));
  });

  it('refuses a message above the receive limit with RESOURCE_EXHAUSTED', async () => {
    const r = await unary(client, 'Unary', Buffer.alloc(4 * 1024 * 1024 + 1));
    assert.equal(r.err?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(r.err?.details, `grpc: received message larger than max (${4 * 1024 * 1024 + 1} vs. ${4 * 1024 * 1024})`);
  });

  it('sees the deadline, and ends a call whose deadline passed', async () => {
    const d = await unary(client, 'Unary', Buffer.from('deadline'), new grpc.Metadata(), { deadline: Date.now() + 60_000 });
    assert.equal(d.res?.toString(), 'true');
    const r = await unary(client, 'Slow', Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 200 });
    assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
    while (!t.cancelledCalls.includes('Slow')) await new Promise((res) => setImmediate(res));
  });

  it('streams from the server with backpressure (more than the stream window)', async () => {
    const count = 200;
    const size = 64 * 1024;
    const stream = (client['ServerStream'] as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from(JSON.stringify({ count, size })));
    let i = 0;
    for await (const m of stream as AsyncIterable<Buffer>) {
      assert.equal(m.length, size);
      assert.equal(m.readUInt32BE(0), i);
      i++;
    }
    assert.equal(i, count);
  });

  it('takes client streams', async () => {
    const res = await new Promise<Buffer>((resolve, reject) => {
      const call = (client['ClientStream'] as (cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => grpc.ClientWritableStream<Buffer>)((e, r) => (e !== null ? reject(e) : resolve(r as Buffer)));
      for (let i = 0; i < 100; i++) call.write(Buffer.alloc(50_000, i));
      call.end();
    });
    assert.deepEqual(JSON.parse(res.toString()), { n: 100, bytes: 5_000_000 });
  });

  it('echoes on bidi streams and ends them with an error status', async () => {
    const call = (client['Bidi'] as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
    const got: string[] = [];
    const done = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    call.on('data', (m: Buffer) => {
      got.push(m.toString());
      if (got.length === 3) call.write(Buffer.from('fail'));
    });
    for (const w of ['a', 'b', 'c']) call.write(Buffer.from(w));
    const err = await done;
    assert.deepEqual(got, ['echo:a', 'echo:b', 'echo:c']);
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.details, 'bidi failed: 100% on purpose');
  });

  it('serves many concurrent calls on one connection', async () => {
    const rs = await Promise.all(Array.from({ length: 500 }, (_, i) => unary(client, 'Unary', Buffer.from(`m${i}`))));
    rs.forEach((r, i) => assert.equal(r.res?.toString(), `m${i}`));
  });
});
