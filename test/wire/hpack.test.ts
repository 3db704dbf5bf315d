// HPACK: RFC 7541's own examples (Appendix C.3 and C.4), the Huffman code's
// published values, bad input refused, and round trips against hpack.js (an
// independent implementation) in both directions, as fast-check properties.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeStatus, HpackDecoder, HpackEncoder, HpackError, huffmanDecode, huffmanEncode, huffmanEncodedLength } from '../../src/wire';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const hpackJs = require('hpack.js') as {
  compressor: { create(o: { table: { maxSize: number } }): { write(h: Array<{ name: string; value: string }>): void; read(): Buffer | null } };
  decompressor: { create(o: { table: { maxSize: number } }): { write(b: Buffer): void; execute(): void; read(): { name: string; value: string } | null } };
};

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeAll(d: HpackDecoder, block: Buffer): string[] {
  const out: string[] = [];
  assert.equal(d.decode(block, 1 << 20, out), DecodeStatus.Ok);
  return out;
}

function encode(e: HpackEncoder, fields: string[]): Buffer {
  const sink = { buf: Buffer.alloc(16), pos: 0 };
  e.encode(fields, sink);
  return Buffer.from(sink.buf.subarray(0, sink.pos));
}

describe('wire: HPACK', () => {
  it('decodes RFC 7541 C.3 (requests without Huffman) with one dynamic table', () => {
    const d = new HpackDecoder(4096);
    assert.deepEqual(decodeAll(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')), [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com']);
    assert.deepEqual(decodeAll(d, hex('8286 84be 5808 6e6f 2d63 6163 6865')), [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache']);
    assert.deepEqual(decodeAll(d, hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65')), [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value']);
  });

  it('decodes RFC 7541 C.4 (requests with Huffman)', () => {
    const d = new HpackDecoder(4096);
    assert.deepEqual(decodeAll(d, hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com']);
    assert.deepEqual(decodeAll(d, hex('8286 84be 5886 a8eb 1064 9cbf')), [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache']);
    assert.deepEqual(decodeAll(d, hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value']);
  });

  it('Huffman-codes the RFC strings to the RFC bytes', () => {
    for (const [s, h] of [['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'], ['no-cache', 'a8eb10649cbf'], ['custom-key', '25a849e95ba97d7f'], ['custom-value', '25a849e95bb8e8b4bf']] as const) {
      const out = Buffer.alloc(64);
      const n = huffmanEncode(s, out, 0);
      assert.equal(out.subarray(0, n).toString('hex'), h);
      assert.equal(huffmanEncodedLength(s), n);
      const back = Buffer.alloc(64);
      assert.equal(back.subarray(0, huffmanDecode(out, 0, n, back)).toString('latin1'), s);
    }
  });

  it('refuses EOS inside a string, padding that is not all ones, and padding longer than 7 bits', () => {
    const out = Buffer.alloc(16);
    assert.equal(huffmanDecode(hex('ffffffff'), 0, 4, out), -1); // 30 ones: EOS
    assert.equal(huffmanDecode(hex('1e'), 0, 1, out), -1); // '8' (011110) then padding 10: not all ones
    assert.equal(huffmanDecode(hex('1fff'), 0, 2, out), -1); // '9' (011111) then 10 bits of padding
    assert.equal(huffmanDecode(hex('1f'), 0, 1, out), 1); // '9' then 11: fine
  });

  it('refuses malformed blocks with HpackError', () => {
    const d = new HpackDecoder(4096);
    // index 0; a truncated integer; an index past the table; a name index past it; a truncated string; a size update above 4096; a size update after a field
    for (const bad of ['80', 'ff', 'c0', '4a', '0085', '3fe21f', '8220']) {
      assert.throws(() => d.decode(hex(bad), 1 << 20, []), HpackError, bad);
    }
  });

  it('drops fields past the list size but keeps the table in sync', () => {
    const d = new HpackDecoder(4096);
    const out: string[] = [];
    // custom-key: custom-value entered in the table, then referenced 100 times.
    const block = Buffer.concat([hex('400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'), Buffer.alloc(100, 0xbe)]);
    assert.equal(d.decode(block, 1000, out), DecodeStatus.TooLarge);
    assert.ok(out.length < 202);
    assert.deepEqual(decodeAll(d, hex('be')), ['custom-key', 'custom-value']);
  });

  it('our encoder → hpack.js decoder, for random header lists over one connection', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.tuple(headerName(), fc.string({ unit: 'binary-ascii', maxLength: 80 })), { maxLength: 12 }), { minLength: 1, maxLength: 8 }), fc.constantFrom(0, 256, 4096), (lists, tableBytes) => {
        const e = new HpackEncoder(4096);
        e.setPeerTableBytes(tableBytes);
        const theirs = hpackJs.decompressor.create({ table: { maxSize: 4096 } });
        for (const list of lists) {
          theirs.write(encode(e, list.flat()));
          theirs.execute();
          const got: Array<[string, string]> = [];
          for (let h = theirs.read(); h !== null; h = theirs.read()) got.push([h.name, h.value]);
          assert.deepEqual(got, list);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('hpack.js encoder → our decoder, for random header lists over one connection', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.tuple(headerName(), fc.string({ unit: 'binary-ascii', maxLength: 80 })), { maxLength: 12 }), { minLength: 1, maxLength: 8 }), (lists) => {
        const theirs = hpackJs.compressor.create({ table: { maxSize: 4096 } });
        const d = new HpackDecoder(4096);
        for (const list of lists) {
          theirs.write(list.map(([name, value]) => ({ name, value })));
          const block = theirs.read() ?? Buffer.alloc(0);
          assert.deepEqual(decodeAll(d, block), list.flat());
        }
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('sends repeated response headers as one-byte indices', () => {
    const e = new HpackEncoder(4096);
    const fields = [':status', '200', 'content-type', 'application/grpc'];
    const first = encode(e, fields);
    const second = encode(e, fields);
    assert.ok(first.length > second.length);
    assert.equal(second.length, 2);
  });
});

function headerName(): fc.Arbitrary<string> {
  return fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
}
