// Watch streams for the benchmarks that hold watchers open (keel-bench's
// watch and watch-get, bench:watch's memory workload), on src/client's streams.
// Watcher w lives on stream w mod streams; its create's answer is matched to
// it in send order (etcd answers a stream's creates in order), so creates may
// be sent one at a time per stream, as clientv3 does, or all at once.
import type * as grpc from '@grpc/grpc-js';
import { codecFor, decodeWatchResponse, type Client, type WatchResponseLite } from '../src/client';

export type WatchEvent = WatchResponseLite['events'][number];

export interface WatchHandlers {
  /** Events of watcher w, with the time (clock()) the message arrived. */
  events(w: number, events: WatchEvent[], at: number): void;
  /** The server canceled watcher w after creating it (e.g. its start revision was compacted). */
  canceled?(w: number, reason: string): void;
  /** Stream s ended or failed; its watchers get nothing more. */
  broken?(s: number, why: string): void;
}


interface PendingCreate { w: number; settle: ((e?: Error) => void) | undefined }

/** One stream: creates in send order awaiting their answer, watch ID → watcher, why it broke, whether its call ended. */
interface Stream { call: grpc.ClientDuplexStream<Buffer, Buffer>; pending: PendingCreate[]; ids: Map<string, number>; broken: string | undefined; ended: boolean }

export class WatchStreams {
  private readonly streams: Stream[] = [];
  private wake: (() => void) | undefined;

  private constructor(private readonly h: WatchHandlers, private readonly clock: () => number) {}

  /** Opens `count` Watch streams, round-robin over the connections. */
  static async open(conns: Client[], count: number, h: WatchHandlers, clock: () => number): Promise<WatchStreams> {
    const ws = new WatchStreams(h, clock);
    for (let s = 0; s < count; s++) {
      // Messages decoded by the client's lean WatchResponse reader: at hundreds of thousands of events a second, the proto decoder is the limit.
      const call = await (conns[s % conns.length] as Client).duplexRaw('Watch', 'Watch');
      const st: Stream = { call, pending: [], ids: new Map(), broken: undefined, ended: false };
      ws.streams.push(st);
      call.on('data', (b: Buffer) => {
        try {
          ws.onData(st, decodeWatchResponse(b));
        } catch (e) {
          ws.fail(s, st, `undecodable watch response: ${e instanceof Error ? e.message : String(e)}`);
        }
      });
      call.on('error', (e: { details?: string; message?: string }) => ws.fail(s, st, `watch stream: ${e.details ?? e.message ?? String(e)}`));
      call.on('end', () => ws.fail(s, st, 'watch stream ended by the server'));
      call.on('status', () => { st.ended = true; ws.wake?.(); });
    }
    return ws;
  }

  get count(): number {
    return this.streams.length;
  }

  brokenWhy(s: number): string | undefined {
    return this.streams[s]?.broken;
  }

  /** Sends watcher w's create request on stream w mod count; resolves when it is created, rejects if refused or not answered in time. */
  create(w: number, request: Record<string, unknown>, timeoutMs: number): Promise<void> {
    const st = this.streams[w % this.streams.length] as Stream;
    if (st.broken !== undefined) return Promise.reject(new Error(st.broken));
    return new Promise<void>((resolve, reject) => {
      const p: PendingCreate = { w, settle: undefined };
      const timer = setTimeout(() => p.settle?.(new Error('watch create: no answer in time')), Math.max(1, timeoutMs));
      // A create that timed out keeps its place in the queue, so later answers still pair with their creates.
      p.settle = (e) => { p.settle = undefined; clearTimeout(timer); if (e === undefined) resolve(); else reject(e); };
      st.pending.push(p);
      st.call.write(codecFor('Watch', 'Watch').encode({ create_request: request }));
    });
  }

  private onData(st: Stream, m: WatchResponseLite): void {
    const at = this.clock();
    const id = m.watch_id;
    if (m.created) {
      const p = st.pending.shift();
      if (p === undefined) return;
      if (m.canceled || id.startsWith('-')) p.settle?.(new Error(`watch create refused: ${m.cancel_reason || 'canceled'}`));
      else { st.ids.set(id, p.w); p.settle?.(); }
      return;
    }
    const w = st.ids.get(id);
    if (w === undefined) return;
    if (m.events.length > 0) this.h.events(w, m.events, at);
    if (m.canceled) {
      st.ids.delete(id);
      this.h.canceled?.(w, m.cancel_reason || `compacted at ${m.compact_revision}`);
    }
  }

  private fail(s: number, st: Stream, why: string): void {
    if (st.broken !== undefined) return;
    st.broken = why;
    for (const p of st.pending.splice(0)) p.settle?.(new Error(why));
    this.h.broken?.(s, why);
  }

  private async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const stopAt = Date.now() + timeoutMs;
    while (!done() && Date.now() < stopAt) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, stopAt - Date.now()));
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
    }
    return done();
  }

  /**
   * keel ends a watch stream when the client half-closes it; etcd keeps it
   * open until the client cancels. So: half-close, a short wait for the
   * server to end them, then cancel the rest, and wait (bounded) for them to
   * be gone so the next measurement does not start while these are torn down.
   */
  async close(timeoutMs: number): Promise<boolean> {
    for (const st of this.streams) { st.broken ??= 'closed'; st.call.end(); }
    const allEnded = (): boolean => this.streams.every((st) => st.ended);
    const ended = await this.until(allEnded, Math.min(timeoutMs, 1000));
    for (const st of this.streams) if (!st.ended) st.call.cancel();
    await this.until(allEnded, timeoutMs);
    return ended;
  }
}

/** The smallest key after every key with this prefix (etcd's GetPrefixRangeEnd); "\0" when there is none. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
