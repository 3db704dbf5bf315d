// The short path for unary KV calls (src/api/fast-unary.ts) against grpc-js's
// own path on the same build (KEEL_UNARY_FAST_PATH=off) and, where a real etcd
// is there, against etcd: the same status, message, headers and body for good
// requests and for malformed framing, oversized messages, unknown methods and
// compressed requests (which the short path leaves to grpc-js).
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { startKeel, startEtcd, skipUnlessTools, type ServerProcess } from '../helpers/procs';
import { etcdService } from '../../src/proto';

interface RawReply {
  status: string | undefined;
  message: string | undefined;
  contentType: string | undefined;
  body: Buffer;
}

/** One gRPC call over a fresh HTTP/2 session: exact bytes in, status and body out. */
function rawCall(endpoint: string, path: string, body: Buffer, extra: http2.OutgoingHttpHeaders = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${endpoint}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => { headers = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      const pick = (k: string): string | undefined => (trailers[k] ?? headers[k]) as string | undefined;
      resolve({ status: pick('grpc-status'), message: pick('grpc-message'), contentType: headers['content-type'], body: Buffer.concat(chunks) });
    });
    req.end(body);
  });
}

function frame(message: Buffer, flag = 0, declared = message.length): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(declared, 1);
  message.copy(out, 5);
  return out;
}

const kv = etcdService('KV').service as unknown as Record<'Range' | 'Put', { path: string; requestSerialize(o: object): Buffer; responseDeserialize(b: Buffer): unknown }>;
const rangePath = kv.Range.path;
const putPath = kv.Put.path;
const put = (key: string, value: string): Buffer => kv.Put.requestSerialize({ key: Buffer.from(key), value: Buffer.from(value) });
const range = (key: string): Buffer => kv.Range.requestSerialize({ key: Buffer.from(key) });

const servers: ServerProcess[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

test('the short path answers exactly as grpc-js does, good requests and bad framing alike', async () => {
  const [fast, slow] = await Promise.all([startKeel(), startKeel({ env: { KEEL_UNARY_FAST_PATH: 'off' } })]);
  servers.push(fast, slow);
  const cases: Array<[string, string, Buffer, http2.OutgoingHttpHeaders?]> = [
    ['put', putPath, frame(put('k', 'v'))],
    ['range', rangePath, frame(range('k'))],
    ['range of a missing key', rangePath, frame(range('nope'))],
    ['empty range key', rangePath, frame(range(''))],
    ['no message', putPath, Buffer.alloc(0)],
    ['a partial message', putPath, frame(put('k', 'v')).subarray(0, 8)],
    ['two messages', putPath, Buffer.concat([frame(put('k', 'v')), frame(put('k', 'w'))])],
    ['one message and a partial one', rangePath, Buffer.concat([frame(range('k')), frame(range('k')).subarray(0, 3)])],
    ['compressed flag without grpc-encoding', rangePath, frame(range('k'), 1)],
    ['not a protobuf', putPath, frame(Buffer.from([0xff, 0xff, 0xff]))],
    ['oversized message', putPath, frame(put('big', 'x'.repeat(2 * 1024 * 1024)))],
    ['hasleader on a member with a leader', rangePath, frame(range('k')), { hasleader: 'true' }],
  ];
  for (const [what, path, body, extra] of cases) {
    const [a, b] = await Promise.all([rawCall(fast.endpoint, path, body, extra), rawCall(slow.endpoint, path, body, extra)]);
    assert.equal(a.status, b.status, `${what}: status ${JSON.stringify([a.message, b.message])}`);
    assert.equal(a.message, b.message, `${what}: message ${JSON.stringify([a.message, b.message])}`);
    assert.equal(a.contentType, b.contentType, `${what}: content-type`);
    if (what === 'put') continue; // headers carry each member's own IDs
    const strip = (r: RawReply): unknown => (r.body.length > 5 ? { ...kv.Range.responseDeserialize(r.body.subarray(5)) as object, header: undefined } : r.body.length);
    if (path === rangePath) assert.deepEqual(strip(a), strip(b), `${what}: body`);
  }
  // Lease calls take the short path too: errors (an unknown lease) and answers alike.
  const lease = etcdService('Lease').service as unknown as Record<string, { path: string; requestSerialize(o: object): Buffer; responseDeserialize(b: Buffer): unknown }>;
  const leaseCases: Array<[string, string, object]> = [
    ['LeaseGrant', 'grant', { TTL: 60, ID: 7 }],
    ['LeaseGrant', 'grant of a taken ID', { TTL: 60, ID: 7 }],
    ['LeaseTimeToLive', 'time to live of an unknown lease', { ID: 12345 }],
    ['LeaseRevoke', 'revoke of an unknown lease', { ID: 12345 }],
    ['LeaseRevoke', 'revoke', { ID: 7 }],
  ];
  for (const [m, what, req] of leaseCases) {
    const def = lease[m]!;
    const body = frame(def.requestSerialize(req));
    const [a, b] = await Promise.all([rawCall(fast.endpoint, def.path, body), rawCall(slow.endpoint, def.path, body)]);
    assert.equal(a.status, b.status, `${what}: status ${JSON.stringify([a.message, b.message])}`);
    assert.equal(a.message, b.message, `${what}: message`);
  }
  // A compressed request is not the short path's: grpc-js answers it on both.
  const [ca, cb] = await Promise.all([
    rawCall(fast.endpoint, rangePath, frame(range('k'), 1), { 'grpc-encoding': 'gzip' }),
    rawCall(slow.endpoint, rangePath, frame(range('k'), 1), { 'grpc-encoding': 'gzip' }),
  ]);
  assert.equal(ca.status, cb.status, 'compressed: status');
  assert.notEqual(ca.status, '0', 'a gzip flag on an uncompressed body is refused');
});

test('oversized requests get Go gRPC\'s status and wording, as from etcd', { skip: skipUnlessTools(['etcd', 'keel']) }, async () => {
  const [k, e] = await Promise.all([startKeel(), startEtcd()]);
  servers.push(k, e);
  for (const body of [
    frame(put('big', 'x'.repeat(2 * 1024 * 1024))),
    // Only a length prefix far over the limit: refused on the prefix, before the body comes.
    frame(Buffer.alloc(16), 0, 10 * 1024 * 1024),
  ]) {
    const [a, b] = await Promise.all([rawCall(k.endpoint, putPath, body), rawCall(e.endpoint, putPath, body)]);
    assert.equal(a.status, b.status);
    // Go percent-encodes fewer characters than grpc-js; clients decode both to the same text.
    assert.equal(decodeURIComponent(a.message ?? ''), decodeURIComponent(b.message ?? ''));
  }
});
