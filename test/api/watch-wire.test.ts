// The hand-written WatchResponse encoding against protobufjs (what the
// Watch service used before, and what clients decode with): same decoded
// message, Go's sizes (zero values left out), and etcd's fragmenting rule.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { etcdService } from '../../src/proto';
import { int64ToNumber, kvToPb } from '../../src/api';
import { FrameBuffer, HeaderCache, appendResponses, decodeWatchRequest, messagesOf, type HeaderIds, type WatchRequestMessage } from '../../src/api';
import { EventType, type Event, type KeyValue, type WatchOutput } from '../../src/mvcc';

const method = etcdService('Watch').service['Watch'];
assert.ok(method !== undefined);
const serialize = method.responseSerialize as (v: object) => Buffer;
const deserialize = method.responseDeserialize as (b: Buffer) => { fragment: boolean; events: unknown[] };
const requestSerialize = method.requestSerialize as (v: object) => Buffer;
const requestDeserialize = method.requestDeserialize as (b: Buffer) => PbWatchRequest;

interface PbWatchRequest {
  request_union?: string;
  create_request?: { key: Buffer; range_end: Buffer; start_revision: string; progress_notify: boolean; filters: number[]; prev_kv: boolean; watch_id: string; fragment: boolean };
  cancel_request?: { watch_id: string };
}

const int64Max = (1n << 63n) - 1n;
const uint64Max = (1n << 64n) - 1n;
const revision = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));

const keyValue: fc.Arbitrary<KeyValue> = fc.record({
  key: fc.uint8Array({ minLength: 1, maxLength: 24 }).map((a) => Buffer.from(a)),
  createRevision: revision,
  modRevision: revision,
  version: revision,
  value: fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ minLength: 100, maxLength: 400 })).map((a) => Buffer.from(a)),
  lease: fc.oneof(fc.constant(0n), fc.bigInt({ min: -int64Max - 1n, max: int64Max })),
});

const event: fc.Arbitrary<Event> = fc.record({
  type: fc.constantFrom(EventType.Put, EventType.Delete),
  kv: keyValue,
  prevKv: fc.option(keyValue, { nil: undefined }),
});

const output: fc.Arbitrary<WatchOutput> = fc.record({
  watchId: fc.oneof(fc.constant(-1), fc.constant(0), fc.integer({ min: 1, max: 1_000_000 })),
  revision,
  events: fc.array(event, { maxLength: 6 }),
  created: fc.option(fc.boolean(), { nil: undefined }),
  canceled: fc.option(fc.boolean(), { nil: undefined }),
  compactRevision: fc.option(revision, { nil: undefined }),
  cancelReason: fc.option(fc.string({ maxLength: 40, unit: 'grapheme' }), { nil: undefined }),
  fragment: fc.option(fc.boolean(), { nil: undefined }),
}, { requiredKeys: ['watchId', 'revision', 'events'] }) as fc.Arbitrary<WatchOutput>;

const headerIds: fc.Arbitrary<HeaderIds> = fc.record({
  clusterId: fc.bigInt({ min: 0n, max: uint64Max }),
  memberId: fc.bigInt({ min: 0n, max: uint64Max }),
  raftTerm: fc.bigInt({ min: 0n, max: 1n << 40n }),
});

/** What the service sent before (proto-loader objects through protobufjs), fields set whether zero or not. */
function legacy(ids: HeaderIds, out: WatchOutput, events: readonly Event[], fragment: boolean): object {
  const r: Record<string, unknown> = {
    header: { cluster_id: ids.clusterId.toString(), member_id: ids.memberId.toString(), revision: out.revision, raft_term: ids.raftTerm.toString() },
    watch_id: out.watchId,
    events: events.map((ev) => ({ type: ev.type, kv: kvToPb(ev.kv), ...(ev.prevKv === undefined ? {} : { prev_kv: kvToPb(ev.prevKv) }) })),
  };
  if (out.created === true) r['created'] = true;
  if (out.canceled === true) r['canceled'] = true;
  if (out.compactRevision !== undefined) r['compact_revision'] = out.compactRevision;
  if (out.cancelReason !== undefined) r['cancel_reason'] = out.cancelReason;
  if (fragment) r['fragment'] = true;
  return r;
}

/** The same message with every zero value left out, as Go marshals it: its protobufjs length is Go's Size(). */
function goShaped(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(goShaped);
  if (Buffer.isBuffer(v)) return v.length === 0 ? undefined : v;
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const y = goShaped(x);
      if (y !== undefined) o[k] = y;
    }
    return o;
  }
  if (v === 0 || v === '0' || v === false || v === '') return undefined;
  return v;
}

function encode(ids: HeaderIds, out: WatchOutput, maxBytes: number): Buffer[] {
  const fb = new FrameBuffer();
  appendResponses(fb, new HeaderCache().field(ids, out.revision), out, maxBytes);
  const chunks = fb.take();
  assert.ok(chunks !== undefined);
  return chunks.flatMap((c) => [...messagesOf(c)]);
}

test('a response decodes as the protobufjs-encoded one did, and has Go\'s size', () => {
  fc.assert(fc.property(headerIds, output, (ids, out) => {
    const [msg, ...more] = encode(ids, out, Number.MAX_SAFE_INTEGER);
    assert.equal(more.length, 0);
    const old = legacy(ids, out, out.events, false);
    assert.deepEqual(deserialize(msg as Buffer), deserialize(serialize(old)));
    const header = (goShaped(old) as { header?: object }).header;
    // The header is always sent, even when every field in it is zero.
    assert.equal((msg as Buffer).length, serialize({ ...(goShaped(old) as object), header: header ?? {} }).length);
  }), { numRuns: 500 });
});

test('fragments follow etcd\'s sendFragments: greedy parts under the limit, one event at least, all but the last marked', () => {
  fc.assert(fc.property(headerIds, output, fc.integer({ min: 20, max: 2000 }), (ids, base, maxBytes) => {
    const out: WatchOutput = { ...base, fragment: true };
    const parts = encode(ids, out, maxBytes);
    const whole = encode(ids, { ...out, fragment: false }, maxBytes)[0] as Buffer;
    const decoded = parts.map(deserialize);
    if (whole.length < maxBytes || out.events.length < 2) {
      assert.equal(parts.length, 1);
      assert.equal(decoded[0]?.fragment, false);
      return;
    }
    assert.deepEqual(decoded.flatMap((d) => d.events), deserialize(whole).events);
    decoded.forEach((d, i) => {
      assert.equal(d.fragment, i < parts.length - 1);
      assert.ok(d.events.length >= 1);
      if (d.events.length > 1) assert.ok((parts[i] as Buffer).length < maxBytes);
    });
    // Greedy: the next part's first event did not fit in this one.
    let idx = 0;
    for (let i = 0; i < parts.length - 1; i++) {
      idx += (decoded[i] as { events: unknown[] }).events.length;
      const withNext = encode(ids, { ...out, events: [...out.events.slice(idx - (decoded[i] as { events: unknown[] }).events.length, idx + 1)] }, Number.MAX_SAFE_INTEGER)[0] as Buffer;
      // withNext is encoded without the fragment flag (2 bytes).
      assert.ok(withNext.length + 2 >= maxBytes);
    }
  }), { numRuns: 500 });
});

test('events shared between responses are encoded once and stay correct in later responses and chunks', () => {
  const kv: KeyValue = { key: Buffer.from('k'), createRevision: 2, modRevision: 5, version: 4, value: Buffer.from('v'), lease: 7n };
  const shared: Event[] = [{ type: EventType.Put, kv, prevKv: undefined }];
  const ids: HeaderIds = { clusterId: 1n, memberId: 2n, raftTerm: 3n };
  const fb = new FrameBuffer();
  const headers = new HeaderCache();
  // Enough responses to fill several chunks of the frame buffer.
  const n = 50_000;
  for (let id = 0; id < n; id++) appendResponses(fb, headers.field(ids, 5), { watchId: id, revision: 5, events: shared }, 1 << 20);
  const chunks = fb.take() ?? [];
  assert.ok(chunks.length > 1);
  const msgs = chunks.flatMap((c) => [...messagesOf(c)]).map((m) => deserialize(m) as unknown as { watch_id: string; events: Array<{ kv: { value: Buffer } }> });
  assert.equal(msgs.length, n);
  assert.equal(fb.take(), undefined);
  msgs.forEach((m, i) => {
    assert.equal(m.watch_id, String(i));
    assert.deepEqual(m.events.map((e) => e.kv.value.toString()), ['v']);
  });
});

/** What the service made of a protobufjs-decoded request before. */
function legacyRequest(r: PbWatchRequest): WatchRequestMessage {
  switch (r.request_union) {
    case 'create_request': {
      const c = r.create_request as NonNullable<PbWatchRequest['create_request']>;
      return {
        kind: 'create',
        create: {
          watchId: int64ToNumber(c.watch_id), key: c.key, rangeEnd: c.range_end, startRevision: int64ToNumber(c.start_revision),
          filters: c.filters, prevKv: c.prev_kv, progressNotify: c.progress_notify, fragment: c.fragment,
        },
      };
    }
    case 'cancel_request': return { kind: 'cancel', watchId: int64ToNumber(r.cancel_request?.watch_id) };
    case 'progress_request': return { kind: 'progress' };
    default: return { kind: 'none' };
  }
}

const int64Text = fc.oneof(
  fc.integer({ min: -5, max: 1_000_000 }),
  fc.bigInt({ min: -int64Max - 1n, max: int64Max }),
).map(String);

const watchRequest: fc.Arbitrary<object> = fc.oneof(
  fc.record({
    create_request: fc.record({
      key: fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
      range_end: fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
      start_revision: int64Text,
      progress_notify: fc.boolean(),
      filters: fc.array(fc.constantFrom(0, 1), { maxLength: 3 }),
      prev_kv: fc.boolean(),
      watch_id: int64Text,
      fragment: fc.boolean(),
    }, { requiredKeys: [] }),
  }),
  fc.record({ cancel_request: fc.record({ watch_id: int64Text }, { requiredKeys: [] }) }),
  fc.constant({ progress_request: {} }),
  fc.constant({}),
);

// Fields a newer client might send: each wire type, under a field number etcd does not use.
const unknownField = fc.constantFrom(
  Buffer.from([0x78, 0x96, 0x01]), // field 15, varint
  Buffer.from([0x79, 1, 2, 3, 4, 5, 6, 7, 8]), // field 15, fixed64
  Buffer.from([0x7a, 0x02, 0x01, 0x02]), // field 15, bytes
  Buffer.from([0x7d, 1, 2, 3, 4]), // field 15, fixed32
);

test('a WatchRequest decodes as protobufjs decoded it, unknown fields skipped', () => {
  fc.assert(fc.property(watchRequest, fc.option(unknownField, { nil: undefined }), (req, extra) => {
    const bytes = requestSerialize(req);
    assert.deepEqual(decodeWatchRequest(bytes), legacyRequest(requestDeserialize(bytes)));
    if (extra !== undefined) {
      // Unknown fields at the top level and inside the create request.
      const outer = Buffer.concat([extra, bytes]);
      assert.deepEqual(decodeWatchRequest(outer), legacyRequest(requestDeserialize(outer)));
    }
  }), { numRuns: 1000 });
});

test('a WatchRequest cut short is refused, never half-read', () => {
  const bytes = requestSerialize({ create_request: { key: Buffer.from('abc'), range_end: Buffer.from('abd'), start_revision: '123456', watch_id: '-1' } });
  for (let n = 1; n < bytes.length; n++) assert.throws(() => decodeWatchRequest(bytes.subarray(0, n)), /invalid WatchRequest/);
});

test('unpacked filters (proto2-style encoders) decode as packed ones', () => {
  const create = Buffer.from([0x0a, 0x01, 0x61, 0x28, 0x01, 0x28, 0x00]);
  const msg = decodeWatchRequest(Buffer.concat([Buffer.from([0x0a, create.length]), create]));
  assert.equal(msg.kind, 'create');
  assert.deepEqual(msg.kind === 'create' ? msg.create.filters : [], [1, 0]);
  assert.deepEqual(legacyRequest(requestDeserialize(Buffer.concat([Buffer.from([0x0a, create.length]), create]))), msg);
});
