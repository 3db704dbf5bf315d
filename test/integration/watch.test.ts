// Watch guarantees on a real keel process, against a model of the writes:
// ordered, unique, reliable, atomic, resumable, bookmarkable; and slow
// consumers that neither block writes nor lose events.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { etcdService } from '../../src/proto';
import { startKeel, cleanupAll, skipUnlessTools } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);
const skip = skipUnlessTools(['keel']);

interface PbKv { key: Buffer; create_revision: string; mod_revision: string; version: string; value: Buffer; lease: string }
interface PbEvent { type: number; kv: PbKv; prev_kv: PbKv | null }
interface PbWatchResponse {
  header: { revision: string }; watch_id: string; created: boolean; canceled: boolean;
  compact_revision: string; cancel_reason: string; fragment: boolean; events: PbEvent[];
}

/** A watch stream that records every response in arrival order. */
class TestStream {
  readonly responses: PbWatchResponse[] = [];
  private readonly call: grpc.ClientDuplexStream<object, PbWatchResponse>;
  private readonly client: grpc.Client;
  private waiters: Array<() => void> = [];

  constructor(endpoint: string) {
    const Watch = etcdService('Watch');
    this.client = new Watch(endpoint, grpc.credentials.createInsecure());
    this.call = (this.client as unknown as { Watch: () => grpc.ClientDuplexStream<object, PbWatchResponse> }).Watch();
    this.call.on('data', (r: PbWatchResponse) => {
      this.responses.push(r);
      for (const w of this.waiters.splice(0)) w();
    });
    this.call.on('error', () => undefined);
  }

  send(req: object): void { this.call.write(req); }
  halfClose(): void { this.call.end(); }
  pause(): void { this.call.pause(); }
  resume(): void { this.call.resume(); }

  async until(pred: (rs: PbWatchResponse[]) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.responses)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${this.responses.length} responses`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 100); });
    }
  }

  close(): void { this.call.cancel(); this.client.close(); }
}

// ---- the model ----

interface ModelKv { key: string; value: string; create: number; mod: number; version: number }
interface ModelEvent { rev: number; type: 0 | 1; key: string; kv: ModelKv | undefined; prev: ModelKv | undefined }

type Write =
  | { op: 'put'; key: string; value: string }
  | { op: 'del'; key: string; end: string | undefined }
  | { op: 'txn'; keys: [string, string]; value: string };

class Model {
  readonly live = new Map<string, ModelKv>();
  readonly events: ModelEvent[] = [];

  /** Applies a write that the server answered at `rev`. */
  apply(w: Write, rev: number): void {
    const put = (key: string, value: string): void => {
      const prev = this.live.get(key);
      const kv = { key, value, create: prev?.create ?? rev, mod: rev, version: (prev?.version ?? 0) + 1 };
      this.live.set(key, kv);
      this.events.push({ rev, type: 0, key, kv, prev });
    };
    if (w.op === 'put') put(w.key, w.value);
    else if (w.op === 'txn') for (const k of w.keys) put(k, w.value);
    else {
      const keys = [...this.live.keys()].filter((k) => (w.end === undefined ? k === w.key : k >= w.key && k < w.end)).sort();
      for (const k of keys) {
        this.events.push({ rev, type: 1, key: k, kv: undefined, prev: this.live.get(k) });
        this.live.delete(k);
      }
    }
  }
}

interface WatchSpec { key: string; end: string | undefined; prevKv: boolean; noPut: boolean; noDelete: boolean }

function expectedFor(model: Model, spec: WatchSpec, fromRev: number): ModelEvent[] {
  return model.events.filter((e) =>
    e.rev >= fromRev &&
    (spec.end === undefined ? e.key === spec.key : e.key >= spec.key && (spec.end === '\0' || e.key < spec.end)) &&
    !(e.type === 0 && spec.noPut) && !(e.type === 1 && spec.noDelete));
}

function render(e: PbEvent, withPrev: boolean): string {
  const kv = e.type === 0 ? `${e.kv.key.toString()}=${e.kv.value.toString()}@${e.kv.create_revision}/${e.kv.mod_revision}/v${e.kv.version}` : `${e.kv.key.toString()}@${e.kv.mod_revision}`;
  const p = e.prev_kv;
  return `${e.type === 0 ? 'PUT' : 'DEL'} ${kv}${withPrev && p !== null ? ` prev ${p.value.toString()}@${p.mod_revision}` : ''}`;
}

function renderModel(e: ModelEvent, withPrev: boolean): string {
  const kv = e.kv !== undefined ? `${e.key}=${e.kv.value}@${e.kv.create}/${e.kv.mod}/v${e.kv.version}` : `${e.key}@${e.rev}`;
  // etcd looks up no previous kv for a create event.
  const p = e.kv !== undefined && e.kv.version === 1 ? undefined : e.prev;
  return `${e.type === 0 ? 'PUT' : 'DEL'} ${kv}${withPrev && p !== undefined ? ` prev ${p.value}@${p.mod}` : ''}`;
}

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'e');
const writeArb: fc.Arbitrary<Write> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('del' as const), key: keyArb, end: fc.option(fc.constantFrom('c', 'f'), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('txn' as const), keys: fc.constantFrom<[string, string]>(['a', 'c'], ['b', 'e'], ['d', 'a']), value: fc.string({ maxLength: 3 }) }) },
);
const specArb: fc.Arbitrary<WatchSpec> = fc.record({
  key: keyArb,
  end: fc.option(fc.constantFrom('c', 'f', '\0'), { nil: undefined }),
  prevKv: fc.boolean(),
  noPut: fc.boolean(),
  noDelete: fc.boolean(),
}).filter((s) => s.end === undefined || s.end === '\0' || s.key < s.end);

const scenarioArb = fc.record({
  before: fc.array(writeArb, { minLength: 1, maxLength: 25 }),
  after: fc.array(writeArb, { minLength: 1, maxLength: 25 }),
  watchers: fc.array(fc.record({ spec: specArb, start: fc.nat(30), stream: fc.nat(1), cancelAt: fc.option(fc.nat(30), { nil: undefined }) }), { minLength: 1, maxLength: 6 }),
  progressAt: fc.array(fc.nat(30), { maxLength: 3 }),
});

function prefixed(p: string, s: string): string { return s === '\0' ? s : p + s; }

function withPrefix(p: string, w: Write): Write {
  if (w.op === 'put') return { ...w, key: p + w.key };
  if (w.op === 'del') return { ...w, key: p + w.key, end: w.end === undefined ? undefined : p + w.end };
  return { ...w, keys: [p + w.keys[0], p + w.keys[1]] };
}

function toRequest(p: string, w: Write): { method: string; req: object } {
  if (w.op === 'put') return { method: 'Put', req: { key: b(p + w.key), value: b(w.value) } };
  if (w.op === 'del') return { method: 'DeleteRange', req: { key: b(p + w.key), range_end: w.end === undefined ? Buffer.alloc(0) : b(p + w.end) } };
  return { method: 'Txn', req: { success: w.keys.map((k) => ({ request_put: { key: b(p + k), value: b(w.value) } })) } };
}

test('watch guarantees hold for random histories, start revisions, cancels and progress requests', { skip, timeout: 300_000 }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(scenarioArb, async (sc) => {
      const p = `w${run++}/`;
      const model = new Model();
      const doWrite = async (w: Write): Promise<void> => {
        const { method, req } = toRequest(p, w);
        const r = must(await c.call<{ header: { revision: string } }>('KV', method, req));
        const rev = Number(r.header.revision);
        // A write that changed nothing (a delete of no key) does not move the revision.
        model.apply(withPrefix(p, w), rev);
      };
      const base = Number(must(await c.range({ key: b('x') })).header!.revision);
      for (const w of sc.before) await doWrite(w);
      const streams = [new TestStream(keel.endpoint), new TestStream(keel.endpoint)];
      const watchers: Array<{ spec: WatchSpec; stream: TestStream; id: number; from: number; cancelAt: number | undefined; canceled: boolean }> = [];
      for (const [i, w] of sc.watchers.entries()) {
        const stream = streams[w.stream] as TestStream;
        const id = 100 + i;
        const startRevision = w.start === 0 ? 0 : base + w.start;
        const spec: WatchSpec = { ...w.spec, key: p + w.spec.key, end: w.spec.end === undefined ? undefined : prefixed(p, w.spec.end) };
        stream.send({ create_request: {
          key: b(spec.key), range_end: spec.end === undefined ? Buffer.alloc(0) : b(spec.end), start_revision: startRevision,
          prev_kv: spec.prevKv, filters: [...(spec.noPut ? [0] : []), ...(spec.noDelete ? [1] : [])], watch_id: id,
        } });
        await stream.until((rs) => rs.some((r) => Number(r.watch_id) === id && r.created), `created ${id}`);
        const created = stream.responses.find((r) => Number(r.watch_id) === id && r.created) as PbWatchResponse;
        assert.equal(created.canceled, false);
        const from = startRevision === 0 ? Number(created.header.revision) + 1 : startRevision;
        watchers.push({ spec, stream, id, from, cancelAt: w.cancelAt === undefined ? undefined : w.cancelAt % sc.after.length, canceled: false });
      }
      const progressMarks: Array<{ stream: TestStream; index: number }> = [];
      for (const [i, w] of sc.after.entries()) {
        for (const wt of watchers) {
          if (wt.cancelAt === i && !wt.canceled) {
            wt.canceled = true;
            wt.stream.send({ cancel_request: { watch_id: wt.id } });
          }
        }
        if (sc.progressAt.includes(i)) for (const s of streams) { s.send({ progress_request: {} }); progressMarks.push({ stream: s, index: s.responses.length }); }
        await doWrite(w);
      }
      const final = Number(must(await c.range({ key: b('x') })).header!.revision);
      // Bookmark: a progress response at the final revision means everything before it was delivered.
      // etcd 3.5 answers a progress request only on a stream that has watchers.
      for (const s of streams.filter((st) => watchers.some((w) => w.stream === st && !w.canceled))) {
        s.send({ progress_request: {} });
        await s.until((rs) => rs.some((r) => Number(r.watch_id) === -1 && Number(r.header.revision) >= final), 'final progress notification');
      }
      for (const wt of watchers) {
        const mine = wt.stream.responses.filter((r) => Number(r.watch_id) === wt.id && !r.created);
        const eventResponses = mine.filter((r) => r.events.length > 0);
        const got = eventResponses.flatMap((r) => r.events.map((e) => render(e, wt.spec.prevKv)));
        const expected = expectedFor(model, wt.spec, wt.from).map((e) => renderModel(e, wt.spec.prevKv));
        if (wt.canceled) {
          // Ordered, unique, reliable up to the cancel: exactly a prefix of the history.
          assert.deepEqual(got, expected.slice(0, got.length), `canceled watcher ${wt.id} got a prefix`);
          await wt.stream.until((rs) => rs.some((r) => Number(r.watch_id) === wt.id && r.canceled), `cancel of ${wt.id}`);
          // Resumable: a new watcher from the last delivered revision + 1 gets exactly the rest.
          const lastRev = eventResponses.length === 0 ? wt.from - 1 : Math.max(...eventResponses.flatMap((r) => r.events.map((e) => Number(e.kv.mod_revision))));
          const resumeId = wt.id + 1000;
          wt.stream.send({ create_request: { key: b(wt.spec.key), range_end: wt.spec.end === undefined ? Buffer.alloc(0) : b(wt.spec.end), start_revision: lastRev + 1, prev_kv: wt.spec.prevKv, filters: [...(wt.spec.noPut ? [0] : []), ...(wt.spec.noDelete ? [1] : [])], watch_id: resumeId } });
          const rest = expectedFor(model, wt.spec, lastRev + 1).map((e) => renderModel(e, wt.spec.prevKv));
          await wt.stream.until((rs) => rs.filter((r) => Number(r.watch_id) === resumeId).flatMap((r) => r.events).length >= rest.length, `resumed watcher ${resumeId}`);
          const resumed = wt.stream.responses.filter((r) => Number(r.watch_id) === resumeId).flatMap((r) => r.events.map((e) => render(e, wt.spec.prevKv)));
          assert.deepEqual([...got, ...resumed], expected, `resume after ${lastRev} completes the history`);
        } else {
          assert.deepEqual(got, expected, `watcher ${wt.id} from ${wt.from} (${JSON.stringify(wt.spec)})`);
        }
        // Atomic: the events of one revision arrive in one response.
        const seenIn = new Map<number, number>();
        eventResponses.forEach((r, i) => {
          for (const e of r.events) {
            const rev = Number(e.kv.mod_revision);
            const prev = seenIn.get(rev);
            assert.ok(prev === undefined || prev === i, `revision ${rev} split across responses for watcher ${wt.id}`);
            seenIn.set(rev, i);
          }
        });
      }
      // Bookmarkable: at each progress response P, every event <= P of the stream's live watchers had arrived.
      for (const s of streams) {
        s.responses.forEach((r, idx) => {
          if (Number(r.watch_id) !== -1) return;
          const at = Number(r.header.revision);
          for (const wt of watchers.filter((w) => w.stream === s && !w.canceled)) {
            const before = s.responses.slice(0, idx).filter((x) => Number(x.watch_id) === wt.id).flatMap((x) => x.events).length;
            const due = expectedFor(model, wt.spec, wt.from).filter((e) => e.rev <= at).length;
            assert.ok(before >= due, `progress at ${at} came before watcher ${wt.id}'s events (${before} < ${due})`);
          }
        });
      }
      for (const s of streams) s.close();
    }),
    { numRuns: 25, seed: Number(process.env['WATCH_SEED'] ?? 20261122), endOnFailure: true, includeErrorInReport: true },
  );
  c.close();
});

test('a watch from a compacted revision is created, then canceled with compact_revision', { skip }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  for (let i = 0; i < 5; i++) must(await c.put({ key: b('k'), value: b(String(i)) }));
  must(await c.compact({ revision: 4 }));
  const s = new TestStream(keel.endpoint);
  s.send({ create_request: { key: b('k'), start_revision: 2 } });
  await s.until((rs) => rs.length >= 2, 'created then canceled');
  assert.equal(s.responses[0]?.created, true);
  assert.equal(s.responses[1]?.canceled, true);
  assert.equal(s.responses[1]?.compact_revision, '4');
  s.send({ create_request: { key: b('k'), start_revision: 4, watch_id: 7 } });
  await s.until((rs) => rs.some((r) => r.watch_id === '7' && r.events.length > 0), 'events from the compaction point');
  assert.deepEqual(s.responses.filter((r) => r.watch_id === '7').flatMap((r) => r.events.map((e) => e.kv.value.toString())), ['2', '3', '4']);
  s.send({ create_request: { key: b('k'), watch_id: 7 } });
  await s.until((rs) => rs.some((r) => r.cancel_reason !== ''), 'duplicate watch id refused');
  const dup = s.responses.find((r) => r.cancel_reason !== '') as PbWatchResponse;
  assert.deepEqual([dup.watch_id, dup.created, dup.canceled, dup.cancel_reason], ['-1', true, true, 'mvcc: duplicate watch ID provided on the WatchStream']);
  s.close();
  c.close();
});

test('a consumer that stops reading neither blocks writes nor loses events, nor starves a quiet watcher', { skip, timeout: 120_000 }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  const s = new TestStream(keel.endpoint);
  s.send({ create_request: { key: b('big/'), range_end: b('big0'), watch_id: 1 } });
  s.send({ create_request: { key: b('small'), watch_id: 2 } });
  await s.until((rs) => rs.filter((r) => r.created).length === 2, 'both created');
  s.pause();
  const value = Buffer.alloc(8 * 1024, 'x');
  const writes = 1500;
  for (let i = 0; i < writes; i++) {
    must(await c.put({ key: b(`big/${i % 50}`), value }));
    if (i === writes / 2) must(await c.put({ key: b('small'), value: b('hello') }));
  }
  s.resume();
  await s.until((rs) => rs.filter((r) => r.watch_id === '1').flatMap((r) => r.events).length >= writes, 'every big event', 60_000);
  const big = s.responses.filter((r) => r.watch_id === '1').flatMap((r) => r.events.map((e) => Number(e.kv.mod_revision)));
  assert.equal(big.length, writes);
  for (let i = 1; i < big.length; i++) assert.ok((big[i] as number) > (big[i - 1] as number), 'ordered, no duplicates');
  const small = s.responses.filter((r) => r.watch_id === '2').flatMap((r) => r.events.map((e) => e.kv.value.toString()));
  assert.deepEqual(small, ['hello']);
  s.close();
  c.close();
});

test('a client that half-closes its watch stream still receives events (etcd keeps the stream open)', { skip }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  const s = new TestStream(keel.endpoint);
  s.send({ create_request: { key: b('hc') } });
  await s.until((rs) => rs.some((r) => r.created), 'created');
  s.halfClose();
  must(await c.put({ key: b('hc'), value: b('after half-close') }));
  await s.until((rs) => rs.some((r) => r.events.length > 0), 'the event after half-close');
  assert.equal(s.responses.flatMap((r) => r.events)[0]?.kv.value.toString(), 'after half-close');
  s.close();
  c.close();
});

test('a negative start revision replays all history, or is canceled as compacted once history was compacted (as etcd)', { skip }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  const s = new TestStream(keel.endpoint);
  s.send({ create_request: { key: b('n'), start_revision: -1, watch_id: 1 } });
  await s.until((rs) => rs.some((r) => r.watch_id === '1' && r.created), 'created on an empty store');
  for (const v of ['a', 'b', 'c']) must(await c.put({ key: b('n'), value: b(v) }));
  await s.until((rs) => rs.filter((r) => r.watch_id === '1').flatMap((r) => r.events).length >= 3, 'the puts');
  s.send({ create_request: { key: b('n'), start_revision: -1, watch_id: 2 } });
  await s.until((rs) => rs.filter((r) => r.watch_id === '2').flatMap((r) => r.events).length >= 3, 'all history replayed');
  assert.deepEqual(s.responses.filter((r) => r.watch_id === '2').flatMap((r) => r.events.map((e) => e.kv.value.toString())), ['a', 'b', 'c']);
  must(await c.compact({ revision: 3 }));
  s.send({ create_request: { key: b('n'), start_revision: -1, watch_id: 3 } });
  await s.until((rs) => rs.some((r) => r.watch_id === '3' && r.canceled), 'canceled as compacted');
  assert.equal(s.responses.find((r) => r.watch_id === '3' && r.canceled)?.compact_revision, '3');
  s.close();
  c.close();
});

test('one put fans out to hundreds of watchers on shared streams: each gets every event once, in order, also through a stall', { skip, timeout: 120_000 }, async () => {
  const keel = await startKeel();
  const c = new EtcdClient(keel.endpoint);
  const streams = [new TestStream(keel.endpoint), new TestStream(keel.endpoint)];
  const perStream = 250;
  for (const s of streams) {
    for (let id = 1; id <= perStream; id++) {
      // Single-key watchers, with and without prev_kv, and some prefix watchers.
      const create = id % 5 === 0 ? { key: b('fan'), range_end: b('fao'), watch_id: id } : { key: b('fan'), prev_kv: id % 2 === 0, watch_id: id };
      s.send({ create_request: create });
    }
  }
  for (const s of streams) await s.until((rs) => rs.filter((r) => r.created).length === perStream, 'every watcher created');
  const value = Buffer.alloc(2048, 'v');
  const puts = 120;
  const revs: number[] = [];
  for (let i = 0; i < puts; i++) {
    // The second stream stops reading for a while: its buffer fills and its watchers catch up from storage.
    if (i === 30) streams[1]?.pause();
    if (i === 90) streams[1]?.resume();
    const r = must(await c.put({ key: b('fan'), value: Buffer.concat([value, b(String(i))]) })) as { header: { revision: string } };
    revs.push(Number(r.header.revision));
  }
  for (const s of streams) {
    await s.until((rs) => rs.reduce((n, r) => n + r.events.length, 0) >= perStream * puts, 'every event to every watcher', 60_000);
    const byWatch = new Map<string, PbWatchResponse[]>();
    for (const r of s.responses) {
      if (r.created) continue;
      const list = byWatch.get(r.watch_id) ?? [];
      list.push(r);
      byWatch.set(r.watch_id, list);
    }
    assert.equal(byWatch.size, perStream);
    for (const [id, rs] of byWatch) {
      const evs = rs.flatMap((r) => r.events);
      assert.deepEqual(evs.map((e) => Number(e.kv.mod_revision)), revs, `watch ${id}: every revision once, in order`);
      assert.deepEqual(evs.map((e) => e.kv.value.subarray(value.length).toString()), revs.map((_, i) => String(i)));
      const wantPrev = Number(id) % 2 === 0 && Number(id) % 5 !== 0;
      assert.ok(evs.slice(1).every((e) => (e.prev_kv !== null) === wantPrev), `watch ${id}: prev_kv as asked`);
    }
  }
  for (const s of streams) s.close();
  c.close();
});

test('a catch-up response over --max-request-bytes is fragmented for a watcher that asked (etcd\'s sendFragments), whole for one that did not', { skip }, async () => {
  const keel = await startKeel({ extraArgs: ['--max-request-bytes', '4096'] });
  const c = new EtcdClient(keel.endpoint);
  const value = Buffer.alloc(1000, 'f');
  const revs: string[] = [];
  for (let i = 0; i < 20; i++) revs.push((must(await c.put({ key: b(`frag/${i}`), value })) as { header: { revision: string } }).header.revision);
  const s = new TestStream(keel.endpoint);
  s.send({ create_request: { key: b('frag/'), range_end: b('frag0'), start_revision: revs[0], fragment: true, watch_id: 1 } });
  s.send({ create_request: { key: b('frag/'), range_end: b('frag0'), start_revision: revs[0], watch_id: 2 } });
  const eventsOf = (id: string): PbEvent[] => s.responses.filter((r) => r.watch_id === id).flatMap((r) => r.events);
  await s.until(() => eventsOf('1').length >= 20 && eventsOf('2').length >= 20, 'the history, twice');
  const parts = s.responses.filter((r) => r.watch_id === '1' && !r.created);
  assert.ok(parts.length > 1, 'split');
  // Each event is ~1 KB: at most 3 fit under 4096 bytes; every part but the last says more follow.
  assert.ok(parts.every((r) => r.events.length >= 1 && r.events.length <= 3));
  assert.deepEqual(parts.map((r) => r.fragment), parts.map((_, i) => i < parts.length - 1));
  assert.deepEqual(eventsOf('1').map((e) => e.kv.mod_revision), revs);
  const whole = s.responses.filter((r) => r.watch_id === '2' && !r.created);
  assert.deepEqual(whole.map((r) => [r.fragment, r.events.length]), [[false, 20]]);
  s.close();
  c.close();
});
