// The client's lean WatchResponse reader (src/client/watch-decode.ts, used by
// the benchmarks' watchers) against the proto decoder on the same bytes:
// random responses, encoded by proto-loader, must decode to the same fields.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { codecFor, decodeWatchResponse } from '../../src/client';
import { etcdService } from '../../src/proto';

const watch = codecFor('Watch', 'Watch');
const int64 = fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String);
const kv = fc.record({ key: fc.uint8Array({ maxLength: 40 }), create_revision: int64, mod_revision: int64, version: int64, value: fc.uint8Array({ maxLength: 300 }), lease: int64 });
const response = fc.record({
  header: fc.record({ cluster_id: int64, member_id: int64, revision: int64, raft_term: int64 }),
  watch_id: fc.oneof(int64, fc.constant('-1')), created: fc.boolean(), canceled: fc.boolean(), compact_revision: int64,
  cancel_reason: fc.string({ maxLength: 30 }), fragment: fc.boolean(),
  events: fc.array(fc.record({ type: fc.constantFrom(0, 1), kv, prev_kv: fc.option(kv, { nil: undefined }) }), { maxLength: 5 }),
});

type Kv = { key: Uint8Array; value: Uint8Array; create_revision: string; mod_revision: string; version: string; lease: string } | null | undefined;
const plainKv = (k: Kv): object | null => (k === null || k === undefined ? null : {
  key: Buffer.from(k.key).toString('hex'), value: Buffer.from(k.value).toString('hex'),
  create_revision: k.create_revision, mod_revision: k.mod_revision, version: k.version, lease: k.lease,
});

test('the lean WatchResponse reader agrees with the proto decoder', () => {
  fc.assert(fc.property(response, (r) => {
    const bytes = serializeResponse(r);
    const full = watch.decode(bytes) as { watch_id: string; created: boolean; canceled: boolean; compact_revision: string; cancel_reason: string; fragment: boolean; events: { type: number; kv: Kv; prev_kv: Kv }[] };
    const lean = decodeWatchResponse(bytes);
    assert.deepEqual(
      { ...lean, events: lean.events.map((e) => ({ type: e.type, kv: plainKv(e.kv), prev_kv: plainKv(e.prev_kv) })) },
      {
        watch_id: full.watch_id, created: full.created, canceled: full.canceled, compact_revision: full.compact_revision, cancel_reason: full.cancel_reason,
        fragment: full.fragment, events: full.events.map((e) => ({ type: e.type, kv: plainKv(e.kv), prev_kv: plainKv(e.prev_kv) })),
      },
    );
  }), { numRuns: 300 });
});

test('a truncated WatchResponse is refused, not misread', () => {
  const bytes = serializeResponse({ watch_id: '7', events: [{ type: 0, kv: { key: Buffer.from('k'), value: Buffer.alloc(50, 1), mod_revision: '9' } }] });
  assert.throws(() => decodeWatchResponse(bytes.subarray(0, bytes.length - 10)));
});

/** Encoded as a server encodes it (the service definition's response serializer). */
function serializeResponse(m: object): Buffer {
  const def = etcdService('Watch').service['Watch'];
  if (def === undefined) throw new Error('no Watch.Watch');
  return def.responseSerialize(m);
}
