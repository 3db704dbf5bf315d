// grpc-message percent-encoding and grpc-timeout parsing, against the gRPC
// over HTTP/2 spec's rules and grpc-go's error texts.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { percentDecode, percentEncode, parseTimeout } from '../../src/wire';

describe('wire: gRPC status fields', () => {
  it('percent-encodes non-printable bytes, non-ASCII (as UTF-8) and % itself', () => {
    assert.equal(percentEncode('plain text: ok'), 'plain text: ok');
    assert.equal(percentEncode('100%'), '100%25');
    assert.equal(percentEncode('a\nb\tc'), 'a%0Ab%09c');
    assert.equal(percentEncode('naïve ✓'), 'na%C3%AFve %E2%9C%93');
    for (const s of ['', '100% \u0000\u007f é ✓ 😀', 'etcdserver: mvcc: required revision has been compacted']) assert.equal(percentDecode(percentEncode(s)), s);
  });

  it('parses grpc-timeout in every unit, and names what is wrong with a bad one in grpc-go words', () => {
    assert.equal(parseTimeout('1H'), 3_600_000);
    assert.equal(parseTimeout('2M'), 120_000);
    assert.equal(parseTimeout('5S'), 5000);
    assert.equal(parseTimeout('250m'), 250);
    assert.equal(parseTimeout('4999881u'), 4999.881);
    assert.equal(parseTimeout('99999999n'), 99.999999);
    assert.equal(parseTimeout('1'), 'transport: timeout string is too short: "1"');
    assert.equal(parseTimeout('123456789S'), 'transport: timeout string is too long: "123456789S"');
    assert.equal(parseTimeout('10x'), 'transport: timeout unit is not recognized: "10x"');
    assert.equal(parseTimeout('1.5S'), 'strconv.ParseInt: parsing "1.5": invalid syntax');
  });
});
