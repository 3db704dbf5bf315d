// watch and watch-get: the two workloads that hold watch streams open. Both
// run in the main thread (the event receipt is what is being timed).
//
// watch (etcd's `benchmark watch`): --streams streams over --conns
// connections, --watch-per-stream watchers on each (created one at a time per
// stream, as clientv3 does; watcher w watches watched key w mod
// --watched-key-total), then --put-total puts to the watched keys (put i to
// watched key i mod --watched-key-total) by --clients, closed loop or at
// --put-rate. Three series: watch creation (create sent → created answer),
// put (send → answer), and the primary one, put→event: from a put's send to
// each watcher's receipt of its event. The put's index and a run nonce travel
// in the first 8 bytes of the value, so every event finds its put's send time
// (and events from other writers are ignored, not mistimed).
//
// watch-get (etcd's `benchmark watch-get`): put --events values to
// "watchkey", then --watchers watchers over --streams streams, all starting
// at the first of those revisions, so each must catch up on --events past
// events (unsynced watchers); from the first create until every watcher has
// caught up, one client does serializable Gets of "abc" (at most --get-total).
// The primary series is those gets; also reported: creation, and per-watcher
// catch-up (create sent → its last past event received).
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decodeWatchResponse, newWatchMessage, type WatchMessage } from '../pb-lite';
import {
  benchKey, call, connect, countError, errorKind, errorText, eventSamplesMax, identity, latencyInitialSamples, mergeErrors, method, prefixEnd, waitReady, type Method,
} from './common';
import { makeGetDriver } from './kv';
import { LoopControl, runLoop, type Done, type Driver } from './loop';
import type { Options } from './options';
import type { Progress } from './progress';
import type { RunOutput, SeriesData } from './report';

type Events = (m: WatchMessage, b: Buffer, at: number) => void;
/** A watcher the server canceled after creating it (e.g. its start revision was compacted). */
type Canceled = (watchId: number, reason: string) => void;

/** One Watch stream; creates are sequential (one outstanding), as clientv3's watcher sends them. */
class WatchStream {
  readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  broken: string | undefined;
  private waiter: { register: (id: number) => void; resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly message = newWatchMessage();
  private verified = false;

  constructor(conn: grpc.Client, private readonly m: Method, private readonly onEvents: Events, private readonly onBroken: (why: string) => void,
    private readonly onCanceled: Canceled) {
    this.call = conn.makeBidiStreamRequest(m.path, identity, identity, new grpc.Metadata());
    this.call.on('data', (b: Buffer) => this.onData(b));
    this.call.on('error', (e: grpc.ServiceError) => this.fail(errorKind(e)));
    this.call.on('end', () => this.fail('watch stream ended by the server'));
  }

  /** Sends a create request; `register` runs synchronously with the new watch ID, before any of its events is handled. */
  create(request: Record<string, unknown>, timeoutMs: number, register: (id: number) => void): Promise<void> {
    if (this.broken !== undefined) return Promise.reject(new Error(this.broken));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = undefined; reject(new Error('watch create: no answer before the hard stop')); }, Math.max(1, timeoutMs));
      this.waiter = {
        register,
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.call.write(this.m.requestSerialize({ create_request: request }));
    });
  }

  close(): void {
    this.broken ??= 'closed';
    this.call.cancel();
  }

  private onData(b: Buffer): void {
    const at = performance.now();
    const m = this.message;
    try {
      decodeWatchResponse(b, m);
      if (!this.verified && m.events > 0) this.verify(b, m);
    } catch (e) {
      this.fail(`bad watch response: ${errorText(e)}`);
      return;
    }
    if (m.created) {
      const w = this.waiter;
      this.waiter = undefined;
      if (w === undefined) return;
      if (m.canceled || m.watchId < 0) w.reject(new Error(`watch create refused: ${m.cancelReason || 'canceled'}`));
      else { w.register(m.watchId); w.resolve(); }
      return;
    }
    if (m.events > 0) this.onEvents(m, b, at);
    if (m.canceled) this.onCanceled(m.watchId, m.cancelReason || `compacted at ${m.compactRevision}`);
  }

  /** pb-lite reads only what the benchmark needs; check it once per stream against the full decoder. */
  private verify(b: Buffer, m: WatchMessage): void {
    const full = this.m.responseDeserialize(b) as { watch_id?: string; events?: { kv?: { mod_revision?: string } | null }[] };
    const ok = String(full.watch_id ?? '0') === String(m.watchId) && (full.events?.length ?? 0) === m.events
      && String(full.events?.[0]?.kv?.mod_revision ?? '0') === String(m.eventModRevision[0]);
    if (!ok) throw new Error('pb-lite and the proto decoder disagree');
    this.verified = true;
  }

  private fail(why: string): void {
    if (this.broken !== undefined) return;
    this.broken = why;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new Error(why));
    this.onBroken(why);
  }
}

interface Clock {
  startMs: number;
  hardStopAt: number;
  remainingMs(): number;
}

function clock(durationMaxSeconds: number): Clock {
  const startMs = performance.now();
  const hardStopAt = startMs + durationMaxSeconds * 1000;
  return { startMs, hardStopAt, remainingMs: () => hardStopAt - performance.now() };
}

/** Resolves when `done()` holds (checked whenever `kick` is called) or at the hard stop; true if done. */
function until(c: Clock): { kick: (done: boolean) => void; wait: Promise<boolean> } {
  let settle: (v: boolean) => void = () => undefined;
  const wait = new Promise<boolean>((resolve) => { settle = resolve; });
  const timer = setTimeout(() => settle(false), Math.max(0, c.remainingMs()));
  return { kick: (done) => { if (done) { clearTimeout(timer); settle(true); } }, wait };
}

async function openConns(o: Options): Promise<grpc.Client[]> {
  const conns = Array.from({ length: o.conns }, (_, i) => connect(o.endpoints[i % o.endpoints.length] as string));
  await waitReady(conns, o.durationMaxSeconds);
  return conns;
}

interface Creation {
  latencies: Float64Array;
  created: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
}

/**
 * Creates watchers stream by stream, one at a time per stream, all streams at
 * once; watcher w is on stream w mod streams. `request(w)` gives its create
 * request, `register(w, stream, id)` records it.
 */
async function createWatchers(streams: WatchStream[], watchers: number, c: Clock, progress: Progress,
  request: (w: number) => Record<string, unknown>, register: (w: number, s: number, id: number) => void,
  beforeFirst: () => void = () => undefined): Promise<Creation> {
  const out: Creation = { latencies: new Float64Array(watchers), created: 0, failed: 0, errors: {}, seconds: 0 };
  progress.start('watch create', watchers, () => out.created + out.failed);
  const t0 = performance.now();
  let first = true;
  await Promise.all(streams.map(async (stream, s) => {
    for (let w = s; w < watchers; w += streams.length) {
      if (c.remainingMs() <= 0 || stream.broken !== undefined) { out.failed++; countError(out.errors, stream.broken ?? 'not created: hard stop'); continue; }
      if (first) { first = false; beforeFirst(); }
      const at = performance.now();
      try {
        await stream.create(request(w), c.remainingMs(), (id) => register(w, s, id));
        out.latencies[out.created++] = performance.now() - at;
      } catch (e) {
        out.failed++;
        countError(out.errors, errorText(e));
      }
    }
  }));
  out.seconds = (performance.now() - t0) / 1000;
  progress.finish();
  return out;
}

function creationSeries(cr: Creation, total: number): SeriesData {
  return {
    name: 'create', heading: 'Watch creation summary (create request sent → created answer):', latenciesMs: cr.latencies.subarray(0, cr.created),
    errors: cr.errors, seconds: cr.seconds, total, unfinished: 0,
  };
}

// ---- watch ----------------------------------------------------------------------------

/** Doubles a latency buffer, never past `max`. */
function grown(a: Float64Array, max: number): Float64Array {
  const b = new Float64Array(Math.max(1, Math.min(max, a.length * 2)));
  b.set(a);
  return b;
}

/** Puts to the watched keys, stamping each value with its index and the run nonce, and noting its send time. */
class StampedPutDriver implements Driver {
  readonly series = ['put'] as const;
  private readonly m = method('KV', 'Put');
  private readonly metadata = new grpc.Metadata();
  private readonly options: grpc.CallOptions;

  constructor(private readonly conns: grpc.Client[], private readonly keys: Buffer[], private readonly base: Buffer,
    private readonly sendAt: Float64Array, private readonly onPut: (g: number) => void, ctl: LoopControl) {
    this.options = ctl.callOptions;
  }

  issue(client: number, g: number, done: Done): void {
    const value = Buffer.from(this.base);
    value.writeUInt32BE(g, 0);
    const request = this.m.requestSerialize({ key: this.keys[g % this.keys.length], value });
    this.sendAt[g] = performance.now();
    (this.conns[client % this.conns.length] as grpc.Client).makeUnaryRequest(this.m.path, identity, identity, request, this.metadata,
      this.options, (err) => {
        if (err) { done(errorKind(err)); return; }
        this.onPut(g);
        done();
      });
  }

  async close(): Promise<void> {
    // Connections belong to the caller.
  }
}

export async function runWatch(o: Options, progress: Progress): Promise<RunOutput> {
  const c = clock(o.durationMaxSeconds);
  const conns = await openConns(o);
  const cpuStart = process.cpuUsage();
  const eluStart = performance.eventLoopUtilization();
  const watchM = method('Watch', 'Watch');
  const watched = Array.from({ length: o.watchedKeyTotal },
    (_, i) => benchKey(o.sequentialKeys ? i % o.keySpaceSize : Math.floor(Math.random() * o.keySpaceSize), o.keySize));
  const keyName = watched.map((k) => k.toString('latin1'));
  const watchers = o.streams * o.watchPerStream;
  const planned = plannedEvents(o, keyName, watchers);
  if (planned > eventSamplesMax) throw new Error(`watch: ${planned} events expected, more than ${eventSamplesMax}; lower --put-total or the watchers`);

  // Who owes what: a successful put to key K is owed one event by each watcher of K on a live stream.
  const watchersOf = new Map<string, Map<number, number>>(); // key → stream → watchers
  const owed = new Array<number>(o.streams).fill(0);
  const got = new Array<number>(o.streams).fill(0);
  const dead = new Array<boolean>(o.streams).fill(false);
  let expected = 0;
  let received = 0;
  let foreign = 0;
  let lastEventAt = 0;
  let putsDone = false;
  const lostErrors: Record<string, number> = {};
  const nonce = randomBytes(4);
  const base = Buffer.concat([Buffer.alloc(4), nonce, randomBytes(o.valSize - 8)]);
  const sendAt = new Float64Array(o.putTotal);
  let eventLat: Float64Array = new Float64Array(Math.min(planned, latencyInitialSamples));
  const settled = until(c);
  const check = (): void => settled.kick(putsDone && received >= expected);

  const onEvents = (s: number): Events => (m, b, at) => {
    for (let e = 0; e < m.events; e++) {
      const vs = m.eventValueStart[e] as number;
      const idx = m.eventValueEnd[e] as number - vs >= 8 && b.compare(nonce, 0, 4, vs + 4, vs + 8) === 0 ? b.readUInt32BE(vs) : -1;
      const sent = idx >= 0 && idx < sendAt.length ? (sendAt[idx] as number) : 0;
      if (sent === 0 || received >= planned) { foreign++; continue; }
      if (received === eventLat.length) eventLat = grown(eventLat, planned);
      eventLat[received++] = at - sent;
      got[s] = (got[s] as number) + 1;
      lastEventAt = at;
    }
    check();
  };
  const onBroken = (s: number) => (why: string): void => {
    // Events this stream still owes will never come: stop waiting for them, and say so.
    dead[s] = true;
    const lost = (owed[s] as number) - (got[s] as number);
    if (lost > 0) {
      mergeErrors(lostErrors, { [`events lost with their stream: ${why}`]: lost });
      expected -= lost;
      owed[s] = got[s] as number;
    }
    check();
  };
  const onPut = (g: number): void => {
    for (const [s, n] of watchersOf.get(keyName[g % keyName.length] as string) ?? []) {
      if (dead[s] === true) continue;
      owed[s] = (owed[s] as number) + n;
      expected += n;
    }
  };
  // Rare (the watchers start at the current revision): noted, and the wait for their events ends at the hard stop.
  const onCanceled: Canceled = (_id, reason) => countError(lostErrors, `watcher canceled by the server: ${reason}`);
  const streams = Array.from({ length: o.streams },
    (_, s) => new WatchStream(conns[s % conns.length] as grpc.Client, watchM, onEvents(s), onBroken(s), onCanceled));

  const creation = await createWatchers(streams, watchers, c, progress,
    (w) => {
      const key = watched[w % watched.length] as Buffer;
      return o.watchPrefix ? { key, range_end: prefixEnd(key) } : { key };
    },
    (w, s) => {
      const name = keyName[w % keyName.length] as string;
      const perStream = watchersOf.get(name) ?? new Map<number, number>();
      perStream.set(s, (perStream.get(s) ?? 0) + 1);
      watchersOf.set(name, perStream);
    });

  progress.start('watch events', planned, () => received);
  const putStart = performance.now();
  const putCtl = new LoopControl(Math.max(0.001, c.remainingMs() / 1000));
  const putResult = await runLoop(new StampedPutDriver(conns, watched, base, sendAt, onPut, putCtl),
    { clients: o.clients, quota: o.putTotal, rate: o.putRate, progress: new Int32Array(1), progressSlot: 0, workerIndex: 0, workerCount: 1 }, putCtl);
  putsDone = true;
  check();
  const allEvents = await settled.wait;
  progress.finish();
  for (const s of streams) s.close();
  for (const conn of conns) conn.close();

  const cpu = process.cpuUsage(cpuStart);
  const elu = performance.eventLoopUtilization(eluStart).utilization;
  const putSeconds = (putResult.endEpochMs - putResult.startEpochMs) / 1000;
  return {
    series: [
      {
        name: 'watch', heading: 'Watch events received summary (put sent → event received, per watcher):',
        latenciesMs: eventLat.subarray(0, received), errors: lostErrors,
        seconds: ((lastEventAt > 0 ? lastEventAt : performance.now()) - putStart) / 1000, total: expected, unfinished: Math.max(0, expected - received),
      },
      creationSeries(creation, watchers),
      { name: 'put', heading: 'Put summary:', latenciesMs: putResult.latenciesMs, errors: putResult.errors, seconds: putSeconds, total: o.putTotal, unfinished: putResult.unfinished },
    ],
    sections: ['create', 'put', 'watch'],
    counters: {
      watchers_planned: watchers, watchers_created: creation.created, events_planned: planned, events_expected: expected,
      events_received: received, events_foreign: foreign, streams_lost: dead.filter((d) => d).length,
    },
    cpu, wallMs: performance.now() - c.startMs, elu: [elu],
    hardStopped: !allEvents || putResult.hardStopped || (creation.failed > 0 && c.remainingMs() <= 0), lateDispatches: putResult.lateDispatches,
  };
}

/** Events if every watcher is created and every put succeeds: puts to a key × its watchers (random keys may repeat). */
function plannedEvents(o: Options, keyName: string[], watchers: number): number {
  const n = keyName.length;
  const putsToName = new Map<string, number>();
  keyName.forEach((name, k) => putsToName.set(name, (putsToName.get(name) ?? 0) + Math.floor(o.putTotal / n) + (k < o.putTotal % n ? 1 : 0)));
  let planned = 0;
  for (let w = 0; w < watchers; w++) planned += putsToName.get(keyName[w % n] as string) ?? 0;
  return planned;
}

// ---- watch-get ------------------------------------------------------------------------

const watchGetKey = Buffer.from('watchkey');
const watchGetGetKey = Buffer.from('abc');

export async function runWatchGet(o: Options, progress: Progress): Promise<RunOutput> {
  const c = clock(o.durationMaxSeconds);
  const conns = await openConns(o);
  const getConn = connect(o.endpoints[0] as string);
  await waitReady([getConn], o.durationMaxSeconds);
  const put = method('KV', 'Put');
  let watchRevision = '0';
  for (let i = 0; i < o.events; i++) {
    const r = await call<{ header?: { revision?: string } | null }>(conns[0] as grpc.Client, put,
      { key: watchGetKey, value: Buffer.from(String(i)) }, new Date(Date.now() + Math.max(1, c.remainingMs())));
    if (i === 0) watchRevision = String(r.header?.revision ?? '0');
  }
  const cpuStart = process.cpuUsage();
  const eluStart = performance.eventLoopUtilization();
  const watchM = method('Watch', 'Watch');
  const eventsSeen = new Int32Array(o.watchers);
  const createdAt = new Float64Array(o.watchers);
  const catchup = new Float64Array(o.watchers);
  let caughtUp = 0;
  let eventsTotal = 0;
  let lostWatchers = 0;
  let created = 0;
  let creating = true;
  const ids = Array.from({ length: o.streams }, () => new Map<number, number>());
  const allDone = until(c);
  const check = (): void => allDone.kick(!creating && caughtUp + lostWatchers >= created);
  const onEvents = (s: number): Events => (m, _b, at) => {
    const w = ids[s]?.get(m.watchId);
    if (w === undefined) return;
    const before = eventsSeen[w] as number;
    eventsSeen[w] = before + m.events;
    eventsTotal += Math.min(m.events, Math.max(0, o.events - before));
    if (before < o.events && before + m.events >= o.events) {
      catchup[caughtUp++] = at - (createdAt[w] as number);
      check();
    }
  };
  let lostWithStreams = 0;
  const onBroken = (s: number) => (): void => {
    for (const w of ids[s]?.values() ?? []) if ((eventsSeen[w] as number) < o.events) { lostWatchers++; lostWithStreams++; }
    ids[s]?.clear();
    check();
  };

  const canceled: Record<string, number> = {};
  const onCanceled = (s: number): Canceled => (id, reason) => {
    const w = ids[s]?.get(id);
    if (w === undefined || (eventsSeen[w] as number) >= o.events) return;
    ids[s]?.delete(id);
    lostWatchers++;
    countError(canceled, `watcher canceled by the server: ${reason}`);
    check();
  };
  const streams = Array.from({ length: o.streams },
    (_, s) => new WatchStream(conns[s % conns.length] as grpc.Client, watchM, onEvents(s), onBroken(s), onCanceled(s)));

  const getCtl = new LoopControl(Math.max(0.001, c.remainingMs() / 1000));
  let gets: Promise<Awaited<ReturnType<typeof runLoop>>> | undefined;
  const startGets = (): void => {
    gets = runLoop(makeGetDriver([getConn], watchGetGetKey, getCtl),
      { clients: 1, quota: o.getTotal, rate: 0, progress: new Int32Array(1), progressSlot: 0, workerIndex: 0, workerCount: 1 }, getCtl);
  };
  const creation = await createWatchers(streams, o.watchers, c, progress,
    (w) => { createdAt[w] = performance.now(); return { key: watchGetKey, start_revision: watchRevision }; },
    (w, s, id) => { ids[s]?.set(id, w); },
    startGets);
  created = creation.created;
  creating = false;
  progress.start('watch-get events', Math.max(1, created * o.events), () => eventsTotal);
  check();
  const finished = await allDone.wait;
  getCtl.stop();
  const getResult = gets !== undefined ? await gets : undefined;
  progress.finish();
  for (const s of streams) s.close();
  for (const conn of conns) conn.close();
  getConn.close();

  const cpu = process.cpuUsage(cpuStart);
  const elu = performance.eventLoopUtilization(eluStart).utilization;
  const catchupErrors: Record<string, number> = { ...canceled };
  if (lostWithStreams > 0) mergeErrors(catchupErrors, { 'watchers lost with their stream': lostWithStreams });
  const getSeconds = getResult !== undefined ? (getResult.endEpochMs - getResult.startEpochMs) / 1000 : 0;
  return {
    series: [
      {
        name: 'watch-get', heading: 'Get during watch summary:', latenciesMs: getResult?.latenciesMs ?? new Float64Array(0),
        errors: getResult?.errors ?? {}, seconds: getSeconds, unfinished: getResult?.unfinished ?? 0,
        // --get-total is a cap: the gets stop when the watchers have caught up, so the total is what was issued.
        total: getResult !== undefined ? getResult.count + Object.values(getResult.errors).reduce((a, n) => a + n, 0) + getResult.unfinished : 0,
      },
      creationSeries(creation, o.watchers),
      {
        name: 'catchup', heading: `Watcher catch-up summary (create request sent → all ${o.events} past events received):`,
        latenciesMs: catchup.subarray(0, caughtUp), errors: catchupErrors,
        seconds: (performance.now() - c.startMs) / 1000, total: created, unfinished: Math.max(0, created - caughtUp - lostWatchers),
      },
    ],
    sections: ['create', 'catchup', 'watch-get'],
    counters: {
      watchers_created: created, watchers_caught_up: caughtUp, events: o.events, watch_revision: Number(watchRevision),
      streams_lost: streams.filter((s) => s.broken !== undefined && s.broken !== 'closed').length,
    },
    cpu, wallMs: performance.now() - c.startMs, elu: [elu],
    hardStopped: !finished || (getResult?.hardStopped ?? false), lateDispatches: 0,
  };
}
