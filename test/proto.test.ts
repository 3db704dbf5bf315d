import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { etcdService } from '../src/proto';

test('KV Range round-trips int64 fields losslessly as strings', () => {
  const kv = etcdService('KV');
  const range = kv.service['Range'];
  assert.ok(range);
  const big = '9223372036854775807';
  const bytes = range.requestSerialize({ key: Buffer.from('a'), revision: big, limit: '-1' });
  const back = range.requestDeserialize(bytes) as { revision: string; limit: string; key: Buffer };
  assert.equal(back.revision, big);
  assert.equal(back.limit, '-1');
  assert.deepEqual(back.key, Buffer.from('a'));
});

test('every etcd service is defined with etcd method names', () => {
  const expected: Record<string, string[]> = {
    KV: ['Range', 'Put', 'DeleteRange', 'Txn', 'Compact'],
    Watch: ['Watch'],
    Lease: ['LeaseGrant', 'LeaseRevoke', 'LeaseKeepAlive', 'LeaseTimeToLive', 'LeaseLeases'],
    Cluster: ['MemberAdd', 'MemberRemove', 'MemberUpdate', 'MemberList', 'MemberPromote'],
    Maintenance: ['Alarm', 'Status', 'Defragment', 'Hash', 'HashKV', 'Snapshot', 'MoveLeader', 'Downgrade'],
  };
  for (const [name, methods] of Object.entries(expected)) {
    const svc = etcdService(name as 'KV').service;
    assert.deepEqual(Object.keys(svc).sort(), [...methods].sort());
    for (const m of methods) assert.equal(svc[m]?.path, `/etcdserverpb.${name}/${m}`);
  }
});
