// MvccStore against a plain reference model that keeps every revision's full
// state in an array. Random sequences of put/delete/range/txn (nested)/
// compact/commit/crash-reopen over a tiny key alphabet (so ranges overlap)
// with arbitrary bytes, on the memory backend and on LevelDB.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  type Compare,
  type DeleteRangeRequest,
  type Event,
  type KeyValue,
  MvccStore,
  type PutRequest,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
} from '../../src/mvcc';
import { type Backend, memoryBackend, openLevelBackend } from '../../src/storage';
import { EtcdError, isEtcdError } from '../../src/util';

// ---------------------------------------------------------------- model

type State = Map<string, KeyValue>;

const existingLeases = [1n, 2n];
const leaseExists = (id: bigint): boolean => existingLeases.includes(id);

class ModelAbort extends Error {}

function inRange(key: Buffer, start: Buffer, end: Buffer): boolean {
  if (end.length === 0) return key.equals(start);
  if (end.length === 1 && end[0] === 0) return Buffer.compare(key, start) >= 0;
  return Buffer.compare(key, start) >= 0 && Buffer.compare(key, end) < 0;
}

function liveIn(state: State, start: Buffer, end: Buffer): KeyValue[] {
  return [...state.values()].filter((kv) => inRange(kv.key, start, end)).sort((a, b) => Buffer.compare(a.key, b.key));
}

function modelRange(state: State, req: RangeRequest, headerRev: number): RangeResponse {
  const all = liveIn(state, req.key, req.rangeEnd);
  const filtering = req.minModRevision !== 0 || req.maxModRevision !== 0 || req.minCreateRevision !== 0 || req.maxCreateRevision !== 0;
  let kvs: KeyValue[] = [];
  if (!req.countOnly) {
    kvs = all;
    if (req.sortOrder === 0 && !filtering && req.limit > 0) kvs = kvs.slice(0, req.limit + 1);
  }
  kvs = kvs.filter(
    (kv) =>
      (req.maxModRevision === 0 || kv.modRevision <= req.maxModRevision) &&
      (req.minModRevision === 0 || kv.modRevision >= req.minModRevision) &&
      (req.maxCreateRevision === 0 || kv.createRevision <= req.maxCreateRevision) &&
      (req.minCreateRevision === 0 || kv.createRevision >= req.minCreateRevision),
  );
  let order: number = req.sortOrder;
  if (req.sortTarget !== 0 && order === 0) order = 1;
  if (req.sortTarget === 0 && order === 1) order = 0;
  if (order !== 0) {
    const field = (kv: KeyValue): number | Buffer =>
      [kv.key, kv.version, kv.createRevision, kv.modRevision, kv.value][req.sortTarget] as number | Buffer;
    const cmpField = (a: KeyValue, b: KeyValue): number => {
      const x = field(a);
      const y = field(b);
      return Buffer.isBuffer(x) ? Buffer.compare(x, y as Buffer) : (x as number) - (y as number);
    };
    const decorated = kvs.map((kv, i) => ({ kv, i }));
    decorated.sort((a, b) => (order === 2 ? cmpField(b.kv, a.kv) : cmpField(a.kv, b.kv)) || a.i - b.i);
    kvs = decorated.map((d) => d.kv);
  }
  let more = false;
  if (req.limit > 0 && kvs.length > req.limit) {
    kvs = kvs.slice(0, req.limit);
    more = true;
  }
  if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
  return { revision: headerRev, kvs, more, count: all.length };
}

function compareOne(c: Compare, kv: KeyValue): boolean {
  let r: number;
  switch (c.target) {
    case 0:
      r = Math.sign(kv.version - (c.version ?? 0));
      break;
    case 1:
      r = Math.sign(kv.createRevision - (c.createRevision ?? 0));
      break;
    case 2:
      r = Math.sign(kv.modRevision - (c.modRevision ?? 0));
      break;
    case 3:
      r = Buffer.compare(kv.value, c.value ?? Buffer.alloc(0));
      break;
    default: {
      const a = BigInt.asIntN(64, kv.lease);
      const b = BigInt.asIntN(64, c.lease ?? 0n);
      r = a < b ? -1 : a > b ? 1 : 0;
    }
  }
  return [r === 0, r > 0, r < 0, r !== 0][c.result] as boolean;
}

function compareHolds(state: State, c: Compare): boolean {
  const kvs = liveIn(state, c.key, c.rangeEnd);
  if (kvs.length === 0) {
    if (c.target === 3) return false;
    return compareOne(c, { key: Buffer.alloc(0), value: Buffer.alloc(0), createRevision: 0, modRevision: 0, version: 0, lease: 0n });
  }
  return kvs.every((kv) => compareOne(c, kv));
}

function hasWrite(t: TxnRequest): boolean {
  return [...t.success, ...t.failure].some((op) => 'put' in op || 'deleteRange' in op || ('txn' in op && hasWrite(op.txn)));
}

type Outcome<T> = { ok: T } | { err: string };

class Model {
  states: State[] = [new Map(), new Map()];
  compactRev = -1;
  committed = { length: 2, compactRev: -1 };

  get current(): number {
    return this.states.length - 1;
  }

  state(rev: number): State {
    const s = this.states[rev];
    assert.ok(s !== undefined);
    return s;
  }

  commit(): void {
    this.committed = { length: this.states.length, compactRev: this.compactRev };
  }

  crash(): void {
    this.states.length = this.committed.length;
    this.compactRev = this.committed.compactRev;
  }

  range(req: RangeRequest): Outcome<RangeResponse> {
    if (req.revision > this.current) return { err: 'FutureRev' };
    const at = req.revision <= 0 ? this.current : req.revision;
    if (at < this.compactRev) return { err: 'Compacted' };
    return { ok: modelRange(this.state(at), req, this.current) };
  }

  compact(rev: number): Outcome<{ revision: number }> {
    if (rev <= this.compactRev) return { err: 'Compacted' };
    if (rev > this.current) return { err: 'FutureRev' };
    this.compactRev = rev;
    return { ok: { revision: this.current } };
  }

  put(req: PutRequest): { out: Outcome<unknown>; events: Event[] } {
    if (req.lease !== 0n && !leaseExists(req.lease)) return { out: { err: 'LeaseNotFound' }, events: [] };
    return this.write((w) => w.put(req));
  }

  deleteRange(req: DeleteRangeRequest): { out: Outcome<unknown>; events: Event[] } {
    return this.write((w) => w.del(req));
  }

  txn(req: TxnRequest): { out: Outcome<unknown>; events: Event[] } {
    const pre = this.state(this.current);
    const path = pathOf(pre, req);
    const errors: string[] = [];
    if (hasWrite(req)) {
      walkPath(req, path, (op) => {
        if (!('put' in op) || errors.length > 0) return;
        if ((op.put.ignoreValue || op.put.ignoreLease) && !pre.has(op.put.key.toString('latin1'))) errors.push('KeyNotFound');
        else if (op.put.lease !== 0n && !leaseExists(op.put.lease)) errors.push('LeaseNotFound');
      });
    }
    walkPath(req, path, (op) => {
      if (!('range' in op) || op.range.revision === 0 || errors.length > 0) return;
      if (op.range.revision > this.current) errors.push('FutureRev');
      else if (op.range.revision < this.compactRev) errors.push('Compacted');
    });
    if (errors.length > 0) return { out: { err: errors[0] as string }, events: [] };
    return this.write((w) => {
      const responses = w.ops(req, path);
      return { revision: w.changed() ? w.beginRev + 1 : w.beginRev, succeeded: path.succeeded, responses };
    });
  }

  private write<T>(f: (w: ModelWrite) => T): { out: Outcome<unknown>; events: Event[] } {
    const w = new ModelWrite(this);
    let value: T;
    try {
      value = f(w);
    } catch (e) {
      if (e instanceof ModelAbort) return { out: { err: e.message }, events: [] };
      throw e;
    }
    if (w.changed()) this.states.push(w.draft);
    return { out: { ok: value }, events: w.events };
  }
}

interface Path {
  succeeded: boolean;
  nested: Path[];
}

function pathOf(state: State, req: TxnRequest): Path {
  const succeeded = req.compare.every((c) => compareHolds(state, c));
  const nested = (succeeded ? req.success : req.failure).flatMap((op) => ('txn' in op ? [pathOf(state, op.txn)] : []));
  return { succeeded, nested };
}

function walkPath(req: TxnRequest, p: Path, f: (op: RequestOp) => void): void {
  let n = 0;
  for (const op of p.succeeded ? req.success : req.failure) {
    if ('txn' in op) walkPath(op.txn, p.nested[n++] as Path, f);
    else f(op);
  }
}

class ModelWrite {
  readonly beginRev: number;
  readonly pre: State;
  readonly draft: State;
  readonly events: Event[] = [];

  constructor(private readonly m: Model) {
    this.beginRev = m.current;
    this.pre = m.state(m.current);
    this.draft = new Map(this.pre);
  }

  changed(): boolean {
    return this.events.length > 0;
  }

  put(req: PutRequest): unknown {
    const k = req.key.toString('latin1');
    const prev = this.draft.get(k);
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw new ModelAbort('KeyNotFound');
    const rev = this.beginRev + 1;
    const kv: KeyValue = {
      key: req.key,
      value: req.ignoreValue && prev ? prev.value : req.value,
      createRevision: prev ? prev.createRevision : rev,
      modRevision: rev,
      version: prev ? prev.version + 1 : 1,
      lease: req.ignoreLease && prev ? prev.lease : req.lease,
    };
    this.draft.set(k, kv);
    this.events.push({ type: 0, kv, prevKv: kv.createRevision === rev ? undefined : this.pre.get(k) });
    return { revision: rev, prevKv: req.prevKv ? prev : undefined };
  }

  del(req: DeleteRangeRequest): unknown {
    const doomed = liveIn(this.draft, req.key, req.rangeEnd);
    for (const kv of doomed) {
      const k = kv.key.toString('latin1');
      this.draft.delete(k);
      const tomb: KeyValue = { key: kv.key, value: Buffer.alloc(0), createRevision: 0, modRevision: this.beginRev + 1, version: 0, lease: 0n };
      this.events.push({ type: 1, kv: tomb, prevKv: this.pre.get(k) });
    }
    return { revision: this.changed() ? this.beginRev + 1 : this.beginRev, deleted: doomed.length, prevKvs: req.prevKv ? doomed : [] };
  }

  ops(req: TxnRequest, p: Path): ResponseOp[] {
    let n = 0;
    return (p.succeeded ? req.success : req.failure).map((op): ResponseOp => {
      if ('range' in op) {
        const header = this.changed() ? this.beginRev + 1 : this.beginRev;
        const state = op.range.revision === 0 ? this.draft : this.m.state(op.range.revision);
        return { range: modelRange(state, op.range, header) };
      }
      if ('put' in op) return { put: this.put(op.put) as never };
      if ('deleteRange' in op) return { deleteRange: this.del(op.deleteRange) as never };
      const sub = p.nested[n++] as Path;
      return { txn: { revision: 0, succeeded: sub.succeeded, responses: this.ops(op.txn, sub) } };
    });
  }
}

// ---------------------------------------------------------------- generators

const keyArb = fc.array(fc.constantFrom(0x00, 0x61, 0x62, 0xff), { minLength: 1, maxLength: 2 }).map((a) => Buffer.from(a));
const anyKeyArb = fc.array(fc.constantFrom(0x00, 0x61, 0x62, 0xff), { minLength: 0, maxLength: 2 }).map((a) => Buffer.from(a));
const valueArb = fc.uint8Array({ maxLength: 3 }).map((a) => Buffer.from(a));
const rangeEndArb = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.constant(Buffer.from([0])),
  keyArb,
);
const wideRangeEndArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 2, arbitrary: fc.constant(Buffer.from([0])) },
  { weight: 1, arbitrary: fc.constant(Buffer.from([0xff, 0xff, 0xff])) },
  { weight: 2, arbitrary: keyArb },
);
/** Revisions are picked relative to the store when the op runs: null = 0 (current). */
const revPickArb = fc.option(fc.nat({ max: 60 }), { freq: 2 });
const leaseArb = fc.oneof({ weight: 6, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constantFrom(1n, 2n, 3n, 2n ** 64n - 1n) });

interface RangeGen {
  key: Buffer;
  rangeEnd: Buffer;
  limit: number;
  rev: number | null;
  sortOrder: number;
  sortTarget: number;
  keysOnly: boolean;
  countOnly: boolean;
  filters: [number, number, number, number];
}

const filterArb = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 12 }) });
const rangeGenArb: fc.Arbitrary<RangeGen> = fc.record({
  key: fc.oneof(anyKeyArb, fc.constant(Buffer.alloc(0))),
  rangeEnd: wideRangeEndArb,
  limit: fc.constantFrom(0, 0, 1, 2, 3, -1),
  rev: revPickArb,
  sortOrder: fc.constantFrom(0, 0, 1, 2),
  sortTarget: fc.constantFrom(0, 0, 1, 2, 3, 4),
  keysOnly: fc.boolean(),
  countOnly: fc.constantFrom(false, false, false, true),
  filters: fc.oneof(
    { weight: 4, arbitrary: fc.constant<[number, number, number, number]>([0, 0, 0, 0]) },
    { weight: 1, arbitrary: fc.tuple(filterArb, filterArb, filterArb, filterArb) },
  ),
});

const putArb: fc.Arbitrary<PutGen> = fc.record({
  key: keyArb,
  value: valueArb,
  lease: leaseArb,
  prevKv: fc.boolean(),
  ignoreValue: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  ignoreLease: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});
const delArb = fc.record({ key: anyKeyArb, rangeEnd: rangeEndArb, prevKv: fc.boolean() });

interface CompareGen {
  key: Buffer;
  rangeEnd: Buffer;
  target: number;
  result: number;
  num: number;
  value: Buffer;
  lease: bigint;
  unionMismatch: boolean;
}
const compareArb: fc.Arbitrary<CompareGen> = fc.record({
  key: keyArb,
  rangeEnd: fc.oneof({ weight: 3, arbitrary: fc.constant(Buffer.alloc(0)) }, { weight: 1, arbitrary: rangeEndArb }),
  target: fc.nat({ max: 4 }),
  result: fc.nat({ max: 3 }),
  num: fc.nat({ max: 8 }),
  value: valueArb,
  lease: leaseArb,
  unionMismatch: fc.boolean(),
});

type OpGen =
  | { t: 'range'; r: RangeGen }
  | { t: 'put'; p: PutGen }
  | { t: 'del'; d: { key: Buffer; rangeEnd: Buffer; prevKv: boolean } }
  | { t: 'txn'; x: TxnGen }
  | { t: 'compact'; rev: number }
  | { t: 'commit' }
  | { t: 'reopen'; commitFirst: boolean };

interface TxnGen {
  compare: CompareGen[];
  success: TxnOpGen[];
  failure: TxnOpGen[];
}
type TxnOpGen =
  | { t: 'range'; r: RangeGen }
  | { t: 'put'; p: PutGen }
  | { t: 'del'; d: { key: Buffer; rangeEnd: Buffer; prevKv: boolean } }
  | { t: 'txn'; x: TxnGen };
type PutGen = { key: Buffer; value: Buffer; lease: bigint; prevKv: boolean; ignoreValue: boolean; ignoreLease: boolean };

const { txn: txnArb } = fc.letrec<{ txn: TxnGen; op: TxnOpGen }>((tie) => ({
  txn: fc.record({
    compare: fc.array(compareArb, { maxLength: 2 }),
    success: fc.array(tie('op'), { maxLength: 3 }),
    failure: fc.array(tie('op'), { maxLength: 3 }),
  }),
  op: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ t: fc.constant('range' as const), r: rangeGenArb }),
    fc.record({ t: fc.constant('put' as const), p: putArb }),
    fc.record({ t: fc.constant('del' as const), d: delArb }),
    fc.record({ t: fc.constant('txn' as const), x: tie('txn') }),
  ),
}));

const opArb: fc.Arbitrary<OpGen> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('range' as const), r: rangeGenArb }) },
  { weight: 9, arbitrary: fc.record({ t: fc.constant('put' as const), p: putArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), d: delArb }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('txn' as const), x: txnArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const), rev: fc.nat({ max: 60 }) }) },
  { weight: 2, arbitrary: fc.constant({ t: 'commit' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reopen' as const), commitFirst: fc.boolean() }) },
);

// ---------------------------------------------------------------- realising generated ops

function pickRev(pick: number | null, model: Model): number {
  if (pick === null) return 0;
  return pick % (model.current + 2); // 0..current+1: current, past, compacted and future
}

function toRange(g: RangeGen, model: Model): RangeRequest {
  return {
    key: g.key,
    rangeEnd: g.rangeEnd,
    limit: g.limit,
    revision: pickRev(g.rev, model),
    sortOrder: g.sortOrder as never,
    sortTarget: g.sortTarget as never,
    keysOnly: g.keysOnly,
    countOnly: g.countOnly,
    minModRevision: g.filters[0],
    maxModRevision: g.filters[1],
    minCreateRevision: g.filters[2],
    maxCreateRevision: g.filters[3],
  };
}

function toCompare(g: CompareGen): Compare {
  const c: Compare = { key: g.key, rangeEnd: g.rangeEnd, target: g.target as never, result: g.result as never };
  const target = g.unionMismatch ? (g.target + 1) % 5 : g.target;
  if (target === 0) c.version = g.num;
  else if (target === 1) c.createRevision = g.num;
  else if (target === 2) c.modRevision = g.num;
  else if (target === 3) c.value = g.value;
  else c.lease = g.lease;
  return c;
}

function toTxn(g: TxnGen, model: Model): TxnRequest {
  const op = (o: TxnOpGen): RequestOp => {
    if (o.t === 'range') return { range: toRange(o.r, model) };
    if (o.t === 'put') return { put: o.p };
    if (o.t === 'del') return { deleteRange: o.d };
    return { txn: toTxn(o.x, model) };
  };
  return { compare: g.compare.map(toCompare), success: g.success.map(op), failure: g.failure.map(op) };
}

async function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await p };
  } catch (e) {
    if (isEtcdError(e)) return { err: e.kind };
    throw e;
  }
}

// ---------------------------------------------------------------- harness

interface Harness {
  store: MvccStore;
  events: Array<{ events: Event[]; revision: number }>;
  reopen(commitFirst: boolean): Promise<void>;
  dispose(): Promise<void>;
}

/** Value cache sizes: the default, and tiny ones (every value, or most, read back from the backend). */
type CacheSize = number | undefined;

async function attach(backend: Backend, h: { store: MvccStore; events: Harness['events'] }, cacheBytes: CacheSize): Promise<void> {
  // Tiny compaction steps: later ops interleave with index compaction, and a reopen interrupts the backend deletes.
  const options = { leaseExists, compactionIndexKeysPerTurn: 2, compactionBatchKeys: 2 };
  h.store = await MvccStore.open(backend, cacheBytes === undefined ? options : { ...options, valueCacheBytes: cacheBytes });
  h.store.onEvents((events, revision) => h.events.push({ events, revision }));
}

async function memoryHarness(cacheBytes: CacheSize = undefined): Promise<Harness> {
  const backend = memoryBackend();
  const h = { events: [] } as unknown as Harness;
  await attach(backend, h, cacheBytes);
  h.reopen = async (commitFirst) => {
    if (commitFirst) await h.store.commit();
    // A crash: the old store is dropped without close; the backend survives.
    await h.store.compactionSettled();
    await attach(backend, h, cacheBytes);
  };
  h.dispose = async () => h.store.close();
  return h;
}

async function levelHarness(cacheBytes: CacheSize = undefined): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-mvcc-prop-'));
  const h = { events: [] } as unknown as Harness;
  await attach(await openLevelBackend(dir), h, cacheBytes);
  h.reopen = async (commitFirst) => {
    if (commitFirst) await h.store.commit();
    // close() writes nothing: uncommitted changes are lost as in a crash.
    await h.store.close();
    await attach(await openLevelBackend(dir), h, cacheBytes);
  };
  h.dispose = async () => {
    await h.store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return h;
}

async function checkAllRevisions(h: Harness, model: Model): Promise<void> {
  assert.equal(h.store.currentRevision(), model.current, 'current revision');
  assert.equal(h.store.compactRevision(), Math.max(model.compactRev, 0), 'compact revision');
  const all = (rev: number): RangeRequest => ({
    key: Buffer.alloc(0), rangeEnd: Buffer.from([0]), limit: 0, revision: rev, sortOrder: 0, sortTarget: 0,
    keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0,
  });
  for (let rev = Math.max(model.compactRev, 1); rev <= model.current; rev++) {
    assert.deepEqual(await outcome(h.store.range(all(rev))), model.range(all(rev)), `full range at revision ${rev}`);
  }
}

async function runOps(h: Harness, ops: OpGen[]): Promise<void> {
  const model = new Model();
  for (const [i, op] of ops.entries()) {
    const where = `op ${i} (${op.t})`;
    h.events.length = 0;
    let expectedEvents: Event[] = [];
    const revBefore = model.current;
    switch (op.t) {
      case 'range': {
        const req = toRange(op.r, model);
        assert.deepEqual(await outcome(h.store.range(req)), model.range(req), where);
        break;
      }
      case 'put': {
        const m = model.put(op.p);
        assert.deepEqual(await outcome(h.store.put(op.p)), m.out, where);
        expectedEvents = m.events;
        break;
      }
      case 'del': {
        const m = model.deleteRange(op.d);
        assert.deepEqual(await outcome(h.store.deleteRange(op.d)), m.out, where);
        expectedEvents = m.events;
        break;
      }
      case 'txn': {
        const req = toTxn(op.x, model);
        const m = model.txn(req);
        assert.deepEqual(await outcome(h.store.txn(req)), m.out, where);
        expectedEvents = m.events;
        break;
      }
      case 'compact': {
        const rev = pickRev(op.rev, model);
        assert.deepEqual(await outcome(h.store.compact(rev)), model.compact(rev), where);
        break;
      }
      case 'commit':
        await h.store.commit();
        model.commit();
        break;
      case 'reopen':
        await h.reopen(op.commitFirst);
        if (op.commitFirst) model.commit();
        model.crash();
        await checkAllRevisions(h, model);
        break;
    }
    if (expectedEvents.length === 0) assert.deepEqual(h.events, [], `${where}: no events`);
    else assert.deepEqual(h.events, [{ events: expectedEvents, revision: revBefore + 1 }], `${where}: events`);
    assert.equal(h.store.currentRevision(), model.current, `${where}: current revision`);
  }
  await checkAllRevisions(h, model);
}

const opsArb = fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' });

test('MvccStore matches the model on the memory backend', async () => {
  await fc.assert(
    fc.asyncProperty(opsArb, async (ops) => {
      const h = await memoryHarness();
      try {
        await runOps(h, ops);
      } finally {
        await h.dispose();
      }
    }),
    { numRuns: 400 },
  );
});

// 0: no value is cached; the others: one to four values per generation, evicted all the time.
const tinyCacheArb = fc.constantFrom(0, 700, 1400, 2800);

test('MvccStore matches the model with a tiny value cache (values read back from the backend)', async () => {
  await fc.assert(
    fc.asyncProperty(opsArb, tinyCacheArb, async (ops, cacheBytes) => {
      const h = await memoryHarness(cacheBytes);
      try {
        await runOps(h, ops);
      } finally {
        await h.dispose();
      }
    }),
    { numRuns: 300 },
  );
});

test('MvccStore matches the model on LevelDB with a tiny value cache, across restarts', async () => {
  await fc.assert(
    fc.asyncProperty(opsArb, tinyCacheArb, async (ops, cacheBytes) => {
      const h = await levelHarness(cacheBytes);
      try {
        await runOps(h, ops);
      } finally {
        await h.dispose();
      }
    }),
    { numRuns: 60 },
  );
});

test('MvccStore matches the model on LevelDB, across restarts', async () => {
  await fc.assert(
    fc.asyncProperty(opsArb, async (ops) => {
      const h = await levelHarness();
      try {
        await runOps(h, ops);
      } finally {
        await h.dispose();
      }
    }),
    { numRuns: 120 },
  );
});

// Keep EtcdError referenced so a renamed export fails the build here too.
void EtcdError;
