// The watching side of bench:watch, in its own worker thread: it opens the
// Watch streams, creates the watchers, and counts and times every event they
// receive, while the main thread writes. Keeping the two apart means a put's
// send time is not delayed by event decoding, and event receipt is not
// delayed by the writer. Times are CLOCK_MONOTONIC (process.hrtime), which
// every thread of the process shares, so a put's send time written into its
// value by the main thread can be subtracted from a receipt time taken here.
//
// The main thread drives it with WatchSide (below): open → create → wait → close.
import * as grpc from '@grpc/grpc-js';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { etcdService } from '../src/proto';
import { decodeWatchResponse, newWatchMessage, type WatchMessage } from './pb-lite';

export type KeyMode = 'one' | 'prefix' | 'distinct';
/** latency: values carry (send time, put sequence); count: check every watcher sees every revision once, in order; idle: expect nothing. */
export type Mode = 'latency' | 'count' | 'idle';

/** Opens the connections and streams of a phase that will hold `watchers` watchers. */
export interface OpenCommand {
  op: 'open';
  endpoint: string;
  conns: number;
  streams: number;
  watchers: number;
  mode: Mode;
  /** latency mode: puts the main thread will number 0..latencyPuts-1, the first latencyWarmupPuts of them not timed. */
  latencyPuts: number;
  latencyWarmupPuts: number;
  timeoutMs: number;
}
/** Creates the phase's watchers, spread round-robin over its streams, and waits for every created answer. */
export interface CreateCommand { op: 'create'; keyMode: KeyMode; key: string; timeoutMs: number }
export interface WaitCommand { op: 'wait'; expectedPerWatcher: number; timeoutMs: number }
export interface CloseCommand { op: 'close'; timeoutMs: number }
type Command = OpenCommand | CreateCommand | WaitCommand | CloseCommand;

export interface WatchReply { created: number; canceled: number; createMs: number; errors: Record<string, number> }

export interface WaitReply {
  created: number;
  delivered: number;
  /** Watchers that received exactly expectedPerWatcher events. */
  watchersComplete: number;
  minPerWatcher: number;
  maxPerWatcher: number;
  /** Events whose mod_revision was not above the watcher's previous one (count mode). */
  disorder: number;
  /** Events the mode did not expect (idle mode: any; latency mode: an unknown sequence). */
  foreign: number;
  firstRecvMs: number;
  lastRecvMs: number;
  /** latency mode: one latency (ms) per delivery of a timed put, and per put the slowest delivery and the number of deliveries. */
  latenciesMs?: Float64Array;
  perPutMaxMs?: Float64Array;
  perPutCount?: Uint32Array;
  /** This thread's event-loop utilization from the end of the creates to now: near 1, the client was the limit. */
  elu: number;
  errors: Record<string, number>;
  timedOut: boolean;
}

// Bounds (this thread's share of bench:watch's).
const watchersMax = 100_000;
const streamsMax = 10_000;
const latencySamplesMax = 4_000_000;
const errorKindsMax = 20;

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function countError(errors: Record<string, number>, kind: string): void {
  if (errors[kind] === undefined && Object.keys(errors).length >= errorKindsMax) kind = 'other';
  errors[kind] = (errors[kind] ?? 0) + 1;
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) { end[i] = (end[i] as number) + 1; return end.subarray(0, i + 1); }
  }
  return Buffer.from([0]);
}

function watchKey(mode: KeyMode, key: string, i: number): { key: Buffer; rangeEnd?: Buffer } {
  if (mode === 'one') return { key: Buffer.from(key) };
  if (mode === 'prefix') return { key: Buffer.from(key), rangeEnd: prefixEnd(Buffer.from(key)) };
  return { key: Buffer.from(`${key}${String(i).padStart(6, '0')}`) };
}

// ---- the worker ------------------------------------------------------------

const Watch = etcdService('Watch');
const watchMethod = Watch.service['Watch'] as grpc.MethodDefinition<object, object>;
const identity = (b: Buffer): Buffer => b;

interface Phase {
  cmd: OpenCommand;
  clients: grpc.Client[];
  calls: grpc.ClientDuplexStream<Buffer, Buffer>[];
  statuses: number;
  /** Per stream: watcher indices in the order their creates were sent, and watch ID → watcher index. */
  pendingCreates: number[][];
  ids: Map<number, number>[];
  checked: boolean[];
  created: number;
  canceled: number;
  /** 1 for watchers whose create was answered. */
  live: Uint8Array;
  counts: Uint32Array;
  lastRev: Float64Array;
  delivered: number;
  disorder: number;
  foreign: number;
  firstRecvMs: number;
  lastRecvMs: number;
  latencies: Float64Array;
  latencyCount: number;
  perPutMax: Float64Array;
  perPutCount: Uint32Array;
  expected: number;
  complete: number;
  errors: Record<string, number>;
  eluMark: EventLoopUtilization;
  wake: (() => void) | undefined;
}

let phase: Phase | undefined;
const msg: WatchMessage = newWatchMessage();

function onData(p: Phase, s: number, b: Buffer): void {
  const recv = nowMs();
  try {
    decodeWatchResponse(b, msg);
  } catch (e) {
    countError(p.errors, `undecodable response: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  if (msg.created) {
    const idx = p.pendingCreates[s]?.shift();
    if (idx === undefined) { countError(p.errors, 'created without a create'); return; }
    if (msg.canceled || msg.watchId < 0) {
      p.canceled++;
      countError(p.errors, `create refused: ${msg.cancelReason.slice(0, 100) || 'canceled'}`);
    } else {
      (p.ids[s] as Map<number, number>).set(msg.watchId, idx);
      p.live[idx] = 1;
      p.created++;
    }
    p.wake?.();
    return;
  }
  if (msg.canceled) {
    p.canceled++;
    countError(p.errors, `watch canceled by the server: ${msg.cancelReason.slice(0, 100) || `compact ${msg.compactRevision}`}`);
    return;
  }
  if (msg.events === 0) return; // progress notification
  if (p.checked[s] !== true) { p.checked[s] = true; crossCheck(p, b); }
  const w = (p.ids[s] as Map<number, number>).get(msg.watchId);
  if (w === undefined) { countError(p.errors, 'events for an unknown watch ID'); return; }
  if (p.firstRecvMs === 0) p.firstRecvMs = recv;
  p.lastRecvMs = recv;
  for (let e = 0; e < msg.events; e++) {
    p.delivered++;
    const count = ++(p.counts[w] as number);
    if (count === p.expected) p.complete++;
    else if (count === p.expected + 1) p.complete--;
    const rev = msg.eventModRevision[e] as number;
    if (rev <= (p.lastRev[w] as number)) p.disorder++;
    p.lastRev[w] = rev;
    if (p.cmd.mode === 'idle') { p.foreign++; continue; }
    if (p.cmd.mode === 'latency') recordLatency(p, b, e, recv);
  }
  if (p.complete === p.created) p.wake?.();
}

function recordLatency(p: Phase, b: Buffer, e: number, recv: number): void {
  const vs = msg.eventValueStart[e] as number;
  if ((msg.eventValueEnd[e] as number) - vs < 12) { p.foreign++; return; }
  const sent = b.readDoubleLE(vs);
  const seq = b.readUInt32LE(vs + 8);
  if (seq >= p.perPutMax.length) { p.foreign++; return; }
  const ms = recv - sent;
  if (seq >= p.cmd.latencyWarmupPuts && p.latencyCount < p.latencies.length) p.latencies[p.latencyCount++] = ms;
  if (ms > (p.perPutMax[seq] as number)) p.perPutMax[seq] = ms;
  p.perPutCount[seq] = (p.perPutCount[seq] as number) + 1;
}

/** The first event-bearing message of each stream is decoded again by the proto decoder; they must agree. */
function crossCheck(p: Phase, b: Buffer): void {
  const full = watchMethod.responseDeserialize(b) as {
    watch_id: string; events: { kv?: { mod_revision: string; value: Buffer } }[];
  };
  const first = full.events[0]?.kv;
  const ok = Number(full.watch_id) === msg.watchId && full.events.length === msg.events && first !== undefined
    && Number(first.mod_revision) === msg.eventModRevision[0]
    && first.value.equals(b.subarray(msg.eventValueStart[0] as number, msg.eventValueEnd[0] as number));
  if (!ok) countError(p.errors, 'pb-lite disagrees with the proto decoder');
}

function waitFor(p: Phase, done: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (done()) { resolve(true); return; }
    const timer = setTimeout(() => { p.wake = undefined; resolve(false); }, timeoutMs);
    p.wake = () => {
      if (!done()) return;
      clearTimeout(timer);
      p.wake = undefined;
      resolve(true);
    };
  });
}

async function openPhase(cmd: OpenCommand): Promise<{ openMs: number }> {
  if (phase !== undefined) throw new Error('a watch phase is already open');
  if (cmd.watchers > watchersMax || cmd.streams > streamsMax || cmd.streams < 1 || cmd.conns < 1) throw new Error('watch phase out of bounds');
  const t0 = performance.now();
  const clients: grpc.Client[] = [];
  for (let c = 0; c < cmd.conns; c++) {
    clients.push(new Watch(cmd.endpoint, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1,
    }));
  }
  const latencySlots = cmd.mode === 'latency' ? Math.min(latencySamplesMax, Math.max(0, cmd.latencyPuts - cmd.latencyWarmupPuts) * cmd.watchers) : 0;
  const p: Phase = {
    cmd, clients, calls: [], statuses: 0, pendingCreates: [], ids: [], checked: [], created: 0, canceled: 0,
    live: new Uint8Array(cmd.watchers), counts: new Uint32Array(cmd.watchers), lastRev: new Float64Array(cmd.watchers),
    delivered: 0, disorder: 0, foreign: 0, firstRecvMs: 0, lastRecvMs: 0, latencies: new Float64Array(latencySlots), latencyCount: 0,
    perPutMax: new Float64Array(cmd.mode === 'latency' ? cmd.latencyPuts : 0),
    perPutCount: new Uint32Array(cmd.mode === 'latency' ? cmd.latencyPuts : 0),
    expected: Number.MAX_SAFE_INTEGER, complete: 0, errors: {}, eluMark: performance.eventLoopUtilization(), wake: undefined,
  };
  phase = p;
  const deadline = Date.now() + cmd.timeoutMs;
  await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => {
    c.waitForReady(deadline, (err) => (err ? reject(new Error(`connect: ${err.message}`)) : resolve()));
  })));
  for (let s = 0; s < cmd.streams; s++) {
    const call = (clients[s % clients.length] as grpc.Client).makeBidiStreamRequest(watchMethod.path, identity, identity,
      new grpc.Metadata(), {}) as grpc.ClientDuplexStream<Buffer, Buffer>;
    p.calls.push(call);
    p.pendingCreates.push([]);
    p.ids.push(new Map());
    call.on('data', (b: Buffer) => onData(p, s, b));
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) countError(p.errors, `stream error: ${grpc.status[e.code] ?? e.code} ${String(e.details).slice(0, 80)}`);
    });
    call.on('status', () => { p.statuses++; p.wake?.(); });
  }
  return { openMs: performance.now() - t0 };
}

async function createWatchers(cmd: CreateCommand): Promise<WatchReply> {
  const p = phase;
  if (p === undefined) throw new Error('no watch phase open');
  const t0 = performance.now();
  const n = p.cmd.watchers;
  for (let i = 0; i < n; i++) {
    const s = i % p.calls.length;
    const k = watchKey(cmd.keyMode, cmd.key, i);
    const create: Record<string, unknown> = { key: k.key };
    if (k.rangeEnd !== undefined) create['range_end'] = k.rangeEnd;
    (p.pendingCreates[s] as number[]).push(i);
    (p.calls[s] as grpc.ClientDuplexStream<Buffer, Buffer>).write(watchMethod.requestSerialize({ create_request: create }));
  }
  await waitFor(p, () => p.created + p.canceled >= n || p.statuses > 0, cmd.timeoutMs);
  if (p.created + p.canceled < n) countError(p.errors, `${n - p.created - p.canceled} creates unanswered`);
  p.eluMark = performance.eventLoopUtilization();
  return { created: p.created, canceled: p.canceled, createMs: performance.now() - t0, errors: p.errors };
}

async function waitEvents(cmd: WaitCommand): Promise<{ reply: WaitReply; transfer: ArrayBuffer[] }> {
  const p = phase;
  if (p === undefined) throw new Error('no watch phase open');
  p.expected = cmd.expectedPerWatcher;
  p.complete = 0;
  for (let w = 0; w < p.counts.length; w++) if (p.live[w] === 1 && p.counts[w] === p.expected) p.complete++;
  const done = (): boolean => p.complete >= p.created || p.statuses >= p.calls.length;
  const finished = p.cmd.mode === 'idle' ? (await new Promise((r) => setTimeout(r, cmd.timeoutMs)), true)
    : await waitFor(p, done, cmd.timeoutMs);
  let min = Infinity;
  let max = 0;
  for (let w = 0; w < p.counts.length; w++) {
    if (p.live[w] !== 1) continue;
    min = Math.min(min, p.counts[w] as number);
    max = Math.max(max, p.counts[w] as number);
  }
  const reply: WaitReply = {
    created: p.created, delivered: p.delivered, watchersComplete: p.complete, minPerWatcher: Number.isFinite(min) ? min : 0,
    maxPerWatcher: max, disorder: p.disorder, foreign: p.foreign, firstRecvMs: p.firstRecvMs, lastRecvMs: p.lastRecvMs,
    elu: performance.eventLoopUtilization(p.eluMark).utilization, errors: p.errors, timedOut: !finished,
  };
  const transfer: ArrayBuffer[] = [];
  if (p.cmd.mode === 'latency') {
    reply.latenciesMs = p.latencies.slice(0, p.latencyCount);
    reply.perPutMaxMs = p.perPutMax.slice();
    reply.perPutCount = p.perPutCount.slice();
    transfer.push(reply.latenciesMs.buffer as ArrayBuffer, reply.perPutMaxMs.buffer as ArrayBuffer, reply.perPutCount.buffer as ArrayBuffer);
  }
  return { reply, transfer };
}

async function closePhase(cmd: CloseCommand): Promise<{ closed: boolean }> {
  const p = phase;
  phase = undefined;
  if (p === undefined) return { closed: true };
  for (const call of p.calls) call.end();
  // keel ends a watch stream when the client half-closes it; etcd keeps it open
  // until the client cancels (its recvLoop returns nil on EOF without ending the
  // call). So: a short wait for the server to end, then cancel the rest, and
  // wait (bounded) so the next phase does not start while this one is torn down.
  const ended = await waitFor(p, () => p.statuses >= p.calls.length, Math.min(cmd.timeoutMs, 1000));
  for (const call of p.calls) call.cancel();
  await waitFor(p, () => p.statuses >= p.calls.length, cmd.timeoutMs);
  for (const c of p.clients) c.close();
  return { closed: ended };
}

function workerMain(): void {
  const port = parentPort;
  if (port === null) throw new Error('watch-side: no parentPort');
  port.on('message', (m: { id: number; cmd: Command }) => {
    const run = async (): Promise<{ reply: unknown; transfer: ArrayBuffer[] }> => {
      switch (m.cmd.op) {
        case 'open': return { reply: await openPhase(m.cmd), transfer: [] };
        case 'create': return { reply: await createWatchers(m.cmd), transfer: [] };
        case 'wait': return waitEvents(m.cmd);
        case 'close': return { reply: await closePhase(m.cmd), transfer: [] };
        default: throw new Error('unknown command');
      }
    };
    run().then(
      ({ reply, transfer }) => port.postMessage({ id: m.id, reply }, transfer),
      (e: unknown) => port.postMessage({ id: m.id, error: e instanceof Error ? e.message : String(e) }),
    );
  });
}

// ---- the main thread's handle ----------------------------------------------

/** The main thread's end: one worker for the whole run, one command at a time, each with a time limit. */
export class WatchSide {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const w = new Worker(__filename);
    w.on('message', (m: { id: number; reply?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.reply);
    });
    w.on('error', (e) => this.failAll(e));
    w.on('exit', (code) => this.failAll(new Error(`watch worker exited (${code})`)));
    return w;
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private call<T>(cmd: Command, limitMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`watch worker: no answer to ${cmd.op} within ${Math.round(limitMs / 1000)} s`));
      }, limitMs);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v as T); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.worker.postMessage({ id, cmd });
    });
  }

  open(cmd: Omit<OpenCommand, 'op'>): Promise<{ openMs: number }> {
    return this.call({ op: 'open', ...cmd }, cmd.timeoutMs + 10_000);
  }

  create(keyMode: KeyMode, key: string, timeoutMs: number): Promise<WatchReply> {
    return this.call({ op: 'create', keyMode, key, timeoutMs }, timeoutMs + 10_000);
  }

  wait(expectedPerWatcher: number, timeoutMs: number): Promise<WaitReply> {
    return this.call({ op: 'wait', expectedPerWatcher, timeoutMs }, timeoutMs + 10_000);
  }

  /** Closes the phase's streams; if the worker is stuck, replaces it (its connections die with it). */
  async close(timeoutMs: number): Promise<boolean> {
    try {
      return (await this.call<{ closed: boolean }>({ op: 'close', timeoutMs }, timeoutMs + 5_000)).closed;
    } catch {
      await this.restart();
      return false;
    }
  }

  async restart(): Promise<void> {
    const old = this.worker;
    this.worker = this.spawn();
    old.removeAllListeners('exit');
    await old.terminate();
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

if (!isMainThread) workerMain();
