// The peer wire codec: random Messages round-trip exactly (64-bit IDs, entries,
// snapshots, empty and large data), the size function matches the encoder,
// damaged input fails with DecodeError only, and framing survives any split.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { message, type Entry, type Message, type MessageType, type Snapshot } from '../../src/raft';
import { DecodeError, decodeMessage, encodeMessageToBuffer, isWireType, messageWireBytes } from '../../src/transport';
import { FrameReader, frameKind, frameHeaderBytes, writeFrameHeader } from '../../src/transport';

const wireTypes: MessageType[] = [
  'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgSnap', 'MsgHeartbeat', 'MsgHeartbeatResp',
  'MsgTransferLeader', 'MsgTimeoutNow', 'MsgReadIndex', 'MsgReadIndexResp', 'MsgPreVote', 'MsgPreVoteResp',
];

const id = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const num = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const bytes = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 5000 }) },
);
const entry: fc.Arbitrary<Entry> = fc.record({
  term: num, index: num, type: fc.constantFrom('normal' as const, 'confChange' as const), data: bytes,
}).map((e) => ({ ...e })); // fast-check records have a null prototype; decoded ones are plain
const idSet = fc.uniqueArray(id, { maxLength: 7, comparator: (a, b) => a === b });
const snapshot: fc.Arbitrary<Snapshot> = fc.tuple(num, num, idSet, idSet, bytes).map(([index, term, a, b, data]) => {
  const voters = [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const learners = b.filter((x) => !a.includes(x)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  return { metadata: { index, term, confState: { voters, learners } }, data };
});
const msg: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...wireTypes), to: id, from: id, term: num, logTerm: num, index: num,
  entries: fc.array(entry, { maxLength: 12 }), commit: num, snapshot: fc.option(snapshot, { nil: null }),
  reject: fc.boolean(), rejectHint: num, context: bytes,
}).map((m) => ({ ...m }));

function roundTrip(m: Message): Message {
  const buf = encodeMessageToBuffer(m);
  assert.equal(buf.length, messageWireBytes(m));
  return decodeMessage(buf, 0, buf.length);
}

test('random messages round-trip exactly', () => {
  fc.assert(fc.property(msg, (m) => {
    assert.deepStrictEqual(roundTrip(m), m);
  }), { numRuns: 500 });
});

test('extreme values and large data round-trip', () => {
  const big = new Uint8Array(8 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  const m = message({
    type: 'MsgSnap', to: (1n << 64n) - 1n, from: 1n, term: Number.MAX_SAFE_INTEGER, index: 2 ** 53 - 2,
    entries: [{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }, { term: 1, index: 2 ** 40, type: 'confChange', data: big }],
    snapshot: { metadata: { index: 7, term: 2, confState: { voters: [1n, (1n << 63n)], learners: [5n] } }, data: big },
    reject: true, rejectHint: 2 ** 31, context: new Uint8Array([0, 255]),
  });
  assert.deepStrictEqual(roundTrip(m), m);
  const empty = message({ type: 'MsgHeartbeat' });
  assert.deepStrictEqual(roundTrip(empty), empty);
  assert.ok(encodeMessageToBuffer(message({ type: 'MsgHeartbeat', to: 2n, from: 1n, term: 5, commit: 100 })).length < 30);
});

test('decoded byte fields are plain Uint8Arrays that do not alias the input beyond it', () => {
  const m = message({ type: 'MsgApp', to: 2n, from: 1n, entries: [{ term: 1, index: 1, type: 'normal', data: new Uint8Array([1, 2, 3]) }] });
  const buf = encodeMessageToBuffer(m);
  const back = decodeMessage(buf, 0, buf.length);
  const data = back.entries[0]?.data;
  assert.ok(data !== undefined);
  assert.equal(Object.getPrototypeOf(data), Uint8Array.prototype);
  assert.equal(data.buffer, buf.buffer);
});

test('local message types are refused by the encoder', () => {
  for (const t of ['MsgHup', 'MsgBeat', 'MsgUnreachable', 'MsgSnapStatus', 'MsgCheckQuorum'] as const) {
    assert.equal(isWireType(t), false);
    assert.throws(() => encodeMessageToBuffer(message({ type: t })), /never crosses the network/);
  }
});

test('damaged encodings fail with DecodeError and nothing else', () => {
  fc.assert(fc.property(msg, fc.nat(), fc.nat({ max: 255 }), fc.nat(), (m, pos, byte, cut) => {
    const buf = encodeMessageToBuffer(m);
    const mutated = Buffer.from(buf);
    mutated[pos % mutated.length] = byte;
    for (const [b, end] of [[mutated, mutated.length], [buf, cut % buf.length]] as const) {
      try {
        decodeMessage(b, 0, end);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }
  }), { numRuns: 1000 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (raw) => {
    try {
      decodeMessage(Buffer.from(raw), 0, raw.length);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }), { numRuns: 1000 });
});

test('frames survive any split of the byte stream', () => {
  fc.assert(fc.property(fc.array(msg, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (msgs, cuts) => {
    const bodies = msgs.map(encodeMessageToBuffer);
    const stream = Buffer.allocUnsafe(bodies.reduce((n, b) => n + frameHeaderBytes + b.length, 0));
    let off = 0;
    for (const b of bodies) {
      off = writeFrameHeader(stream, off, frameKind.message, b.length);
      off += b.copy(stream, off);
    }
    const points = [...new Set(cuts.map((c) => c % stream.length))].sort((a, b) => a - b);
    const reader = new FrameReader(1 << 24);
    const got: Message[] = [];
    let prev = 0;
    for (const p of [...points, stream.length]) {
      reader.push(stream.subarray(prev, p), (kind, payload) => {
        assert.equal(kind, frameKind.message);
        got.push(decodeMessage(payload, 0, payload.length));
        return true;
      });
      prev = p;
    }
    assert.deepStrictEqual(got, msgs);
    assert.equal(reader.bufferedBytes, 0);
  }), { numRuns: 200 });
});

test('frame reader refuses frames over its bound', () => {
  const reader = new FrameReader(100);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(101);
  assert.throws(() => reader.push(head, () => true), DecodeError);
  assert.throws(() => new FrameReader(100).push(Buffer.alloc(5), () => true), DecodeError);
});
