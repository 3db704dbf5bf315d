import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { AutoCompactor, parseRetention } from '../../src/server';
import { ManualClock } from '../../src/util';

const ms = (s: string): number => (s.endsWith('m') ? Number(s.slice(0, -1)) * 60_000 : Number(s.slice(0, -1)) * 1000);

test('retention parses like etcd: a bare number is hours (periodic) or revisions', () => {
  assert.equal(parseRetention('periodic', '1', ms), 3_600_000);
  assert.equal(parseRetention('periodic', '30m', ms), 1_800_000);
  assert.equal(parseRetention('revision', '1000', ms), 1000);
  assert.throws(() => parseRetention('revision', '5m', ms));
});

test('revision mode keeps the last N revisions, compacting only forward', () => {
  const c = new AutoCompactor({ mode: 'revision', retention: 100 }, new ManualClock());
  assert.equal(c.tick(50), undefined);
  assert.equal(c.tick(250), 150);
  assert.equal(c.tick(250), undefined);
  assert.equal(c.tick(300), 200);
});

test('periodic mode compacts, once per period, to the revision current `retention` ago', () => {
  const clock = new ManualClock(0);
  const c = new AutoCompactor({ mode: 'periodic', retention: 10_000 }, clock);
  let rev = 1;
  const seen: number[] = [];
  for (let t = 0; t <= 30_000; t += 1000) {
    const r = c.tick(rev);
    if (r !== undefined) seen.push(r);
    rev += 10;
    clock.advance(1000);
  }
  // At t=10s the sample from t=0 (rev 1) is 10 s old; at 20 s the one from 10 s (rev 101); at 30 s from 20 s (rev 201).
  assert.deepEqual(seen, [1, 101, 201]);
});

test('a retention of 0 disables auto-compaction', () => {
  const c = new AutoCompactor({ mode: 'periodic', retention: 0 }, new ManualClock());
  assert.equal(c.enabled, false);
  assert.equal(c.tick(1000), undefined);
});
