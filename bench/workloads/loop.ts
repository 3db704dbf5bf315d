// The load loop shared by every workload made of independent operations (put,
// range, txn-put, txn-mixed, lease-keepalive, stm, and the puts of watch and
// the ranges of watch-get). A Driver performs one operation; the loop decides
// when: closed loop (each client issues its next operation when the last one
// answers) or open loop at a rate (latency counted from the scheduled send
// time, so a slow server's queueing is not hidden), with --clients as the
// in-flight cap. Bounded by count (quota) and by time (the hard stop).
import { performance } from 'node:perf_hooks';
import { Client, grpcCodeNames } from '../../src/client';

const latencyInitialSamples = 1 << 16;
const stopGraceMs = 2_000;
const errorKindsMax = 20;
export const connectTimeoutMs = 10_000;

/** One connection (a Client with a TCP connection of its own) per endpoint, each answering Status before the timed part. */
export async function connect(endpoints: readonly string[], durationMaxSeconds: number): Promise<Client[]> {
  const clients = endpoints.map((e) => new Client({ endpoints: [e], ownConnection: true }));
  const timeoutMs = Math.min(connectTimeoutMs, Math.max(2_000, durationMaxSeconds * 1000));
  try {
    await Promise.all(clients.map((c, i) => c.status({ timeoutMs }).catch((e: unknown) => {
      throw new Error(`connect ${endpoints[i] ?? ''}: ${errorText(e)}`);
    })));
  } catch (e) {
    for (const c of clients) c.close();
    throw e;
  }
  return clients;
}

/** One error kind per message, not per occurrence: numbers become N, and grpc-js's details after a comma go. */
export function errorText(e: unknown): string {
  const se = e as { code?: unknown; details?: unknown } | null;
  if (typeof se?.code !== 'number' || typeof se.details !== 'string') return e instanceof Error ? e.message : String(e);
  return `${grpcCodeNames[se.code] ?? se.code}: ${(se.details.split(',')[0] ?? '').replace(/\b\d+(\.\d+)?\b/g, 'N').slice(0, 120)}`;
}

export function countError(errors: Record<string, number>, kind: string, n = 1): void {
  if (errors[kind] === undefined && Object.keys(errors).length >= errorKindsMax) kind = 'other';
  errors[kind] = (errors[kind] ?? 0) + n;
}

export function mergeErrors(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) countError(into, k, n);
}

/** Calls `f` on items with at most `limit` in flight; rejects on the first failure. */
export async function forEachLimited<T>(items: T[], limit: number, f: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await f(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** `error` undefined = success; `series` picks the latency series (txn-mixed: 0 read, 1 write). */
export type Done = (error?: string, series?: number) => void;

/** The error value a driver passes when it gives up on an operation because the run is stopping. */
export const abandonedOp = '\u0000abandoned';

export interface Driver {
  /** Names of the latency series this driver's operations fall in; one for most. */
  readonly series: readonly string[];
  /** Starts operation `g` (a global index, distinct across workers) for `client`; calls done exactly once, never synchronously in a loop. */
  issue(client: number, g: number, done: Done): void;
  counters?(): Record<string, number>;
  close(): Promise<void>;
}

/** One loop's outcome; seriesOf: the series of each latency sample, when the driver has more than one. */
export interface WorkerResult {
  latenciesMs: Float64Array; count: number; errors: Record<string, number>; startEpochMs: number; endEpochMs: number; elu: number;
  lateDispatches: number; unfinished: number; hardStopped: boolean; seriesOf?: Uint8Array; counters?: Record<string, number>;
}

/** Shared between the loop and its driver: when to stop issuing, and the deadline every call carries. */
export class LoopControl {
  stopped = false;
  hardStopped = false;
  /**
   * Passed to every call. Later than the hard stop plus grace, so a hung
   * server's calls end as "unfinished", not as errors; re-armed when the loop
   * starts, after any untimed setup.
   */
  readonly callOptions: { deadline: number };
  private readonly listeners: (() => void)[] = [];

  constructor(readonly durationMaxSeconds: number) {
    this.callOptions = { deadline: this.deadlineFromNow() };
  }

  arm(): void { this.callOptions.deadline = this.deadlineFromNow(); }

  /** No new operations from now on; those in flight still count. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const f of this.listeners.splice(0)) f();
  }

  onStop(f: () => void): void {
    if (this.stopped) f();
    else this.listeners.push(f);
  }

  private deadlineFromNow(): number { return Date.now() + this.durationMaxSeconds * 1000 + stopGraceMs + 1000; }
}

/**
 * rate: operations per second, 0 = closed loop; progress[progressSlot]: completed operations (ok + errors), for the progress bar;
 * operation g of this loop is global operation g × workerCount + workerIndex, so keys stay disjoint across workers.
 */
export interface LoopSpec { clients: number; quota: number; rate: number; progress: Int32Array; progressSlot: number; workerIndex: number; workerCount: number }

export function runLoop(driver: Driver, spec: LoopSpec, ctl: LoopControl): Promise<WorkerResult> {
  return new Promise((resolve) => {
    ctl.arm();
    let latencies = new Float64Array(Math.max(1, Math.min(spec.quota, latencyInitialSamples)));
    let seriesOf = driver.series.length > 1 ? new Uint8Array(latencies.length) : undefined;
    const errors: Record<string, number> = {};
    let [count, failed, abandoned, issued, inflight, lateDispatches] = [0, 0, 0, 0, 0, 0];
    let finished = false;
    const eluStart = performance.eventLoopUtilization();
    const startEpochMs = performance.timeOrigin + performance.now();
    const t0 = performance.now();
    const timers: Record<'stop' | 'grace' | 'tick', NodeJS.Timeout | undefined> = { stop: undefined, grace: undefined, tick: undefined };
    const finish = (): void => {
      if (finished) return;
      finished = true;
      for (const t of Object.values(timers)) clearTimeout(t);
      const result: WorkerResult = {
        latenciesMs: latencies.subarray(0, count), count, errors, startEpochMs, endEpochMs: performance.timeOrigin + performance.now(),
        elu: performance.eventLoopUtilization(eluStart).utilization, lateDispatches, unfinished: inflight + abandoned, hardStopped: ctl.hardStopped,
      };
      if (seriesOf !== undefined) result.seriesOf = seriesOf.subarray(0, count);
      const counters = driver.counters?.();
      if (counters !== undefined) result.counters = counters;
      resolve(result);
    };
    const maybeFinish = (): void => { if (inflight === 0 && (issued >= spec.quota || ctl.stopped)) finish(); };
    const record = (ms: number, series: number): void => {
      if (count === latencies.length) {
        // Grows by doubling, never past the quota.
        const bigger = new Float64Array(Math.min(spec.quota, latencies.length * 2));
        bigger.set(latencies);
        latencies = bigger;
        if (seriesOf !== undefined) (seriesOf = new Uint8Array(bigger.length)).set(seriesOf.subarray(0, count));
      }
      if (count >= latencies.length) return;
      latencies[count] = ms;
      if (seriesOf !== undefined) seriesOf[count] = series;
      count++;
    };
    const send = (client: number, scheduledAt: number, then: () => void): void => {
      issued++;
      inflight++;
      let answered = false;
      driver.issue(client, (issued - 1) * spec.workerCount + spec.workerIndex, (error, series = 0) => {
        if (finished || answered) return; // abandoned at the hard stop; already counted as unfinished
        answered = true;
        inflight--;
        if (error === abandonedOp) abandoned++;
        else if (error !== undefined) { failed++; countError(errors, error); }
        else record(performance.now() - scheduledAt, series);
        spec.progress[spec.progressSlot] = count + failed;
        then();
      });
    };
    // At the hard stop: issue nothing more, wait a short grace for answers, then abandon the rest.
    timers.stop = setTimeout(() => {
      ctl.hardStopped = true;
      ctl.stop();
      timers.grace = setTimeout(finish, stopGraceMs);
    }, ctl.durationMaxSeconds * 1000);
    ctl.onStop(() => queueMicrotask(maybeFinish));
    if (spec.quota === 0) maybeFinish();
    if (spec.rate <= 0) {
      const loop = (client: number): void => {
        if (issued >= spec.quota || ctl.stopped) maybeFinish();
        else send(client, performance.now(), () => loop(client));
      };
      for (let c = 0; c < spec.clients && c < spec.quota; c++) loop(c);
      return;
    }
    // Open loop: operation i is due at t0 + i / rate, sent by an idle client (a client carries one operation at a
    // time: lease streams and STM depend on it), latency counted from when it was due.
    const intervalMs = 1000 / spec.rate;
    const idle = Array.from({ length: spec.clients }, (_, c) => spec.clients - 1 - c);
    const tick = (): void => {
      timers.tick = undefined;
      const now = performance.now();
      while (issued < spec.quota && !ctl.stopped && idle.length > 0 && t0 + issued * intervalMs <= now) {
        const due = t0 + issued * intervalMs;
        if (now - due > 1) lateDispatches++;
        const client = idle.pop() as number;
        send(client, due, () => { idle.push(client); if (timers.tick === undefined) tick(); });
      }
      if (issued >= spec.quota || ctl.stopped) { maybeFinish(); return; }
      if (idle.length > 0) timers.tick = setTimeout(tick, Math.max(0, t0 + issued * intervalMs - now));
    };
    tick();
  });
}
