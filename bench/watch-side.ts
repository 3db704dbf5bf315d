// The watching side of bench:watch, in its own worker thread: it opens the
// Watch streams, creates the watchers, and counts and times every event they
// receive, while the main thread writes. Keeping the two apart means a put's
// send time is not delayed by event decoding, and event receipt is not
// delayed by the writer. Times are CLOCK_MONOTONIC (process.hrtime), which
// every thread of the process shares, so a put's send time written into its
// value by the main thread can be subtracted from a receipt time taken here.
//
// The main thread drives it with WatchSide (below): open → create → wait → close.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { Client } from '../src/client';
import { prefixEnd, WatchStreams, type WatchEvent } from './watchers';

export type KeyMode = 'one' | 'prefix' | 'distinct';
/** latency: values carry (send time, put sequence); count: every watcher must see every revision once, in order; idle: expect nothing. */
export type Mode = 'latency' | 'count' | 'idle';

/** Opens the connections and streams of a phase that will hold `watchers` watchers. */
export interface OpenCommand {
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
type Command = ({ op: 'open' } & OpenCommand) | { op: 'create'; keyMode: KeyMode; key: string; timeoutMs: number }
  | { op: 'wait'; expectedPerWatcher: number; timeoutMs: number } | { op: 'close'; timeoutMs: number };

export interface WatchReply { created: number; canceled: number; createMs: number; errors: Record<string, number> }

export interface WaitReply {
  created: number;
  delivered: number;
  minPerWatcher: number;
  maxPerWatcher: number;
  /** Events whose mod_revision was not above the watcher's previous one. */
  disorder: number;
  /** Events the mode did not expect (idle mode: any; latency mode: an unknown sequence). */
  foreign: number;
  lastRecvMs: number;
  /** latency mode: one latency (ms) per delivery of a timed put, and per put the slowest delivery and the number of deliveries. */
  latenciesMs?: Float64Array;
  perPutMaxMs?: Float64Array;
  perPutCount?: Uint32Array;
  /** This thread's event-loop utilization from the end of the creates to now: near 1, the client was the limit. */
  elu: number;
  errors: Record<string, number>;
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

// ---- the worker ------------------------------------------------------------

class Phase {
  clients: Client[] = [];
  ws: WatchStreams | undefined;
  created = 0;
  canceled = 0;
  readonly live: Uint8Array;
  readonly counts: Uint32Array;
  readonly lastRev: Float64Array;
  delivered = 0;
  disorder = 0;
  foreign = 0;
  lastRecvMs = 0;
  readonly latencies: Float64Array;
  latencyCount = 0;
  readonly perPutMax: Float64Array;
  readonly perPutCount: Uint32Array;
  expected = Number.MAX_SAFE_INTEGER;
  complete = 0;
  broken = 0;
  readonly errors: Record<string, number> = {};
  eluMark: EventLoopUtilization = performance.eventLoopUtilization();
  wake: (() => void) | undefined;

  constructor(readonly cmd: OpenCommand) {
    const puts = cmd.mode === 'latency' ? cmd.latencyPuts : 0;
    this.live = new Uint8Array(cmd.watchers);
    this.counts = new Uint32Array(cmd.watchers);
    this.lastRev = new Float64Array(cmd.watchers);
    this.latencies = new Float64Array(Math.min(latencySamplesMax, Math.max(0, puts - cmd.latencyWarmupPuts) * cmd.watchers));
    this.perPutMax = new Float64Array(puts);
    this.perPutCount = new Uint32Array(puts);
  }

  onEvents(w: number, events: WatchEvent[], recv: number): void {
    this.lastRecvMs = recv;
    for (const e of events) {
      this.delivered++;
      const count = ++(this.counts[w] as number);
      if (count === this.expected) this.complete++;
      else if (count === this.expected + 1) this.complete--;
      const rev = Number(e.kv?.mod_revision ?? 0);
      if (rev <= (this.lastRev[w] as number)) this.disorder++;
      this.lastRev[w] = rev;
      if (this.cmd.mode === 'idle') this.foreign++;
      else if (this.cmd.mode === 'latency') this.recordLatency(e.kv?.value, recv);
    }
    if (this.complete >= this.created) this.wake?.();
  }

  private recordLatency(v: Buffer | undefined, recv: number): void {
    const seq = v !== undefined && v.length >= 12 ? v.readUInt32LE(8) : -1;
    if (v === undefined || seq < 0 || seq >= this.perPutMax.length) { this.foreign++; return; }
    const ms = recv - v.readDoubleLE(0);
    if (seq >= this.cmd.latencyWarmupPuts && this.latencyCount < this.latencies.length) this.latencies[this.latencyCount++] = ms;
    if (ms > (this.perPutMax[seq] as number)) this.perPutMax[seq] = ms;
    this.perPutCount[seq] = (this.perPutCount[seq] as number) + 1;
  }

  waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (done()) { resolve(true); return; }
      const timer = setTimeout(() => { this.wake = undefined; resolve(false); }, timeoutMs);
      this.wake = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }
}

let phase: Phase | undefined;

async function openPhase(cmd: OpenCommand): Promise<Record<string, never>> {
  if (phase !== undefined) throw new Error('a watch phase is already open');
  if (cmd.watchers > watchersMax || cmd.streams > streamsMax || cmd.streams < 1 || cmd.conns < 1) throw new Error('watch phase out of bounds');
  const p = new Phase(cmd);
  phase = p;
  p.clients = Array.from({ length: cmd.conns }, () => new Client({ endpoints: [cmd.endpoint], ownConnection: true }));
  await Promise.all(p.clients.map((c) => c.status({ timeoutMs: cmd.timeoutMs })));
  p.ws = await WatchStreams.open(p.clients, cmd.streams, {
    events: (w, events, at) => p.onEvents(w, events, at),
    canceled: (w, reason) => {
      p.canceled++;
      p.live[w] = 0;
      countError(p.errors, `watch canceled by the server: ${reason.slice(0, 100)}`);
    },
    broken: (_s, why) => { p.broken++; countError(p.errors, why.slice(0, 100)); p.wake?.(); },
  }, nowMs);
  return {};
}

function current(): Phase & { ws: WatchStreams } {
  if (phase?.ws === undefined) throw new Error('no watch phase open');
  return phase as Phase & { ws: WatchStreams };
}

async function createWatchers(keyMode: KeyMode, key: string, timeoutMs: number): Promise<WatchReply> {
  const p = current();
  const t0 = performance.now();
  const creates = Array.from({ length: p.cmd.watchers }, (_, i) => {
    const k = Buffer.from(keyMode === 'distinct' ? `${key}${String(i).padStart(6, '0')}` : key);
    return p.ws.create(i, keyMode === 'prefix' ? { key: k, range_end: prefixEnd(k) } : { key: k }, timeoutMs).then(
      () => { p.live[i] = 1; p.created++; },
      (e: unknown) => { p.canceled++; countError(p.errors, (e instanceof Error ? e.message : String(e)).slice(0, 100)); },
    );
  });
  await Promise.all(creates);
  p.eluMark = performance.eventLoopUtilization();
  return { created: p.created, canceled: p.canceled, createMs: performance.now() - t0, errors: p.errors };
}

async function waitEvents(expectedPerWatcher: number, timeoutMs: number): Promise<{ reply: WaitReply; transfer: ArrayBuffer[] }> {
  const p = current();
  p.expected = expectedPerWatcher;
  p.complete = 0;
  for (let w = 0; w < p.counts.length; w++) if (p.live[w] === 1 && p.counts[w] === p.expected) p.complete++;
  if (p.cmd.mode === 'idle') await new Promise((r) => setTimeout(r, timeoutMs));
  else await p.waitFor(() => p.complete >= p.created || p.broken >= p.ws.count, timeoutMs);
  let min = Infinity;
  let max = 0;
  for (let w = 0; w < p.counts.length; w++) {
    if (p.live[w] !== 1) continue;
    min = Math.min(min, p.counts[w] as number);
    max = Math.max(max, p.counts[w] as number);
  }
  const reply: WaitReply = {
    created: p.created, delivered: p.delivered, minPerWatcher: Number.isFinite(min) ? min : 0, maxPerWatcher: max, disorder: p.disorder,
    foreign: p.foreign, lastRecvMs: p.lastRecvMs, elu: performance.eventLoopUtilization(p.eluMark).utilization, errors: p.errors,
  };
  if (p.cmd.mode !== 'latency') return { reply, transfer: [] };
  reply.latenciesMs = p.latencies.slice(0, p.latencyCount);
  reply.perPutMaxMs = p.perPutMax.slice();
  reply.perPutCount = p.perPutCount.slice();
  return { reply, transfer: [reply.latenciesMs.buffer as ArrayBuffer, reply.perPutMaxMs.buffer as ArrayBuffer, reply.perPutCount.buffer as ArrayBuffer] };
}

async function closePhase(timeoutMs: number): Promise<{ closed: boolean }> {
  const p = phase;
  phase = undefined;
  if (p === undefined) return { closed: true };
  const closed = (await p.ws?.close(timeoutMs)) ?? true;
  for (const c of p.clients) c.close();
  return { closed };
}

function workerMain(): void {
  const port = parentPort;
  if (port === null) throw new Error('watch-side: no parentPort');
  port.on('message', (m: { id: number; cmd: Command }) => {
    const run = async (): Promise<{ reply: unknown; transfer: ArrayBuffer[] }> => {
      const c = m.cmd;
      switch (c.op) {
        case 'open': return { reply: await openPhase(c), transfer: [] };
        case 'create': return { reply: await createWatchers(c.keyMode, c.key, c.timeoutMs), transfer: [] };
        case 'wait': return waitEvents(c.expectedPerWatcher, c.timeoutMs);
        case 'close': return { reply: await closePhase(c.timeoutMs), transfer: [] };
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
    const failAll = (e: Error): void => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on('error', failAll);
    w.on('exit', (code) => failAll(new Error(`watch worker exited (${code})`)));
    return w;
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

  open(cmd: OpenCommand): Promise<unknown> {
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
