// Reads committed changes back from the backend in revision order, as watch
// events: what a watcher that fell behind (or started in the past) catches up
// from. Whole revisions only: a read never ends inside one.
import type { Backend } from '../storage';
import { revisionKey, decodeRevisionKey, decodeRecord } from './codec';
import { EventType, type Event } from './types';

export interface HistoryChunk {
  /** Events of revisions [from, through], in revision then sub-revision order; prevKv not filled. */
  events: Array<Event & { revision: number }>;
  /** Last revision fully read (from - 1 if none). */
  through: number;
}

/**
 * Changes with main revision in [from, to], stopping after the revision in
 * which `eventsMax` events have been collected.
 */
export async function readHistory(backend: Backend, from: number, to: number, eventsMax: number): Promise<HistoryChunk> {
  const events: Array<Event & { revision: number }> = [];
  let through = from - 1;
  if (to < from) return { events, through };
  let stopAfter: number | undefined;
  for await (const [k, v] of backend.iterate({ gte: revisionKey(from, 0, false), lt: revisionKey(to + 1, 0, false) })) {
    const { main, tombstone } = decodeRevisionKey(k);
    if (stopAfter !== undefined && main > stopAfter) break;
    const record = decodeRecord(v);
    const kv = tombstone ? { ...record, modRevision: main } : record;
    events.push({ type: tombstone ? EventType.Delete : EventType.Put, kv, prevKv: undefined, revision: main });
    through = main;
    if (stopAfter === undefined && events.length >= eventsMax) stopAfter = main;
  }
  // Nothing stopped the scan early: every revision up to `to` has been read.
  if (stopAfter === undefined) through = to;
  return { events, through };
}
