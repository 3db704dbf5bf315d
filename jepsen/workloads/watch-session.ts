// One watch session as the watch checker reads it: an invoke 'watch' with the
// range and start revision, and a completion whose value lists every response
// the stream delivered, in order (created, events, progress, canceled). A
// session that ends by the client's choice is `ok`; one the stream ended (a
// killed member, a reset) is `info`: what it delivered still counts.
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Client, Event, KeyValue, WatchResponse } from '../../src/client';
import { watchSessionDeliveriesMax, watchSessionEventsMax } from '../limits';
import { prefixEnd, sleep, type Worker } from './common';

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  key: string;
  mod: number;
  create: number;
  version: number;
  /** null for a DELETE. */
  value: string | null;
  prevMod: number | null;
  prevValue: string | null;
}

export interface Delivery {
  kind: 'created' | 'events' | 'progress' | 'canceled';
  /** The response header's revision. */
  h: number;
  timeNs: number;
  events?: WatchEvent[];
  compactRevision?: number;
  reason?: string;
}

export interface SessionSpec {
  prefix: string;
  /** 0: from the current revision on. */
  start: number;
  durationMs: number;
  progressEveryMs: number;
  /** Ends the session early once an event or progress at this revision or later arrived. */
  untilRevision?: number;
  extra?: Record<string, unknown>;
}

export interface SessionResult {
  deliveries: Delivery[];
  /** Highest revision the session is known complete up to (last event, or last progress). */
  through: number;
  canceled: boolean;
}

function toEvent(e: Event): WatchEvent | undefined {
  const kv: KeyValue | null = e.kv;
  if (kv === null) return undefined;
  const del = e.type === 1 || String(e.type) === 'DELETE';
  return {
    type: del ? 'DELETE' : 'PUT',
    key: kv.key.toString(),
    mod: Number(kv.mod_revision),
    create: Number(kv.create_revision),
    version: Number(kv.version),
    value: del ? null : kv.value.toString(),
    prevMod: e.prev_kv === null ? null : Number(e.prev_kv.mod_revision),
    prevValue: e.prev_kv === null ? null : e.prev_kv.value.toString(),
  };
}

export function classifyResponse(r: WatchResponse, nowNs: number): Delivery {
  const h = Number(r.header?.revision ?? 0);
  if (r.canceled) return { kind: 'canceled', h, timeNs: nowNs, compactRevision: Number(r.compact_revision), reason: r.cancel_reason };
  if (r.created) return { kind: 'created', h, timeNs: nowNs };
  const events = r.events.map(toEvent).filter((e): e is WatchEvent => e !== undefined);
  if (events.length === 0) return { kind: 'progress', h, timeNs: nowNs };
  return { kind: 'events', h, timeNs: nowNs, events };
}

/** Runs one session on the worker's member and records it. Returns what was delivered. */
export async function watchSession(w: Worker, spec: SessionSpec): Promise<SessionResult> {
  const result: SessionResult = { deliveries: [], through: 0, canceled: false };
  let endReason = 'closed';
  const inv = { value: { prefix: spec.prefix, start: spec.start }, extra: spec.extra ?? {} };
  await w.op('watch', inv, async (c) => {
    endReason = await stream(c, spec, result, w);
    // A member that is down refuses streams at once: back off instead of spinning.
    if (result.deliveries.length === 0) await sleep(500);
    const type = endReason === 'closed' || endReason === 'canceled' || endReason === 'until' ? 'ok' : 'info';
    return { type, fields: { value: result.deliveries, extra: { ...(spec.extra ?? {}), end: endReason } } };
  });
  return result;
}

async function stream(c: Client, spec: SessionSpec, result: SessionResult, w: Worker): Promise<string> {
  let s: ClientDuplexStream<unknown, unknown>;
  try {
    s = await c.duplex('Watch', 'Watch', { timeoutMs: w.ctx.opTimeoutMs });
  } catch (e) {
    return `open failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  let events = 0;
  return new Promise<string>((resolve) => {
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (why: string): void => {
      if (done) return;
      done = true;
      timers.forEach((t) => clearTimeout(t));
      s.removeAllListeners('data');
      s.on('error', () => undefined);
      s.cancel();
      resolve(why);
    };
    s.on('data', (r: WatchResponse) => {
      if (done) return;
      const d = classifyResponse(r, w.ctx.rec.nowNs());
      result.deliveries.push(d);
      if (d.kind === 'events') {
        events += d.events?.length ?? 0;
        result.through = Math.max(result.through, ...(d.events ?? []).map((e) => e.mod));
      }
      if (d.kind === 'progress') result.through = Math.max(result.through, d.h);
      if (d.kind === 'canceled') {
        result.canceled = true;
        finish('canceled');
      } else if (spec.untilRevision !== undefined && result.through >= spec.untilRevision) {
        finish('until');
      } else if (events >= watchSessionEventsMax || result.deliveries.length >= watchSessionDeliveriesMax) {
        finish('closed');
      }
    });
    s.on('error', (e: Error) => finish(`stream error: ${e.message}`));
    s.on('end', () => finish('stream ended by server'));
    s.write({
      create_request: {
        key: Buffer.from(spec.prefix),
        range_end: prefixEnd(spec.prefix),
        start_revision: String(spec.start),
        prev_kv: true,
        progress_notify: true,
      },
    });
    timers.push(setTimeout(() => finish('closed'), spec.durationMs));
    const progress = (): void => {
      if (done) return;
      s.write({ progress_request: {} });
      timers.push(setTimeout(progress, spec.progressEveryMs));
    };
    timers.push(setTimeout(progress, spec.progressEveryMs));
  });
}
