// The lessor on a fake clock: TTL rules, renewal, expiry order, promotion.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Lessor, LeaseIdGenerator, minLeaseTtlSeconds } from '../../src/lease';
import { ManualClock, EtcdError, limits } from '../../src/util';

function lessor(): { l: Lessor; clock: ManualClock } {
  const clock = new ManualClock(1_000_000);
  const l = new Lessor({ clock, minTtlSeconds: minLeaseTtlSeconds(1000) });
  l.promote(0);
  return { l, clock };
}

const kind = (k: string) => (e: unknown) => e instanceof EtcdError && e.kind === k;

test('etcd minimum TTL: 1.5 × election timeout, rounded up (2 s at the default 1 s)', () => {
  assert.equal(minLeaseTtlSeconds(1000), 2);
  const { l } = lessor();
  assert.equal(l.grant(1n, 1).ttlSeconds, 2);
  assert.equal(l.grant(2n, -5).ttlSeconds, 2);
  assert.equal(l.grant(3n, 60).ttlSeconds, 60);
});

test('duplicate IDs and too-large TTLs are refused with etcd errors', () => {
  const { l } = lessor();
  l.grant(7n, 10);
  assert.throws(() => l.grant(7n, 10), kind('LeaseExist'));
  assert.throws(() => l.checkGrant(8n, limits.leaseTtlSecondsMax + 1), kind('LeaseTTLTooLarge'));
  assert.doesNotThrow(() => l.checkGrant(8n, limits.leaseTtlSecondsMax));
  assert.throws(() => l.renew(99n), kind('LeaseNotFound'));
  assert.throws(() => l.remove(99n), kind('LeaseNotFound'));
});

test('a lease expires TTL seconds after its last keepalive, not before', () => {
  const { l, clock } = lessor();
  l.grant(1n, 10);
  clock.advance(9_999);
  assert.deepEqual(l.expired(), []);
  assert.equal(l.renew(1n), 10);
  clock.advance(9_999);
  assert.deepEqual(l.expired(), []);
  assert.equal(l.remainingSeconds(1n), 0);
  clock.advance(1);
  assert.deepEqual(l.expired(), [1n]);
});

test('remaining TTL truncates like etcd (int64(remaining.Seconds()))', () => {
  const { l, clock } = lessor();
  l.grant(1n, 10);
  clock.advance(500);
  assert.equal(l.remainingSeconds(1n), 9);
  clock.advance(8_600);
  assert.equal(l.remainingSeconds(1n), 0);
});

test('expired leases come out oldest deadline first, bounded per pass', () => {
  const { l, clock } = lessor();
  l.grant(3n, 30);
  l.grant(1n, 10);
  l.grant(2n, 20);
  clock.advance(31_000);
  assert.deepEqual(l.expired(), [1n, 2n, 3n]);
  for (let i = 10n; i < 10n + BigInt(limits.leaseRevokesPerPassMax) + 5n; i++) l.grant(i, 2);
  clock.advance(3_000);
  assert.equal(l.expired().length, limits.leaseRevokesPerPassMax);
});

test('a follower (not promoted) never expires leases; promotion restarts every countdown', () => {
  const clock = new ManualClock(0);
  const l = new Lessor({ clock, minTtlSeconds: 2 });
  l.grant(1n, 5);
  clock.advance(60_000);
  assert.deepEqual(l.expired(), []);
  l.promote(1_000);
  clock.advance(5_999);
  assert.deepEqual(l.expired(), []);
  clock.advance(1);
  assert.deepEqual(l.expired(), [1n]);
  l.demote();
  assert.deepEqual(l.expired(), []);
});

test('a restored lease resumes from its checkpointed remaining TTL', () => {
  const clock = new ManualClock(0);
  const l = new Lessor({ clock, minTtlSeconds: 2 });
  l.restore({ id: 5n, ttlSeconds: 100, remainingTtlSeconds: 7 });
  l.promote(0);
  assert.equal(l.get(5n)?.ttlSeconds, 100);
  clock.advance(7_000);
  assert.deepEqual(l.expired(), [5n]);
});

test('attached keys come back in key order and follow detach', () => {
  const { l } = lessor();
  l.grant(1n, 10);
  for (const k of ['b', 'a', 'c\xff', 'c']) l.attach(1n, Buffer.from(k, 'latin1'));
  l.detach(1n, Buffer.from('b'));
  assert.deepEqual(l.keysOf(1n).map((k) => k.toString('latin1')), ['a', 'c', 'c\xff']);
});

test('lease IDs follow etcd: member ID low 16 bits on top, positive, increasing, never 0', () => {
  const g = new LeaseIdGenerator(0x8e9e05c52164694dn, Date.UTC(2026, 0, 1));
  const a = g.next();
  const b = g.next();
  assert.equal(a >> 48n, 0x694dn);
  assert.ok(a > 0n && b === a + 1n);
});

// Found by jepsen/'s lease workload: a keepalive that arrived after the deadline but before the
// revoke renewed the lease, and its keys then vanished anyway. etcd's Renew waits for the revoke.
test('an expired lease is not renewed: a keepalive waits for its revoke (or for a demotion)', async () => {
  const { l, clock } = lessor();
  l.grant(1n, 5);
  l.grant(2n, 5);
  clock.advance(5_000);
  assert.equal(l.isExpired(1n), true);
  assert.equal(l.isExpired(99n), false);
  let how: string | undefined;
  const gone = l.whenGone(1n).then((h) => { how = h; });
  await Promise.resolve();
  assert.equal(how, undefined, 'still waiting: the revoke has not been applied');
  l.remove(1n);
  await gone;
  assert.equal(how, 'revoked');
  const demoted = l.whenGone(2n);
  l.demote();
  assert.equal(await demoted, 'demoted');
  assert.equal(l.isExpired(2n), false, 'a follower expires nothing');
});
