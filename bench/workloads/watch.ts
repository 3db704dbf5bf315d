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
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { codecFor, type Client } from '../../src/client';
import { prefixEnd, WatchStreams, type WatchHandlers } from '../watchers';
import { makeGetDriver } from './kv';
import { connect, countError, errorText, LoopControl, mergeErrors, runLoop, type Done, type Driver, type WorkerResult } from './loop';
import { benchKey, eventSamplesMax, type Options } from './options';
import type { Progress } from './progress';
import type { RunOutput, SeriesData } from './report';

const now = (): number => performance.now();

interface Clock { startMs: number; remainingMs(): number }

function clock(durationMaxSeconds: number): Clock {
  const startMs = now();
  return { startMs, remainingMs: () => startMs + durationMaxSeconds * 1000 - now() };
}

/** Resolves true when `kick(true)` is called, false at the hard stop. */
function until(c: Clock): { kick: (done: boolean) => void; wait: Promise<boolean> } {
  let settle: (v: boolean) => void = () => undefined;
  const wait = new Promise<boolean>((resolve) => { settle = resolve; });
  const timer = setTimeout(() => settle(false), Math.max(0, c.remainingMs()));
  return { kick: (done) => { if (done) { clearTimeout(timer); settle(true); } }, wait };
}

function openConns(o: Options): Promise<Client[]> {
  return connect(Array.from({ length: o.conns }, (_, i) => o.endpoints[i % o.endpoints.length] as string), o.durationMaxSeconds);
}

interface Creation { latencies: Float64Array; created: number; failed: number; errors: Record<string, number>; seconds: number }

/** Creates watchers stream by stream, one at a time per stream, all streams at once. */
async function createWatchers(ws: WatchStreams, watchers: number, c: Clock, progress: Progress,
  request: (w: number) => Record<string, unknown>, onCreated: (w: number) => void, beforeFirst = (): void => undefined): Promise<Creation> {
  const out: Creation = { latencies: new Float64Array(watchers), created: 0, failed: 0, errors: {}, seconds: 0 };
  progress.start('watch create', watchers, () => out.created + out.failed);
  const t0 = now();
  beforeFirst();
  await Promise.all(Array.from({ length: ws.count }, async (_, s) => {
    for (let w = s; w < watchers; w += ws.count) {
      const broken = ws.brokenWhy(s);
      if (c.remainingMs() <= 0 || broken !== undefined) { out.failed++; countError(out.errors, broken ?? 'not created: hard stop'); continue; }
      const at = now();
      try {
        await ws.create(w, request(w), c.remainingMs());
        out.latencies[out.created++] = now() - at;
        onCreated(w);
      } catch (e) {
        out.failed++;
        countError(out.errors, errorText(e));
      }
    }
  }));
  out.seconds = (now() - t0) / 1000;
  progress.finish();
  return out;
}

function creationSeries(cr: Creation, total: number): SeriesData {
  return {
    name: 'create', heading: 'Watch creation summary (create request sent → created answer):', latenciesMs: cr.latencies.subarray(0, cr.created),
    errors: cr.errors, seconds: cr.seconds, total, unfinished: 0,
  };
}

const oneLoop = { progress: new Int32Array(1), progressSlot: 0, workerIndex: 0, workerCount: 1 };

function loopTotal(r: WorkerResult): number {
  return r.count + Object.values(r.errors).reduce((a, n) => a + n, 0) + r.unfinished;
}

// ---- watch ----------------------------------------------------------------------------

/** Puts to the watched keys, stamping each value with its index and the run nonce, and noting its send time. */
class StampedPutDriver implements Driver {
  readonly series = ['put'] as const;

  constructor(private readonly conns: Client[], private readonly keys: Buffer[], private readonly base: Buffer,
    private readonly sendAt: Float64Array, private readonly onPut: (g: number) => void, private readonly ctl: LoopControl) {}

  issue(client: number, g: number, done: Done): void {
    const value = Buffer.from(this.base);
    value.writeUInt32BE(g, 0);
    const request = codecFor('KV', 'Put').encode({ key: this.keys[g % this.keys.length], value });
    this.sendAt[g] = now();
    (this.conns[client % this.conns.length] as Client).callRaw('KV', 'Put', request, this.ctl.callOptions)
      .then(() => { this.onPut(g); done(); }, (e: unknown) => done(errorText(e)));
  }

  async close(): Promise<void> {
    // Connections belong to the caller.
  }
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

export async function runWatch(o: Options, progress: Progress): Promise<RunOutput> {
  const c = clock(o.durationMaxSeconds);
  const conns = await openConns(o);
  const cpuStart = process.cpuUsage();
  const eluStart = performance.eventLoopUtilization();
  const watched = Array.from({ length: o.watchedKeyTotal },
    (_, i) => benchKey(o.sequentialKeys ? i % o.keySpaceSize : Math.floor(Math.random() * o.keySpaceSize), o.keySize));
  const keyName = watched.map((k) => k.toString('latin1'));
  const watchers = o.streams * o.watchPerStream;
  const planned = plannedEvents(o, keyName, watchers);
  if (planned > eventSamplesMax) throw new Error(`watch: ${planned} events expected, more than ${eventSamplesMax}; lower --put-total or the watchers`);

  // Who owes what: a successful put to key K is owed one event by each live watcher of K.
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
  const eventLat = new Float64Array(planned);
  // Per put: its slowest delivery, deliveries so far and owed; per watcher: the last revision (events must come in order).
  const [putMax, putGot, putOwed] = [new Float64Array(o.putTotal), new Uint32Array(o.putTotal), new Uint32Array(o.putTotal)];
  const lastRev = new Float64Array(watchers);
  let disorder = 0;
  const settled = until(c);
  const check = (): void => settled.kick(putsDone && received >= expected);

  const handlers: WatchHandlers = {
    events: (w, events, at) => {
      const s = w % o.streams;
      for (const e of events) {
        const v = e.kv?.value;
        const idx = v !== undefined && v.length >= 8 && v.compare(nonce, 0, 4, 4, 8) === 0 ? v.readUInt32BE(0) : -1;
        const sent = idx >= 0 && idx < sendAt.length ? (sendAt[idx] as number) : 0;
        if (sent === 0 || received >= planned) { foreign++; continue; }
        const rev = Number(e.kv?.mod_revision ?? 0);
        if (rev <= (lastRev[w] as number)) disorder++;
        lastRev[w] = rev;
        putMax[idx] = Math.max(putMax[idx] as number, at - sent);
        putGot[idx] = (putGot[idx] as number) + 1;
        eventLat[received++] = at - sent;
        got[s] = (got[s] as number) + 1;
        lastEventAt = at;
      }
      check();
    },
    // Events a broken stream still owes will never come: stop waiting for them, and say so.
    broken: (s, why) => {
      dead[s] = true;
      const lost = (owed[s] as number) - (got[s] as number);
      if (lost > 0) {
        countError(lostErrors, `events lost with their stream: ${why}`, lost);
        expected -= lost;
        owed[s] = got[s] as number;
      }
      check();
    },
    // Rare (the watchers start at the current revision): noted, and the wait for their events ends at the hard stop.
    canceled: (_w, reason) => countError(lostErrors, `watcher canceled by the server: ${reason}`),
  };
  const onPut = (g: number): void => {
    for (const [s, n] of watchersOf.get(keyName[g % keyName.length] as string) ?? []) {
      if (dead[s] === true) continue;
      owed[s] = (owed[s] as number) + n;
      putOwed[g] = (putOwed[g] as number) + n;
      expected += n;
    }
  };
  const ws = await WatchStreams.open(conns, o.streams, handlers, now);
  const creation = await createWatchers(ws, watchers, c, progress, (w) => {
    const key = watched[w % watched.length] as Buffer;
    return o.watchPrefix ? { key, range_end: prefixEnd(key) } : { key };
  }, (w) => {
    const name = keyName[w % keyName.length] as string;
    const perStream = watchersOf.get(name) ?? new Map<number, number>();
    perStream.set(w % o.streams, (perStream.get(w % o.streams) ?? 0) + 1);
    watchersOf.set(name, perStream);
  });

  progress.start('watch events', planned, () => received);
  const putStart = now();
  const putCtl = new LoopControl(Math.max(0.001, c.remainingMs() / 1000));
  const putResult = await runLoop(new StampedPutDriver(conns, watched, base, sendAt, onPut, putCtl),
    { clients: o.clients, quota: o.putTotal, rate: o.putRate, ...oneLoop }, putCtl);
  putsDone = true;
  check();
  const allEvents = await settled.wait;
  progress.finish();
  await ws.close(2_000);
  for (const conn of conns) conn.close();

  const cpu = process.cpuUsage(cpuStart);
  const elu = performance.eventLoopUtilization(eluStart).utilization;
  return {
    series: [
      {
        name: 'watch', heading: 'Watch events received summary (put sent → event received, per watcher):',
        latenciesMs: eventLat.subarray(0, received), errors: lostErrors,
        seconds: ((lastEventAt > 0 ? lastEventAt : now()) - putStart) / 1000, total: expected, unfinished: Math.max(0, expected - received),
      },
      creationSeries(creation, watchers),
      // JSON only: per put whose every event arrived, its slowest watcher.
      {
        name: 'slowest', heading: '', latenciesMs: putMax.filter((_, g) => (putOwed[g] as number) > 0 && (putGot[g] as number) >= (putOwed[g] as number)),
        errors: {}, seconds: (now() - putStart) / 1000, total: o.putTotal, unfinished: 0,
      },
      {
        name: 'put', heading: 'Put summary:', latenciesMs: putResult.latenciesMs, errors: putResult.errors,
        seconds: (putResult.endEpochMs - putResult.startEpochMs) / 1000, total: o.putTotal, unfinished: putResult.unfinished,
      },
    ],
    sections: ['create', 'put', 'watch'],
    counters: {
      watchers_planned: watchers, watchers_created: creation.created, events_planned: planned, events_expected: expected,
      events_received: received, events_foreign: foreign, events_disorder: disorder, streams_lost: dead.filter((d) => d).length,
    },
    cpu, wallMs: now() - c.startMs, elu: [elu],
    hardStopped: !allEvents || putResult.hardStopped || (creation.failed > 0 && c.remainingMs() <= 0), lateDispatches: putResult.lateDispatches,
  };
}

// ---- watch-get ------------------------------------------------------------------------

const watchGetKey = Buffer.from('watchkey');
const watchGetGetKey = Buffer.from('abc');

export async function runWatchGet(o: Options, progress: Progress): Promise<RunOutput> {
  const c = clock(o.durationMaxSeconds);
  const conns = await openConns(o);
  const [getConn] = await connect([o.endpoints[0] as string], o.durationMaxSeconds);
  let watchRevision = '0';
  for (let i = 0; i < o.events; i++) {
    const r = await (conns[0] as Client).put({ key: watchGetKey, value: Buffer.from(String(i)) }, { timeoutMs: Math.max(1, c.remainingMs()) });
    if (i === 0) watchRevision = String(r.header?.revision ?? '0');
  }
  const cpuStart = process.cpuUsage();
  const eluStart = performance.eventLoopUtilization();
  const eventsSeen = new Int32Array(o.watchers);
  const createdAt = new Float64Array(o.watchers);
  const live = new Uint8Array(o.watchers);
  const catchup = new Float64Array(o.watchers);
  let caughtUp = 0;
  let eventsTotal = 0;
  let lostWatchers = 0;
  let lostWithStreams = 0;
  let created = 0;
  let creating = true;
  const allDone = until(c);
  const check = (): void => allDone.kick(!creating && caughtUp + lostWatchers >= created);
  const canceled: Record<string, number> = {};
  const lose = (w: number): boolean => {
    if (live[w] !== 1 || (eventsSeen[w] as number) >= o.events) return false;
    live[w] = 0;
    lostWatchers++;
    return true;
  };
  const handlers: WatchHandlers = {
    events: (w, events, at) => {
      const before = eventsSeen[w] as number;
      live[w] = 1;
      eventsSeen[w] = before + events.length;
      eventsTotal += Math.min(events.length, Math.max(0, o.events - before));
      if (before < o.events && before + events.length >= o.events) {
        catchup[caughtUp++] = at - (createdAt[w] as number);
        check();
      }
    },
    broken: (s) => {
      for (let w = s; w < o.watchers; w += o.streams) if (lose(w)) lostWithStreams++;
      check();
    },
    canceled: (w, reason) => {
      if (lose(w)) countError(canceled, `watcher canceled by the server: ${reason}`);
      check();
    },
  };
  const ws = await WatchStreams.open(conns, o.streams, handlers, now);
  const getCtl = new LoopControl(Math.max(0.001, c.remainingMs() / 1000));
  let gets: Promise<WorkerResult> | undefined;
  const startGets = (): void => {
    gets = runLoop(makeGetDriver([getConn as Client], watchGetGetKey, getCtl), { clients: 1, quota: o.getTotal, rate: 0, ...oneLoop }, getCtl);
  };
  const creation = await createWatchers(ws, o.watchers, c, progress, (w) => {
    createdAt[w] = now();
    return { key: watchGetKey, start_revision: watchRevision };
  }, (w) => { live[w] = 1; }, startGets);
  created = creation.created;
  creating = false;
  progress.start('watch-get events', Math.max(1, created * o.events), () => eventsTotal);
  check();
  const finished = await allDone.wait;
  getCtl.stop();
  const getResult = gets !== undefined ? await gets : undefined;
  progress.finish();
  const streamsLost = Array.from({ length: ws.count }, (_, s) => ws.brokenWhy(s)).filter((b) => b !== undefined).length;
  await ws.close(2_000);
  for (const conn of [...conns, getConn as Client]) conn.close();

  const catchupErrors: Record<string, number> = { ...canceled };
  if (lostWithStreams > 0) mergeErrors(catchupErrors, { 'watchers lost with their stream': lostWithStreams });
  return {
    series: [
      {
        name: 'watch-get', heading: 'Get during watch summary:', latenciesMs: getResult?.latenciesMs ?? new Float64Array(0),
        errors: getResult?.errors ?? {}, unfinished: getResult?.unfinished ?? 0,
        seconds: getResult !== undefined ? (getResult.endEpochMs - getResult.startEpochMs) / 1000 : 0,
        // --get-total is a cap: the gets stop when the watchers have caught up, so the total is what was issued.
        total: getResult !== undefined ? loopTotal(getResult) : 0,
      },
      creationSeries(creation, o.watchers),
      {
        name: 'catchup', heading: `Watcher catch-up summary (create request sent → all ${o.events} past events received):`,
        latenciesMs: catchup.subarray(0, caughtUp), errors: catchupErrors,
        seconds: (now() - c.startMs) / 1000, total: created, unfinished: Math.max(0, created - caughtUp - lostWatchers),
      },
    ],
    sections: ['create', 'catchup', 'watch-get'],
    counters: {
      watchers_created: created, watchers_caught_up: caughtUp, events: o.events, watch_revision: Number(watchRevision),
      streams_lost: streamsLost,
    },
    cpu: process.cpuUsage(cpuStart), wallMs: now() - c.startMs, elu: [performance.eventLoopUtilization(eluStart).utilization],
    hardStopped: !finished || (getResult?.hardStopped ?? false), lateDispatches: 0,
  };
}
