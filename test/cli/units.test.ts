// Unit tests for the Go-compatible formatting and pflag-compatible parsing
// keelctl's output depends on.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { goDuration, goJsonString, goQuote, humanizeBytes, parseGoDuration } from '../../src/cli';
import { FlagError, flagSpecs, parseFlags } from '../../src/cli';
import { renderTable } from '../../src/cli';
import { argify } from '../../src/cli';
import { toBigint, toUint64 } from '../../src/client';

test('go-humanize Bytes rounds like Go (half to even at %.0f)', () => {
  assert.equal(humanizeBytes(9), '9 B');
  assert.equal(humanizeBytes(20480), '20 kB');
  assert.equal(humanizeBytes(25000), '25 kB');
  assert.equal(humanizeBytes(1_234_567), '1.2 MB');
  assert.equal(humanizeBytes(2_147_483_648), '2.1 GB');
});

test('time.Duration.String', () => {
  assert.equal(goDuration(1_652_371n), '1.652371ms');
  assert.equal(goDuration(500_000n), '500µs');
  assert.equal(goDuration(2_000_000_000n), '2s');
  assert.equal(goDuration(90_500_000_000n), '1m30.5s');
  assert.equal(parseGoDuration('1m30s'), 90_000);
  assert.equal(parseGoDuration('abc'), undefined);
});

test('%q and encoding/json strings', () => {
  assert.equal(goQuote(Buffer.from('caf\u00e9\u0001\u007f"\\')), '"café\\x01\\x7f\\"\\\\"');
  assert.equal(goQuote(Buffer.from([0xff, 0x61])), '"\\xffa"');
  assert.equal(goJsonString('<a&b>'), '"\\u003ca\\u0026b\\u003e"');
});

test('pflag parsing: bool=value, shorthand forms, slices, --, errors', () => {
  const specs = flagSpecs('get');
  const p = parseFlags(['k', '--prefix=false', '-wjson', '--endpoints=a,b', '--endpoints', 'c', '--', '-x'], specs);
  assert.equal(p.values.get('prefix'), false);
  assert.equal(p.values.get('write-out'), 'json');
  assert.deepEqual(p.values.get('endpoints'), ['a', 'b', 'c']);
  assert.deepEqual(p.positionals, ['k', '-x']);
  assert.equal(p.argsLenAtDash, 1);
  assert.throws(() => parseFlags(['--bogus'], specs), (e: unknown) => e instanceof FlagError && e.message === 'unknown flag: --bogus');
  assert.throws(() => parseFlags(['-w'], specs), /flag needs an argument: 'w' in -w/);
  assert.throws(() => parseFlags(['--limit', 'x'], specs), /invalid argument "x" for "--limit" flag: strconv.ParseInt/);
});

test('tablewriter layout', () => {
  assert.equal(
    renderTable(['endpoint', 'health'], [['127.0.0.1:2379', 'true']]),
    '+----------------+--------+\n|    ENDPOINT    | HEALTH |\n+----------------+--------+\n| 127.0.0.1:2379 |   true |\n+----------------+--------+\n',
  );
});

test('txn line splitting (Argify)', () => {
  assert.deepEqual(argify('put k1 "new v"'), ['put', 'k1', 'new v']);
  assert.deepEqual(argify("put k1 'a b'"), ['put', 'k1', 'a b']);
});

test('64-bit IDs stay exact as bigint', () => {
  assert.equal(toBigint('17010963214147749224'), 17010963214147749224n);
  assert.equal(toUint64(-1n), 18446744073709551615n);
});
