// The value cache: its bound, its (two-generation) LRU order, and that what
// it holds is its own copy.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { KeyValue } from '../../src/mvcc';
import { ValueCache, valueCacheEntryOverheadBytes } from '../../src/mvcc';

function kv(key: string, value: string | Buffer, modRevision = 2): KeyValue {
  return {
    key: Buffer.from(key, 'latin1'),
    value: typeof value === 'string' ? Buffer.from(value, 'latin1') : value,
    createRevision: 2,
    modRevision,
    version: 1,
    lease: 0n,
  };
}

const cost = (key: string, valueBytes: number): number => key.length + valueBytes + valueCacheEntryOverheadBytes;

test('value cache: charged bytes never pass the bound; the least recently used go first', () => {
  const one = cost('a', 4);
  // Two generations of two kvs each.
  const cache = new ValueCache(4 * one);
  cache.set('a', kv('a', '1234'));
  cache.set('b', kv('b', '1234'));
  cache.set('c', kv('c', '1234')); // young was full: a and b are now the old generation
  assert.equal(cache.bytes, 3 * one);
  assert.deepEqual(cache.get('a'), kv('a', '1234')); // back to the young one
  cache.set('d', kv('d', '1234')); // young (c, a) was full again: b, the least recently used, is dropped
  assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => cache.has(k)), [true, false, true, true]);
  assert.equal(cache.size, 3);
  assert.ok(cache.bytes <= cache.bytesMax);
});

test('value cache: set replaces, delete frees, a kv bigger than half the bound is not cached', () => {
  const bound = 2 * cost('c', 200);
  const cache = new ValueCache(bound);
  cache.set('k', kv('k', 'x', 2));
  cache.set('k', kv('k', 'yy', 3));
  assert.deepEqual(cache.get('k'), kv('k', 'yy', 3));
  assert.equal(cache.bytes, cost('k', 2));
  cache.delete('k');
  cache.delete('missing');
  assert.equal(cache.bytes, 0);
  assert.equal(cache.size, 0);
  cache.set('big', kv('big', Buffer.alloc(201)));
  assert.equal(cache.has('big'), false);
  assert.equal(cache.bytes, 0);
  cache.set('a', kv('a', '1'));
  cache.set('b', kv('b', '1'));
  cache.set('c', kv('c', Buffer.alloc(200)));
  cache.set('d', kv('d', '1'));
  assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => cache.has(k)), [false, false, true, true]);
  assert.ok(cache.bytes <= bound);
});

test('value cache: holds copies (every byte, empty and large values too), never the caller\'s buffers', () => {
  const cache = new ValueCache(1 << 20);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const put = kv('\x00\xff', all);
  cache.set('\x00\xff', put);
  all[0] = 9;
  put.key[0] = 7;
  assert.deepEqual(cache.get('\x00\xff'), kv('\x00\xff', Buffer.from(Array.from({ length: 256 }, (_, i) => i))));
  cache.set('e', kv('e', ''));
  assert.deepEqual(cache.get('e'), kv('e', ''));
  const large = Buffer.alloc(10_000, 3);
  cache.set('l', kv('l', large));
  large[0] = 0;
  assert.deepEqual(cache.get('l')?.value, Buffer.alloc(10_000, 3));
  const zero = new ValueCache(0);
  zero.set('a', kv('a', ''));
  assert.equal(zero.size, 0);
});

test('value cache: random sets and deletes stay within the bound and agree with a Map', () => {
  const cache = new ValueCache(4000);
  const shadow = new Map<string, string>();
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 5000; i++) {
    const key = `k${rnd(40)}`;
    if (rnd(4) === 0) {
      cache.delete(key);
      shadow.delete(key);
    } else {
      const value = 'x'.repeat(rnd(120)) + String(i);
      cache.set(key, kv(key, value));
      shadow.set(key, value);
    }
    assert.ok(cache.bytes <= 4000);
    const probe = `k${rnd(40)}`;
    const got = cache.get(probe);
    if (got !== undefined) {
      assert.equal(got.value.toString('latin1'), shadow.get(probe));
      assert.equal(got.key.toString('latin1'), probe);
    }
  }
});
