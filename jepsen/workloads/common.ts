// What every workload shares: workers that each own a sequential process, a
// client bound to one member, a seeded generator, and the rule that turns an
// outcome into a completion: a response is `ok`, an error the server gave
// definitely (it did nothing) is `fail`, anything else (timeout, Unavailable,
// a lost connection) is `info`, after which the worker takes a new process.
import * as grpc from '@grpc/grpc-js';
import { ClientError, type Client } from '../../src/client';
import { SeededRandom } from '../../src/util';
import { clientFor, type Endpoint } from '../cluster/cluster';
import type { HistoryOp } from '../history';
import { concurrencyMax } from '../limits';
import type { CompleteFields, InvokeFields, Recorder } from '../recorder';

export interface RunState {
  /** Highest revision any response reported. */
  maxRevision: number;
  /** Highest revision a Compact call succeeded at (the compaction nemesis and the kubernetes workload compact). */
  compactRevision: number;
}

export interface WorkloadContext {
  rec: Recorder;
  /** Members to talk to now (changes with membership faults). */
  endpoints: () => Endpoint[];
  state: RunState;
  opTimeoutMs: number;
  /** Workers of this workload. */
  concurrency: number;
  /** Operations per second this workload aims at in total. */
  rate: number;
  /** Set when the run's time is up: workers finish their current operation and return. */
  stopped: () => boolean;
  /** Seed of this workload's generators (each worker forks its own, so a seed replays). */
  seed: number;
  log: (msg: string) => void;
}

export interface Workload {
  readonly name: string;
  /** Generates operations until ctx.stopped(). */
  run(ctx: WorkloadContext): Promise<void>;
  /** After the heal: the final reads the checkers need (the cluster is quiet then). */
  final(ctx: WorkloadContext): Promise<void>;
}

export type Outcome = { type: 'ok' | 'fail' | 'info'; fields: CompleteFields };

const definite = new Set<number>([
  grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.ALREADY_EXISTS, grpc.status.PERMISSION_DENIED,
  grpc.status.RESOURCE_EXHAUSTED, grpc.status.FAILED_PRECONDITION, grpc.status.OUT_OF_RANGE,
  grpc.status.UNIMPLEMENTED, grpc.status.UNAUTHENTICATED,
]);

/** fail only for errors that mean the request was refused before it took effect. */
export function classify(e: unknown): Outcome {
  if (e instanceof ClientError) {
    const error = e instanceof ClientError && e.isDeadline ? 'timeout' : e.details;
    return { type: definite.has(e.code) ? 'fail' : 'info', fields: { error } };
  }
  return { type: 'info', fields: { error: e instanceof Error ? e.message : String(e) } };
}

export class Worker {
  process: number;
  readonly rng: SeededRandom;
  private client: Client | undefined;
  private clientEndpoint = '';
  node = '';
  /** When set, the next operations go to the member at this index (mod members) instead of the worker's own. */
  target: number | undefined;

  constructor(readonly ctx: WorkloadContext, readonly workload: string, readonly id: number, rng: SeededRandom) {
    this.process = ctx.rec.newProcess();
    this.rng = rng;
  }

  /** The client of the member this worker is bound to (worker id modulo the members, as Jepsen binds clients to nodes). */
  get conn(): Client {
    const eps = this.ctx.endpoints();
    const ep = eps[(this.target ?? this.id + this.process) % Math.max(1, eps.length)];
    if (ep === undefined) throw new Error('no endpoints');
    if (this.client === undefined || this.clientEndpoint !== ep.endpoint) {
      this.client?.close();
      this.client = clientFor(ep.endpoint);
      this.clientEndpoint = ep.endpoint;
    }
    this.node = ep.name;
    return this.client;
  }

  /** Records one operation around `body`; `body` returns the completion's type and fields. */
  async op(f: string, inv: InvokeFields, body: (c: Client) => Promise<Outcome>): Promise<Outcome & { invoke: HistoryOp }> {
    const c = this.conn;
    const invoke = this.ctx.rec.invoke(this.process, this.workload, f, { ...inv, node: this.node });
    let out: Outcome;
    try {
      out = await body(c);
    } catch (e) {
      out = classify(e);
    }
    if (out.fields.revision !== undefined && out.fields.revision > this.ctx.state.maxRevision) this.ctx.state.maxRevision = out.fields.revision;
    this.ctx.rec.complete(invoke, out.type, out.fields);
    if (out.type === 'info') this.process = this.ctx.rec.newProcess();
    return { ...out, invoke };
  }

  get timeout(): { timeoutMs: number } {
    return { timeoutMs: this.ctx.opTimeoutMs };
  }

  /** Pauses between operations so the workload's workers together keep to its rate. */
  async pace(): Promise<void> {
    const meanMs = (1000 * this.ctx.concurrency) / Math.max(1, this.ctx.rate);
    await sleep(meanMs * (0.5 + this.rng.float()));
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}

/** Runs `concurrency` workers, each looping `step` until the run stops or the history is full. */
export async function runWorkers(ctx: WorkloadContext, workload: string, step: (w: Worker) => Promise<void>, count = ctx.concurrency): Promise<Worker[]> {
  const root = new SeededRandom(ctx.seed);
  const workers: Worker[] = [];
  for (let i = 0; i < Math.min(count, concurrencyMax); i++) workers.push(new Worker(ctx, workload, i, root.fork()));
  await Promise.all(workers.map(async (w) => {
    while (!ctx.stopped() && !ctx.rec.full) {
      await step(w);
      await w.pace();
    }
  }));
  return workers;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function rev(header: { revision: string } | null | undefined): number {
  return Number(header?.revision ?? 0);
}

/** The key just past every key with this prefix (etcd's clientv3.GetPrefixRangeEnd). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      b[i] = b[i]! + 1;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
