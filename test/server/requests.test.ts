import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { encodeRequest, decodeRequest } from '../../src/server';

test('internal requests round-trip with Buffers and bigints, also from a plain Uint8Array (as entries arrive from peers)', () => {
  const req = { id: (1n << 63n) - 5n, body: { op: 'put' as const, req: { key: Buffer.from([0, 0xff, 0x61]), value: Buffer.from('v'), lease: -7n, prevKv: true, ignoreValue: false, ignoreLease: false } } };
  const bytes = encodeRequest(req);
  for (const data of [bytes, new Uint8Array(bytes)]) {
    const back = decodeRequest(data);
    assert.equal(back.id, req.id);
    assert.equal(back.body.op, 'put');
    const put = (back.body as typeof req.body).req;
    assert.ok(Buffer.isBuffer(put.key), 'keys decode as Buffers');
    assert.equal(put.key.toString('latin1'), '\x00\xffa');
    assert.equal(put.lease, -7n);
  }
});
