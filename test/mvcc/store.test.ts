// One test per etcd rule the MVCC store reproduces.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CompareResult, CompareTarget, type Event, EventType, type KeyValue, MvccStore } from '../../src/mvcc';
import { memoryBackend } from '../../src/storage';
import { AssertionError, isEtcdError } from '../../src/util';
import { b, cmp, delReq, keys, openMemory, putReq, rangeReq, txnReq } from './helpers';

const R = { Equal: CompareResult.Equal, Greater: CompareResult.Greater, Less: CompareResult.Less, NotEqual: CompareResult.NotEqual };
const T = { Version: CompareTarget.Version, Create: CompareTarget.Create, Mod: CompareTarget.Mod, Value: CompareTarget.Value, Lease: CompareTarget.Lease };

async function rejectsWith(p: Promise<unknown>, kind: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isEtcdError(e) && e.kind === kind);
}

function kv(key: string, value: string, createRevision: number, modRevision: number, version: number, lease = 0n): KeyValue {
  return { key: b(key), value: b(value), createRevision, modRevision, version, lease };
}

// ---- revisions, put, delete

test('an empty store is at revision 1, never compacted', async () => {
  const { store } = await openMemory();
  assert.equal(store.currentRevision(), 1);
  assert.equal(store.compactRevision(), 0);
  assert.deepEqual(await store.range(rangeReq('a')), { revision: 1, kvs: [], more: false, count: 0 });
});

test('put: create then update keeps createRevision and bumps version; prevKv only when asked and live', async () => {
  const { store } = await openMemory();
  assert.deepEqual(await store.put(putReq('a', '1', { prevKv: true })), { revision: 2, prevKv: undefined });
  assert.deepEqual(await store.put(putReq('a', '2')), { revision: 3, prevKv: undefined });
  assert.deepEqual(await store.put(putReq('a', '3', { prevKv: true })), { revision: 4, prevKv: kv('a', '2', 2, 3, 2) });
  assert.deepEqual((await store.range(rangeReq('a'))).kvs, [kv('a', '3', 2, 4, 3)]);
  await store.deleteRange(delReq('a'));
  await store.put(putReq('a', '4'));
  assert.deepEqual((await store.range(rangeReq('a'))).kvs, [kv('a', '4', 6, 6, 1)], 'a new generation starts at version 1');
});

test('put: ignoreValue / ignoreLease keep the previous value / lease', async () => {
  const { store } = await openMemory([5n, 6n]);
  await store.put(putReq('a', 'v', { lease: 5n }));
  await store.put(putReq('a', 'ignored', { ignoreValue: true, lease: 6n }));
  assert.deepEqual((await store.range(rangeReq('a'))).kvs, [kv('a', 'v', 2, 3, 2, 6n)]);
  await store.put(putReq('a', 'w', { ignoreLease: true }));
  assert.deepEqual((await store.range(rangeReq('a'))).kvs, [kv('a', 'w', 2, 4, 3, 6n)]);
});

test('put: ignore flags on a missing key → KeyNotFound; unknown lease → LeaseNotFound (lease checked first)', async () => {
  const { store } = await openMemory([5n]);
  await rejectsWith(store.put(putReq('a', 'x', { ignoreValue: true })), 'KeyNotFound');
  await rejectsWith(store.put(putReq('a', 'x', { ignoreLease: true })), 'KeyNotFound');
  await rejectsWith(store.put(putReq('a', 'x', { lease: 9n })), 'LeaseNotFound');
  await rejectsWith(store.put(putReq('a', 'x', { lease: 9n, ignoreValue: true })), 'LeaseNotFound');
  assert.equal(store.currentRevision(), 1, 'failed puts change nothing');
  await store.put(putReq('a', 'x', { lease: 5n }));
  assert.equal(store.currentRevision(), 2);
});

test('delete: a delete of nothing keeps the revision; a delete answers current or new revision', async () => {
  const { store } = await openMemory();
  await store.put(putReq('a', '1'));
  assert.deepEqual(await store.deleteRange(delReq('zz')), { revision: 2, deleted: 0, prevKvs: [] });
  assert.equal(store.currentRevision(), 2);
  await store.put(putReq('b', '2'));
  await store.put(putReq('c', '3'));
  assert.deepEqual(await store.deleteRange(delReq('a', 'c', true)), {
    revision: 5,
    deleted: 2,
    prevKvs: [kv('a', '1', 2, 2, 1), kv('b', '2', 3, 3, 1)],
  });
  assert.deepEqual(await store.deleteRange(delReq('c', '', false)), { revision: 6, deleted: 1, prevKvs: [] });
});

test('delete: one revision for many keys, sub-revisions in key order, tombstone events', async () => {
  const { store } = await openMemory();
  const seen: Array<[Event[], number]> = [];
  store.onEvents((events, revision) => seen.push([events, revision]));
  await store.put(putReq('b', '2'));
  await store.put(putReq('a', '1'));
  seen.length = 0;
  await store.deleteRange(delReq('a', '\0'));
  const tomb = (k: string): KeyValue => ({ key: b(k), value: Buffer.alloc(0), createRevision: 0, modRevision: 4, version: 0, lease: 0n });
  assert.deepEqual(seen, [[
    [
      { type: EventType.Delete, kv: tomb('a'), prevKv: kv('a', '1', 3, 3, 1) },
      { type: EventType.Delete, kv: tomb('b'), prevKv: kv('b', '2', 2, 2, 1) },
    ],
    4,
  ]]);
  await store.deleteRange(delReq('a', '\0'));
  assert.equal(seen.length, 1, 'a write that changes nothing emits nothing');
});

test('events: put events carry prevKv except for creates; one call per revision', async () => {
  const { store } = await openMemory();
  const seen: Array<[Event[], number]> = [];
  store.onEvents((events, revision) => seen.push([events, revision]));
  await store.put(putReq('a', '1'));
  await store.put(putReq('a', '2'));
  assert.deepEqual(seen, [
    [[{ type: EventType.Put, kv: kv('a', '1', 2, 2, 1), prevKv: undefined }], 2],
    [[{ type: EventType.Put, kv: kv('a', '2', 2, 3, 2), prevKv: kv('a', '1', 2, 2, 1) }], 3],
  ]);
});

// ---- range

test('range: single key, [key, end), end \\0 = from key on, \\0..\\0 = everything, end <= key = nothing', async () => {
  const { store } = await openMemory();
  for (const k of ['\x00', 'a', 'a\x00', 'b', '\xff', '\xff\xff']) await store.put(putReq(k, 'v'));
  assert.deepEqual(keys((await store.range(rangeReq('a'))).kvs), ['a']);
  assert.deepEqual(keys((await store.range(rangeReq('a', 'b'))).kvs), ['a', 'a\x00']);
  assert.deepEqual(keys((await store.range(rangeReq('a', '\0'))).kvs), ['a', 'a\x00', 'b', '\xff', '\xff\xff']);
  assert.deepEqual(keys((await store.range(rangeReq('\0', '\0'))).kvs), ['\x00', 'a', 'a\x00', 'b', '\xff', '\xff\xff']);
  assert.deepEqual(keys((await store.range(rangeReq('\xff', '\xff\xff'))).kvs), ['\xff']);
  assert.deepEqual((await store.range(rangeReq('b', 'a'))).count, 0);
  assert.deepEqual((await store.range(rangeReq('b', 'b'))).count, 0);
});

test('range: future revision → FutureRev; below compact → Compacted; at compact is fine; header is current', async () => {
  const { store } = await openMemory();
  await store.put(putReq('a', '1'));
  await store.put(putReq('a', '2'));
  await store.put(putReq('a', '3'));
  await rejectsWith(store.range(rangeReq('a', '', { revision: 5 })), 'FutureRev');
  const at2 = await store.range(rangeReq('a', '', { revision: 2 }));
  assert.deepEqual(at2, { revision: 4, kvs: [kv('a', '1', 2, 2, 1)], more: false, count: 1 });
  await store.compact(3);
  await rejectsWith(store.range(rangeReq('a', '', { revision: 2 })), 'Compacted');
  assert.deepEqual((await store.range(rangeReq('a', '', { revision: 3 }))).kvs, [kv('a', '2', 2, 3, 2)]);
  await store.commit();
  await store.compactionSettled();
  assert.deepEqual((await store.range(rangeReq('a', '', { revision: 3 }))).kvs, [kv('a', '2', 2, 3, 2)]);
});

test('range: count ignores limit; more says there was more; countOnly and keysOnly', async () => {
  const { store } = await openMemory();
  for (const k of ['a', 'b', 'c', 'd']) await store.put(putReq(k, 'v' + k));
  const r = await store.range(rangeReq('a', '\0', { limit: 2 }));
  assert.deepEqual(keys(r.kvs), ['a', 'b']);
  assert.equal(r.more, true);
  assert.equal(r.count, 4);
  const exact = await store.range(rangeReq('a', '\0', { limit: 4 }));
  assert.equal(exact.more, false);
  const co = await store.range(rangeReq('a', '\0', { countOnly: true, limit: 1 }));
  assert.deepEqual(co, { revision: 5, kvs: [], more: false, count: 4 });
  const ko = await store.range(rangeReq('b', 'c', { keysOnly: true }));
  assert.deepEqual(ko.kvs, [kv('b', '', 3, 3, 1)]);
  const old = await store.range(rangeReq('a', '\0', { revision: 3, limit: 1 }));
  assert.deepEqual([keys(old.kvs), old.more, old.count], [['a'], true, 2]);
});

test('range: descending sort keeps ties in key order; non-key target without order sorts ascending', async () => {
  const { store } = await openMemory();
  for (const k of ['a', 'b', 'c']) await store.put(putReq(k, 'v'));
  await store.put(putReq('b', 'v'));
  await store.put(putReq('a', 'v'));
  // versions: a=2, b=2, c=1
  const desc = await store.range(rangeReq('a', '\0', { sortOrder: 2, sortTarget: 1 }));
  assert.deepEqual(keys(desc.kvs), ['a', 'b', 'c']);
  const asc = await store.range(rangeReq('a', '\0', { sortOrder: 0, sortTarget: 1 }));
  assert.deepEqual(keys(asc.kvs), ['c', 'a', 'b']);
  const keyDesc = await store.range(rangeReq('a', '\0', { sortOrder: 2, sortTarget: 0 }));
  assert.deepEqual(keys(keyDesc.kvs), ['c', 'b', 'a']);
  const modDesc = await store.range(rangeReq('a', '\0', { sortOrder: 2, sortTarget: 3, limit: 2 }));
  assert.deepEqual([keys(modDesc.kvs), modDesc.more, modDesc.count], [['a', 'b'], true, 3]);
});

test('range: value sort compares bytes (0xff after ascii)', async () => {
  const { store } = await openMemory();
  await store.put(putReq('a', '\xff'));
  await store.put(putReq('b', 'z'));
  await store.put(putReq('c', ''));
  const r = await store.range(rangeReq('a', '\0', { sortOrder: 1, sortTarget: 4 }));
  assert.deepEqual(keys(r.kvs), ['c', 'b', 'a']);
});

test('range: a non-key sort target without an order sorts only the first limit+1 keys (etcd fetches limit+1)', async () => {
  const { store } = await openMemory();
  await store.put(putReq('c', 'v'));
  await store.put(putReq('b', 'v'));
  await store.put(putReq('a', 'v')); // create revisions: a=4, b=3, c=2
  const r = await store.range(rangeReq('a', '\0', { sortTarget: 2, limit: 1 }));
  // etcd fetches a, b (limit+1), sorts them by create → b, a, truncates → b. c (the smallest) is never seen.
  assert.deepEqual([keys(r.kvs), r.more, r.count], [['b'], true, 3]);
  const withOrder = await store.range(rangeReq('a', '\0', { sortTarget: 2, sortOrder: 1, limit: 1 }));
  assert.deepEqual(keys(withOrder.kvs), ['c'], 'with an explicit order everything is fetched first');
});

test('range: min/max mod and create filters drop kvs after count', async () => {
  const { store } = await openMemory();
  for (const k of ['a', 'b', 'c', 'd']) await store.put(putReq(k, 'v')); // revisions 2..5
  await store.put(putReq('a', 'w')); // a: create 2, mod 6
  const f = async (o: Parameters<typeof rangeReq>[2]): Promise<[string[], number, boolean]> => {
    const r = await store.range(rangeReq('a', '\0', o));
    return [keys(r.kvs), r.count, r.more];
  };
  assert.deepEqual(await f({ minModRevision: 4 }), [['a', 'c', 'd'], 4, false]);
  assert.deepEqual(await f({ maxModRevision: 4 }), [['b', 'c'], 4, false]);
  assert.deepEqual(await f({ minCreateRevision: 3, maxCreateRevision: 4 }), [['b', 'c'], 4, false]);
  assert.deepEqual(await f({ minModRevision: 3, limit: 1 }), [['a'], 4, true]);
});

test('range: values applied but not yet committed are visible at older revisions too', async () => {
  const { store } = await openMemory();
  await store.put(putReq('a', '1'));
  await store.put(putReq('a', '2'));
  assert.deepEqual((await store.range(rangeReq('a', '', { revision: 2 }))).kvs, [kv('a', '1', 2, 2, 1)]);
  await store.commit();
  assert.deepEqual((await store.range(rangeReq('a', '', { revision: 2 }))).kvs, [kv('a', '1', 2, 2, 1)]);
});

// ---- txn

test('txn: compare rules (missing keys, ranges, union member mismatch, bytes)', async () => {
  const { store } = await openMemory([7n]);
  await store.put(putReq('a', 'x'));
  await store.put(putReq('b', '\xff', { lease: 7n }));
  const holds = async (...c: ReturnType<typeof cmp>[]): Promise<boolean> => (await store.txn(txnReq(c, [], []))).succeeded;
  assert.equal(await holds(cmp('zz', T.Value, R.Equal, { value: b('') })), false, 'value compare on a missing key fails');
  assert.equal(await holds(cmp('zz', T.Value, R.NotEqual, { value: b('') })), false);
  assert.equal(await holds(cmp('zz', T.Version, R.Equal, { version: 0 })), true, 'missing key compares as a zero kv');
  assert.equal(await holds(cmp('zz', T.Create, R.Equal, { createRevision: 0 })), true);
  assert.equal(await holds(cmp('a', T.Create, R.Equal, { createRevision: 2 })), true);
  assert.equal(await holds(cmp('a', T.Mod, R.Less, { modRevision: 3 })), true);
  assert.equal(await holds(cmp('a', T.Version, R.Greater, { version: 0 })), true);
  assert.equal(await holds(cmp('a', T.Version, R.Greater, { createRevision: 5 })), true, 'a mismatched union member reads as 0');
  assert.equal(await holds(cmp('b', T.Value, R.Greater, { value: b('z') })), true, '0xff > z bytewise');
  assert.equal(await holds(cmp('b', T.Lease, R.Equal, { lease: 7n })), true);
  assert.equal(await holds(cmp('a', T.Lease, R.Equal, {})), true, 'no lease = 0');
  assert.equal(await holds(cmp('a', T.Version, R.Equal, { version: 1 }, 'c')), true, 'every key in range must hold');
  assert.equal(await holds(cmp('a', T.Value, R.Equal, { value: b('x') }, 'c')), false);
  assert.equal(await holds(cmp('a', T.Version, R.Equal, { version: 1 }, '\0')), true, 'rangeEnd \\0 = to the end');
  assert.equal(await holds(cmp('a', T.Version, R.Equal, { version: 1 }), cmp('a', T.Version, R.Equal, { version: 2 })), false);
  assert.equal(store.currentRevision(), 3, 'read-only txns do not bump the revision');
});

test('txn: one revision, sub-revisions in order, read-your-writes, response revisions', async () => {
  const { store } = await openMemory();
  await store.put(putReq('k', 'old'));
  const seen: Array<[Event[], number]> = [];
  store.onEvents((events, revision) => seen.push([events, revision]));
  const r = await store.txn(txnReq([], [
    { range: rangeReq('k') },
    { deleteRange: delReq('none') },
    { put: putReq('a', '1') },
    { range: rangeReq('a', '\0') },
    { deleteRange: delReq('none') },
    { deleteRange: delReq('k', '', true) },
  ]));
  assert.equal(r.revision, 3);
  assert.equal(r.succeeded, true);
  assert.deepEqual(r.responses, [
    { range: { revision: 2, kvs: [kv('k', 'old', 2, 2, 1)], more: false, count: 1 } },
    { deleteRange: { revision: 2, deleted: 0, prevKvs: [] } },
    { put: { revision: 3, prevKv: undefined } },
    { range: { revision: 3, kvs: [kv('a', '1', 3, 3, 1), kv('k', 'old', 2, 2, 1)], more: false, count: 2 } },
    { deleteRange: { revision: 3, deleted: 0, prevKvs: [] } },
    { deleteRange: { revision: 3, deleted: 1, prevKvs: [kv('k', 'old', 2, 2, 1)] } },
  ]);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.[1], 3);
  assert.deepEqual(seen[0]?.[0].map((e) => [e.type, e.kv.key.toString()]), [[EventType.Put, 'a'], [EventType.Delete, 'k']]);
  assert.deepEqual((await store.range(rangeReq('a', '\0'))).kvs, [kv('a', '1', 3, 3, 1)]);
});

test('txn: a write txn whose chosen branch changes nothing keeps the revision', async () => {
  const { store } = await openMemory();
  const r = await store.txn(txnReq([cmp('a', T.Version, R.Equal, { version: 1 })], [{ put: putReq('a', '1') }], [{ deleteRange: delReq('a') }]));
  assert.deepEqual(r, { revision: 1, succeeded: false, responses: [{ deleteRange: { revision: 1, deleted: 0, prevKvs: [] } }] });
  assert.equal(store.currentRevision(), 1);
});

test('txn: nested txns answer revision 0 in their own header; their compares see the pre-txn state', async () => {
  const { store } = await openMemory();
  await store.put(putReq('a', '1'));
  const r = await store.txn(txnReq([], [
    { put: putReq('a', '2') },
    {
      txn: txnReq(
        [cmp('a', T.Value, R.Equal, { value: b('1') })], // true on the pre-txn state, false after the put above
        [{ put: putReq('b', 'inner') }, { range: rangeReq('a') }],
        [{ put: putReq('c', 'wrong') }],
      ),
    },
  ]));
  assert.equal(r.revision, 3);
  assert.deepEqual(r.responses[1], {
    txn: {
      revision: 0,
      succeeded: true,
      responses: [
        { put: { revision: 3, prevKv: undefined } },
        { range: { revision: 3, kvs: [kv('a', '2', 2, 3, 2)], more: false, count: 1 } },
      ],
    },
  });
  assert.deepEqual(keys((await store.range(rangeReq('a', '\0'))).kvs), ['a', 'b']);
});

test('txn: checks along the chosen path fail the whole txn before anything changes', async () => {
  const { store } = await openMemory([1n]);
  await store.put(putReq('a', '1'));
  const failures = async (ops: Parameters<typeof txnReq>[1], kind: string): Promise<void> => {
    await rejectsWith(store.txn(txnReq([], [{ put: putReq('x', 'x') }, ...ops])), kind);
    assert.equal(store.currentRevision(), 2);
    assert.equal((await store.range(rangeReq('x'))).count, 0);
  };
  await failures([{ put: putReq('y', 'y', { lease: 9n }) }], 'LeaseNotFound');
  await failures([{ put: putReq('missing', 'y', { ignoreValue: true }) }], 'KeyNotFound');
  await failures([{ txn: txnReq([], [{ put: putReq('missing', 'y', { ignoreLease: true }) }]) }], 'KeyNotFound');
  await failures([{ range: rangeReq('a', '', { revision: 3 }) }], 'FutureRev');
  // Inside a txn, the key check comes before the lease check; put checks come before range checks.
  await failures([{ put: putReq('missing', 'y', { ignoreValue: true, lease: 9n }) }], 'KeyNotFound');
  await failures([{ range: rangeReq('a', '', { revision: 3 }) }, { put: putReq('y', 'y', { lease: 9n }) }], 'LeaseNotFound');
  // A branch not taken is not checked.
  const ok = await store.txn(txnReq([cmp('a', T.Version, R.Equal, { version: 1 })], [{ put: putReq('ok', '1') }], [{ put: putReq('y', 'y', { lease: 9n }) }]));
  assert.equal(ok.succeeded, true);
  await store.compact(3);
  await rejectsWith(store.txn(txnReq([], [{ range: rangeReq('a', '', { revision: 2 }) }])), 'Compacted');
  await rejectsWith(store.txn(txnReq([], [{ put: putReq('x', 'x') }, { range: rangeReq('a', '', { revision: 2 }) }])), 'Compacted');
});

test('txn: ranges at an explicit revision inside a write txn read history, not the txn', async () => {
  const { store } = await openMemory();
  await store.put(putReq('a', '1'));
  await store.put(putReq('a', '2'));
  await store.commit();
  const r = await store.txn(txnReq([], [
    { put: putReq('a', '3') },
    { range: rangeReq('a', '', { revision: 2 }) },
    { range: rangeReq('a', '', { revision: 3 }) },
  ]));
  assert.deepEqual(r.responses.slice(1), [
    { range: { revision: 4, kvs: [kv('a', '1', 2, 2, 1)], more: false, count: 1 } },
    { range: { revision: 4, kvs: [kv('a', '2', 2, 3, 2)], more: false, count: 1 } },
  ]);
});

// ---- compaction

test('compact: errors, header revision, compact(0) once on a fresh store', async () => {
  const { store } = await openMemory();
  assert.deepEqual(await store.compact(0), { revision: 1 });
  await rejectsWith(store.compact(0), 'Compacted');
  await store.put(putReq('a', '1'));
  await rejectsWith(store.compact(3), 'FutureRev');
  assert.deepEqual(await store.compact(2), { revision: 2 });
  await rejectsWith(store.compact(2), 'Compacted');
  await rejectsWith(store.compact(1), 'Compacted');
  assert.equal(store.compactRevision(), 2);
  assert.equal(store.currentRevision(), 2, 'compaction does not bump the revision');
});

test('compact: drops unreachable revisions from the backend, keeps what reads at >= rev need', async () => {
  const backend = memoryBackend();
  const store = await MvccStore.open(backend, { leaseExists: () => false });
  await store.put(putReq('a', '1')); // 2
  await store.put(putReq('a', '2')); // 3
  await store.put(putReq('b', '1')); // 4
  await store.deleteRange(delReq('b')); // 5
  await store.put(putReq('c', '1')); // 6
  await store.deleteRange(delReq('c')); // 7
  await store.put(putReq('c', '2')); // 8
  await store.commit();
  const before = await revisionKeys(backend);
  assert.equal(before.length, 7);
  await store.compact(7);
  await store.commit();
  await store.compactionSettled();
  // a: keep 3 (newest <= 7); b: tombstone 5 is newest → drop all; c: tombstone 7 newest <= 7 → drop, keep 8.
  assert.deepEqual(await revisionKeys(backend), ['3.0', '8.0']);
  for (let rev = 7; rev <= 8; rev++) {
    const r = await store.range(rangeReq('a', '\0', { revision: rev }));
    assert.deepEqual(keys(r.kvs), rev === 7 ? ['a'] : ['a', 'c']);
  }
});

async function revisionKeys(backend: ReturnType<typeof memoryBackend>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k] of backend.iterate({ gte: Buffer.from('k'), lt: Buffer.from('l') })) {
    out.push(`${Number(k.readBigUInt64BE(1))}.${Number(k.readBigUInt64BE(9))}${k.length === 18 ? 't' : ''}`);
  }
  return out;
}

test('compact: backend revisions are deleted in revision order, in batches (a crash leaves a prefix)', async () => {
  const inner = memoryBackend();
  const deletes: Buffer[][] = [];
  const backend = Object.create(inner) as ReturnType<typeof memoryBackend>;
  backend.write = async (ops, options) => {
    const dels = ops.filter((o) => o.type === 'del').map((o) => o.key);
    if (dels.length > 0) deletes.push(dels);
    return inner.write(ops, options);
  };
  const store = await MvccStore.open(backend, { leaseExists: () => false });
  for (let i = 0; i < 1200; i++) {
    await store.put(putReq(`k${i % 7}`, String(i)));
    if (i % 5 === 0) await store.deleteRange(delReq(`k${(i * 3) % 7}`));
  }
  await store.commit();
  await store.compact(store.currentRevision() - 3);
  await store.commit();
  await store.compactionSettled();
  const all = deletes.flat();
  assert.ok(deletes.length >= 2, 'more than one batch');
  assert.ok(deletes.every((batch) => batch.length <= 1000));
  for (let i = 1; i < all.length; i++) assert.ok(Buffer.compare(all[i - 1] as Buffer, all[i] as Buffer) < 0, 'ascending');
  assert.deepEqual(keys((await store.range(rangeReq('k', 'l'))).kvs), keys((await store.range(rangeReq('k', 'l', { revision: store.compactRevision() + 3 }))).kvs));
});

// ---- restart

test('restart: index, revision and compaction survive; the revision never goes backwards', async () => {
  const backend = memoryBackend();
  const s1 = await MvccStore.open(backend, { leaseExists: () => false });
  await s1.put(putReq('a', '1'));
  await s1.put(putReq('b', '1'));
  await s1.deleteRange(delReq('a', '\0'));
  await s1.compact(4);
  await s1.commit([['consistent_index', Buffer.from([1, 2])]]);
  await s1.compactionSettled();
  // Every revision record is gone now; only meta remembers revision 4.
  const s2 = await MvccStore.open(backend, { leaseExists: () => false });
  assert.equal(s2.currentRevision(), 4);
  assert.equal(s2.compactRevision(), 4);
  assert.deepEqual(await s2.getMeta('consistent_index'), Buffer.from([1, 2]));
  assert.deepEqual(await s2.put(putReq('c', '1')), { revision: 5, prevKv: undefined });
});

test('restart: changes applied after the last commit are gone, as after a crash', async () => {
  const backend = memoryBackend();
  const s1 = await MvccStore.open(backend, { leaseExists: () => false });
  await s1.put(putReq('a', '1'));
  await s1.commit();
  await s1.put(putReq('a', '2'));
  await s1.compact(3);
  const s2 = await MvccStore.open(backend, { leaseExists: () => false });
  assert.equal(s2.currentRevision(), 2);
  assert.equal(s2.compactRevision(), 0);
  assert.deepEqual((await s2.range(rangeReq('a'))).kvs, [kv('a', '1', 2, 2, 1)]);
});

test('restart: a half-finished compaction (tombstone left, its puts gone) does not resurrect the key', async () => {
  const backend = memoryBackend();
  const s1 = await MvccStore.open(backend, { leaseExists: () => false });
  await s1.put(putReq('a', '1')); // 2
  await s1.deleteRange(delReq('a')); // 3
  await s1.put(putReq('b', '1')); // 4
  await s1.compact(4);
  await s1.commit();
  // Simulate a crash after the first GC batch: undo the tombstone's removal only.
  await s1.compactionSettled();
  const tombKey = Buffer.alloc(18);
  tombKey[0] = 0x6b;
  tombKey.writeBigUInt64BE(3n, 1);
  tombKey[17] = 0x74;
  const { Packr } = await import('msgpackr');
  await backend.write([{ type: 'put', key: tombKey, value: Buffer.from(new Packr({ useRecords: false }).pack([b('a')])) }], { sync: true });
  const s2 = await MvccStore.open(backend, { leaseExists: () => false });
  assert.deepEqual(keys((await s2.range(rangeReq('a', '\0'))).kvs), ['b']);
  await s2.compactionSettled();
  assert.deepEqual(await revisionKeys(backend), ['4.0'], 'the restart finishes the compaction');
});

test('meta: commit stores, overwrites and deletes caller meta; metaEntries lists a prefix', async () => {
  const { store } = await openMemory();
  await store.commit([['lease/01', b('x')], ['lease/02', b('y')], ['leasf', b('z')]]);
  await store.commit([['lease/01', undefined], ['lease/02', b('y2')]]);
  assert.deepEqual(await store.metaEntries('lease/'), [['lease/02', b('y2')]]);
  assert.equal(await store.getMeta('lease/01'), undefined);
});

// ---- concurrency

/** A memory backend whose getMany waits until released, to hold a historical read in flight. */
function gatedBackend(): { backend: ReturnType<typeof memoryBackend>; hold: () => void; release: () => void } {
  const inner = memoryBackend();
  let gate: Promise<void> | undefined;
  let open: () => void = () => {};
  const backend = Object.create(inner) as ReturnType<typeof memoryBackend>;
  backend.getMany = async (ks: Buffer[]) => {
    if (gate !== undefined) await gate;
    return inner.getMany(ks);
  };
  return {
    backend,
    hold: () => {
      gate = new Promise((r) => (open = r));
    },
    release: () => {
      gate = undefined;
      open();
    },
  };
}

test('concurrency: a historical read in flight keeps its revisions through compaction', async () => {
  const g = gatedBackend();
  const store = await MvccStore.open(g.backend, { leaseExists: () => false });
  await store.put(putReq('a', '1')); // 2
  await store.put(putReq('a', '2')); // 3
  await store.commit();
  g.hold();
  const read = store.range(rangeReq('a', '', { revision: 2 }));
  await store.compact(3);
  await store.commit();
  await new Promise((r) => setTimeout(r, 20)); // give the compaction every chance to run
  g.release();
  assert.deepEqual((await read).kvs, [kv('a', '1', 2, 2, 1)]);
  await store.compactionSettled();
  assert.deepEqual(await revisionKeys(g.backend), ['3.0']);
});

test('concurrency: readers never see half of a write txn', async () => {
  const g = gatedBackend();
  const store = await MvccStore.open(g.backend, { leaseExists: () => false });
  await store.put(putReq('a', '1'));
  await store.put(putReq('a', '2'));
  await store.commit();
  g.hold();
  const write = store.txn(txnReq([], [
    { put: putReq('x', '1') },
    { range: rangeReq('a', '', { revision: 2 }) }, // waits on the backend mid-txn
    { put: putReq('y', '1') },
  ]));
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(keys((await store.range(rangeReq('a', '\0'))).kvs), ['a']);
  assert.equal(store.currentRevision(), 3);
  const ro = await store.txn(txnReq([], [{ range: rangeReq('x') }]));
  assert.equal(ro.revision, 3);
  await assert.rejects(store.put(putReq('z', '1')), AssertionError, 'writes never overlap');
  g.release();
  await write;
  assert.deepEqual(keys((await store.range(rangeReq('a', '\0'))).kvs), ['a', 'x', 'y']);
  assert.equal(store.currentRevision(), 4);
});

test('concurrency: a read-only txn reads one revision even if a write lands while it waits', async () => {
  const g = gatedBackend();
  const store = await MvccStore.open(g.backend, { leaseExists: () => false });
  await store.put(putReq('a', '1'));
  await store.put(putReq('a', '2'));
  await store.commit();
  g.hold();
  const ro = store.txn(txnReq([], [{ range: rangeReq('a', '', { revision: 2 }) }, { range: rangeReq('a', '\0') }]));
  await store.put(putReq('b', '1'));
  g.release();
  const r = await ro;
  assert.equal(r.revision, 3);
  assert.deepEqual(r.responses.map((x) => ('range' in x ? keys(x.range.kvs) : [])), [['a'], ['a']]);
});

// ---- the value cache: values live in the backend, a bounded LRU keeps recent ones

/** A memory backend whose next getMany (only that one) waits until released; reached() resolves once that call has begun. */
function holdNextBackend(inner = memoryBackend()): { backend: ReturnType<typeof memoryBackend>; holdNext: () => void; release: () => void; reached: () => Promise<void> } {
  let arm = false;
  let open: () => void = () => {};
  let entered: () => void = () => {};
  let reached = new Promise<void>((r) => (entered = r));
  const backend = Object.create(inner) as ReturnType<typeof memoryBackend>;
  backend.getMany = async (ks: Buffer[]) => {
    if (arm) {
      arm = false;
      const waiting = new Promise<void>((r) => (open = r));
      entered();
      await waiting;
    }
    return inner.getMany(ks);
  };
  return {
    backend,
    holdNext: () => {
      arm = true;
      reached = new Promise<void>((r) => (entered = r));
    },
    release: () => open(),
    // Waits for the event itself, however many event-loop turns the store takes to reach the backend.
    reached: () => reached,
  };
}

test('value cache: values come back from the backend after a restart and stay within the bound', async () => {
  const backend = memoryBackend();
  const s1 = await MvccStore.open(backend, { leaseExists: () => false, valueCacheBytes: 2000 });
  for (let i = 0; i < 50; i++) await s1.put(putReq(`k${String(i).padStart(2, '0')}`, `value-${i}`));
  const stats = s1.valueCacheStats();
  assert.ok(stats.bytes <= 2000 && stats.entries > 0 && stats.entries < 50, JSON.stringify(stats));
  // Evicted values not yet committed are read from the uncommitted buffer.
  assert.deepEqual((await s1.range(rangeReq('k00'))).kvs, [kv('k00', 'value-0', 2, 2, 1)]);
  await s1.commit();
  const all = await s1.range(rangeReq('k', 'l'));
  assert.deepEqual(all.kvs.map((x) => x.value.toString()), Array.from({ length: 50 }, (_, i) => `value-${i}`));
  assert.ok(s1.valueCacheStats().bytes <= 2000);
  const s2 = await MvccStore.open(backend, { leaseExists: () => false, valueCacheBytes: 2000 });
  assert.equal(s2.valueCacheStats().entries, 0);
  assert.deepEqual((await s2.range(rangeReq('k07'))).kvs, [kv('k07', 'value-7', 9, 9, 1)]);
  assert.equal(s2.valueCacheStats().entries, 1);
  const keysOnly = await s2.range(rangeReq('k', 'l', { keysOnly: true, limit: 2 }));
  assert.deepEqual(keysOnly.kvs, [kv('k00', '', 2, 2, 1), kv('k01', '', 3, 3, 1)]);
  assert.equal(s2.valueCacheStats().entries, 1, 'keys_only fetches no values');
  assert.deepEqual([...s2.liveKvs()].slice(0, 1), [kv('k00', '', 2, 2, 1)]);
});

test('value cache: a read whose fetch ends after the key changed does not cache the old value', async () => {
  const g = holdNextBackend();
  const s1 = await MvccStore.open(g.backend, { leaseExists: () => false });
  await s1.put(putReq('a', '1')); // 2
  await s1.put(putReq('b', '1')); // 3
  await s1.commit();
  const store = await MvccStore.open(g.backend, { leaseExists: () => false }); // nothing cached
  g.holdNext();
  const read = store.range(rangeReq('a'));
  await g.reached();
  await store.put(putReq('a', '2', { prevKv: true })); // 4: fetches a's value itself, not held
  g.release();
  assert.deepEqual((await read).kvs, [kv('a', '1', 2, 2, 1)]);
  assert.deepEqual((await store.range(rangeReq('a'))).kvs, [kv('a', '2', 2, 4, 2)]);
});

test('value cache: a write keeps the previous values it changes although its own reads evict them or a commit ends meanwhile', async () => {
  const backend = memoryBackend();
  const s1 = await MvccStore.open(backend, { leaseExists: () => false });
  for (let i = 0; i < 10; i++) await s1.put(putReq(`k${i}`, `v${i}`)); // 2..11
  await s1.commit();
  const g = holdNextBackend(backend);
  // Room for about four kvs: the txn's range over ten keys evicts everything.
  const store = await MvccStore.open(g.backend, { leaseExists: () => false, valueCacheBytes: 1400 });
  await store.put(putReq('k1', 'w1')); // 12, cached
  await store.put(putReq('k2', 'w2')); // 13, uncommitted
  const events: Event[][] = [];
  store.onEvents((evs) => events.push(evs));
  const txn = store.txn(txnReq([], [
    { put: putReq('k1', 'x1', { prevKv: true }) },
    { range: rangeReq('k', 'l') },
    { deleteRange: delReq('k2', '', true) },
    { put: putReq('k3', 'x3', { prevKv: true }) },
  ]));
  await txn;
  assert.equal(events.length, 1);
  const ev = events[0] as Event[];
  assert.deepEqual(ev.map((e) => e.prevKv), [kv('k1', 'w1', 3, 12, 2), kv('k2', 'w2', 4, 13, 2), kv('k3', 'v3', 5, 5, 1)]);
  // Again with the commit ending while the write waits for the backend.
  await store.put(putReq('k5', 'w5')); // 15, uncommitted, maybe evicted
  g.holdNext();
  const txn2 = store.txn(txnReq([], [{ range: rangeReq('k', 'l') }, { put: putReq('k5', 'x5', { prevKv: true }) }]));
  await g.reached();
  await store.commit();
  g.release();
  const r = await txn2;
  assert.deepEqual(r.responses[1], { put: { revision: 16, prevKv: kv('k5', 'w5', 7, 15, 2) } });
  assert.deepEqual((events[2] as Event[])[0]?.prevKv, kv('k5', 'w5', 7, 15, 2));
});

test('value cache: a read-only txn whose value compare must fetch answers at the revision it started at', async () => {
  const g = holdNextBackend();
  const s1 = await MvccStore.open(g.backend, { leaseExists: () => false });
  await s1.put(putReq('a', '1')); // 2
  await s1.commit();
  const store = await MvccStore.open(g.backend, { leaseExists: () => false, valueCacheBytes: 0 });
  g.holdNext();
  const ro = store.txn(txnReq([cmp('a', T.Value, R.Equal, { value: b('1') })], [{ range: rangeReq('a') }], [{ range: rangeReq('b') }]));
  await g.reached();
  await store.put(putReq('a', '2')); // 3
  await store.put(putReq('b', '2')); // 4
  await store.compact(4);
  await store.commit();
  g.release();
  const r = await ro;
  assert.equal(r.revision, 2);
  assert.equal(r.succeeded, true);
  assert.deepEqual(r.responses, [{ range: { revision: 2, kvs: [kv('a', '1', 2, 2, 1)], more: false, count: 1 } }]);
  await store.compactionSettled();
  assert.deepEqual((await store.range(rangeReq('a', '\0'))).kvs, [kv('a', '2', 2, 3, 2), kv('b', '2', 4, 4, 1)]);
});
