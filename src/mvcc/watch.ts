// The watchable store: watchers grouped in streams, fed with the events of
// durable revisions. A watcher is either synced (it has every revision up to
// the hub's revision and receives new ones as they are published) or unsynced
// (it is behind: it catches up by reading history from the backend, in
// bounded chunks, and becomes synced again when it reaches the hub's revision).
//
// Publishing never blocks and never buffers without bound: when a stream
// cannot take more, its watchers that had events in the revision fall back to
// unsynced at that revision and are caught up from storage later.
//
// One put may fan out to thousands of watchers: every watcher that receives an
// event is handed the same Event object (and, where it can, the same events
// array), so the transport encodes each event once, and publishing allocates
// nothing per watcher but its output.
import { assert, limits } from '../util';
import { EventType, type Event, type KeyValue } from './types';
import type { HistoryChunk } from './history';

export const enum WatchFilter { NoPut = 0, NoDelete = 1 }

/** What the api layer turns into a WatchResponse. */
export interface WatchOutput {
  watchId: number;
  /** Header revision. */
  revision: number;
  /** Shared between the outputs of one publish or catch-up round: never mutated. */
  events: readonly Event[];
  created?: boolean;
  canceled?: boolean;
  compactRevision?: number;
  cancelReason?: string;
  /** The watcher asked for fragmented responses (api splits large ones). */
  fragment?: boolean;
}

/** The transport side of one stream. */
export interface WatchSink {
  /** Writes a response; false when the transport's buffer is full (call WatchStream.resume when it drains). */
  write(out: WatchOutput): boolean;
}

export interface WatchCreate {
  /** 0 = let the stream choose (etcd's AutoWatchID). */
  watchId: number;
  key: Buffer;
  /** Empty = single key; [0x00] = every key >= key. */
  rangeEnd: Buffer;
  /** 0 = after the current revision; negative = all history (as etcd). */
  startRevision: number;
  filters: WatchFilter[];
  prevKv: boolean;
  progressNotify: boolean;
  fragment: boolean;
}

export interface HubSource {
  /** Committed changes in [from, to]. */
  readHistory(from: number, to: number, eventsMax: number): Promise<HistoryChunk>;
  /** The kv of `key` at `revision`, or undefined (none, or compacted). */
  kvAt(key: Buffer, revision: number): Promise<KeyValue | undefined>;
  compactRevision(): number;
}

interface Watcher {
  readonly id: number;
  readonly stream: WatchStream;
  readonly key: string;
  /** undefined = single key; '' = unbounded. */
  readonly end: string | undefined;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  readonly fragment: boolean;
  /** The next revision this watcher must be sent. */
  nextRev: number;
  synced: boolean;
  /** Events were sent since the last periodic progress notification. */
  sentSinceProgress: boolean;
}

export const duplicateWatchIdReason = 'mvcc: duplicate watch ID provided on the WatchStream';
export const emptyRangeReason = 'mvcc: watcher range is empty';

function matches(w: Watcher, key: string): boolean {
  if (w.end === undefined) return key === w.key;
  return key >= w.key && (w.end === '' || key < w.end);
}

function passes(w: Watcher, ev: Event): boolean {
  return ev.type === EventType.Put ? !w.noPut : !w.noDelete;
}

function eventBytes(kv: KeyValue): number {
  return kv.key.length + kv.value.length + 32;
}

/** A create event (a key's first version) has no previous kv; etcd does not look one up. */
function isCreate(ev: Event): boolean {
  return ev.type === EventType.Put && ev.kv.version === 1;
}

export class WatchStream {
  readonly watchers = new Map<number, Watcher>();
  /**
   * IDs of watchers the server canceled (compaction) that the client has not
   * canceled yet: etcd keeps them, so the client's cancel is still answered
   * and the ID stays taken until then.
   */
  readonly serverCanceled = new Set<number>();
  private nextAutoId = 0;
  blocked = false;
  closed = false;
  /** A progress request waits until every watcher of the stream is synced (etcd 3.5). */
  progressDeferred = false;

  constructor(private readonly hub: WatchHub, readonly sink: WatchSink) {}

  /** Creates a watcher; answers the created response (or a canceled one, as etcd does) through the sink. */
  watch(req: WatchCreate): void {
    this.hub.create(this, req);
  }

  cancel(watchId: number): boolean {
    if (this.serverCanceled.delete(watchId)) {
      this.write({ watchId, revision: this.hub.revision, events: noEvents, canceled: true });
      return true;
    }
    const w = this.watchers.get(watchId);
    if (w === undefined) return false;
    this.hub.remove(w);
    this.write({ watchId, revision: this.hub.revision, events: noEvents, canceled: true });
    return true;
  }

  requestProgress(): void {
    if (this.progressDeferred) return;
    if (!this.hub.progressIfSynced(this)) this.hub.deferProgress(this);
  }

  /** The transport drained: unsynced watchers of this stream may catch up. */
  resume(): void {
    this.blocked = false;
    this.hub.kick();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watchers.values()]) this.hub.remove(w);
    this.hub.streamClosed(this);
  }

  /** etcd: watch_id 0 asks the stream to choose; any other ID is the client's and must be unused. */
  allocateId(requested: number): number | undefined {
    if (requested !== 0) return this.watchers.has(requested) || this.serverCanceled.has(requested) ? undefined : requested;
    while (this.watchers.has(this.nextAutoId) || this.serverCanceled.has(this.nextAutoId)) this.nextAutoId++;
    return this.nextAutoId++;
  }

  write(out: WatchOutput): void {
    if (!this.sink.write(out)) this.blocked = true;
  }
}

const noEvents: readonly Event[] = Object.freeze([]);

/**
 * The events of one revision as watchers receive them, built once per publish:
 * with prev_kv (the store's own array), and without it (shared copies, made
 * only if some watcher does not want prev_kv).
 */
class RevisionEvents {
  private plainEvents: Event[] | undefined;

  constructor(readonly events: readonly Event[]) {}

  plainAll(): readonly Event[] {
    if (this.plainEvents === undefined) this.plainEvents = this.events.map(withoutPrevKv);
    return this.plainEvents;
  }

  plain(i: number): Event {
    return this.plainAll()[i] as Event;
  }
}

function withoutPrevKv(ev: Event): Event {
  return ev.prevKv === undefined ? ev : { type: ev.type, kv: ev.kv, prevKv: undefined };
}

export class WatchHub {
  /** The durable revision: every event up to it has been published. */
  revision: number;
  private readonly streams = new Set<WatchStream>();
  /** Single-key watchers by key: one watcher alone (the usual case), or a set. */
  private readonly singleKey = new Map<string, Watcher | Set<Watcher>>();
  private readonly ranged = new Set<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  /** Streams whose progress request waits for every watcher to be synced. */
  private readonly progressWaiting = new Set<WatchStream>();
  private watcherCount = 0;
  private syncing = false;
  private syncAgain = false;
  private progressTimer: NodeJS.Timeout | undefined;

  constructor(private readonly source: HubSource, revision: number, private readonly onError: (e: unknown) => void) {
    this.revision = revision;
  }

  newStream(sink: WatchSink): WatchStream {
    assert(this.streams.size < limits.watchStreamsMax, 'watch streams within limit');
    const s = new WatchStream(this, sink);
    this.streams.add(s);
    return s;
  }

  get streamCount(): number { return this.streams.size; }
  get watcherTotal(): number { return this.watcherCount; }

  /** Periodic progress notifications for watchers that asked for them (etcd's --experimental-watch-progress-notify-interval). */
  startProgressNotify(intervalMs: number): void {
    this.progressTimer = setInterval(() => this.notifyProgress(), intervalMs);
    this.progressTimer.unref();
  }

  stop(): void {
    if (this.progressTimer !== undefined) clearInterval(this.progressTimer);
    for (const s of [...this.streams]) s.close();
  }

  create(stream: WatchStream, req: WatchCreate): void {
    const key = req.key.toString('latin1');
    const end = req.rangeEnd.length === 0 ? undefined : req.rangeEnd.length === 1 && req.rangeEnd[0] === 0 ? '' : req.rangeEnd.toString('latin1');
    if (end !== undefined && end !== '' && key >= end) {
      stream.write({ watchId: -1, revision: this.revision, events: noEvents, created: true, canceled: true, cancelReason: emptyRangeReason });
      return;
    }
    const id = stream.allocateId(req.watchId);
    if (id === undefined) {
      stream.write({ watchId: -1, revision: this.revision, events: noEvents, created: true, canceled: true, cancelReason: duplicateWatchIdReason });
      return;
    }
    if (this.watcherCount >= limits.watchersMax) {
      stream.write({ watchId: id, revision: this.revision, events: noEvents, created: true, canceled: true, cancelReason: 'etcdserver: too many requests' });
      return;
    }
    const startRev = req.startRevision === 0 ? this.revision + 1 : req.startRevision;
    const w: Watcher = {
      id, stream, key, end,
      noPut: req.filters.includes(WatchFilter.NoPut), noDelete: req.filters.includes(WatchFilter.NoDelete),
      prevKv: req.prevKv, progressNotify: req.progressNotify, fragment: req.fragment,
      nextRev: startRev, synced: startRev > this.revision, sentSinceProgress: false,
    };
    stream.watchers.set(id, w);
    this.watcherCount++;
    if (end === undefined) this.addSingle(w);
    else this.ranged.add(w);
    stream.write({ watchId: id, revision: this.revision, events: noEvents, created: true });
    if (!w.synced) {
      this.unsynced.add(w);
      this.kick();
    }
  }

  remove(w: Watcher): void {
    if (!w.stream.watchers.delete(w.id)) return;
    this.watcherCount--;
    this.unsynced.delete(w);
    if (w.end === undefined) this.removeSingle(w);
    else this.ranged.delete(w);
  }

  streamClosed(s: WatchStream): void {
    this.streams.delete(s);
    this.progressWaiting.delete(s);
  }

  /**
   * Publishes the events of one durable revision (in sub-revision order).
   * Synchronous and non-blocking: a watcher whose stream is full falls back to
   * unsynced at this revision.
   */
  publish(revision: number, events: Event[]): void {
    assert(revision > this.revision, 'published revisions strictly increase');
    const shared = new RevisionEvents(events);
    if (events.length === 1) this.publishOne(revision, shared);
    else if (events.length > 1) this.publishMany(revision, shared);
    this.revision = revision;
    // Watchers without events here are synced through this revision too.
    this.answerDeferredProgress();
  }

  /**
   * The store was replaced (a raft snapshot from the leader): every watcher
   * catches up from the new store's history from where it was.
   */
  resync(revision: number): void {
    this.revision = revision;
    for (const s of this.streams) {
      for (const w of s.watchers.values()) {
        if (!w.synced) continue;
        w.synced = false;
        this.unsynced.add(w);
      }
    }
    this.kick();
  }

  /** The durable revision moved without events (e.g. a compaction or an empty write). */
  advance(revision: number): void {
    if (revision <= this.revision) return;
    this.revision = revision;
    this.answerDeferredProgress();
  }

  progressIfSynced(stream: WatchStream): boolean {
    for (const w of stream.watchers.values()) if (!w.synced) return false;
    // etcd 3.5 answers on the stream's first watcher; a stream without watchers gets nothing.
    if (stream.watchers.size > 0) stream.write({ watchId: -1, revision: this.revision, events: noEvents });
    return true;
  }

  deferProgress(stream: WatchStream): void {
    stream.progressDeferred = true;
    this.progressWaiting.add(stream);
  }

  kick(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    if (this.unsynced.size === 0) return;
    this.syncing = true;
    setImmediate(() => {
      this.syncLoop().catch(this.onError).finally(() => {
        this.syncing = false;
        if (this.syncAgain) {
          this.syncAgain = false;
          this.kick();
        }
      });
    });
  }

  private addSingle(w: Watcher): void {
    const cur = this.singleKey.get(w.key);
    if (cur === undefined) this.singleKey.set(w.key, w);
    else if (cur instanceof Set) cur.add(w);
    else this.singleKey.set(w.key, new Set([cur, w]));
  }

  private removeSingle(w: Watcher): void {
    const cur = this.singleKey.get(w.key);
    if (cur === w) {
      this.singleKey.delete(w.key);
    } else if (cur instanceof Set) {
      cur.delete(w);
      const [only, more] = cur;
      if (only !== undefined && more === undefined) this.singleKey.set(w.key, only);
    }
  }

  /** The common case, one event: no grouping, one shared events array per kind of watcher. */
  private publishOne(revision: number, shared: RevisionEvents): void {
    const ev = shared.events[0] as Event;
    const key = ev.kv.key.toString('latin1');
    const single = this.singleKey.get(key);
    if (single instanceof Set) {
      for (const w of single) this.sendOne(w, revision, shared);
    } else if (single !== undefined) {
      this.sendOne(single, revision, shared);
    }
    if (this.ranged.size === 0) return;
    for (const w of this.ranged) if (matches(w, key)) this.sendOne(w, revision, shared);
  }

  private sendOne(w: Watcher, revision: number, shared: RevisionEvents): void {
    if (!this.due(w, revision)) return;
    const ev = shared.events[0] as Event;
    if (!passes(w, ev)) return;
    w.sentSinceProgress = true;
    w.stream.write(this.output(w, revision, w.prevKv ? shared.events : shared.plainAll()));
  }

  /** Several events in one revision (a txn, a range delete, a lease revoke): each watcher gets its matching ones in one response. */
  private publishMany(revision: number, shared: RevisionEvents): void {
    const perWatcher = new Map<Watcher, Event[]>();
    const collect = (w: Watcher, i: number): void => {
      // A watcher that starts in the future is synced but waits for its start revision.
      if (!w.synced || revision < w.nextRev) return;
      const ev = shared.events[i] as Event;
      if (!passes(w, ev)) return;
      let list = perWatcher.get(w);
      if (list === undefined) perWatcher.set(w, (list = []));
      list.push(w.prevKv ? ev : shared.plain(i));
    };
    for (let i = 0; i < shared.events.length; i++) {
      const key = (shared.events[i] as Event).kv.key.toString('latin1');
      const single = this.singleKey.get(key);
      if (single instanceof Set) for (const w of single) collect(w, i);
      else if (single !== undefined) collect(single, i);
      for (const w of this.ranged) if (matches(w, key)) collect(w, i);
    }
    for (const [w, evs] of perWatcher) {
      if (!this.due(w, revision)) continue;
      w.sentSinceProgress = true;
      w.stream.write(this.output(w, revision, evs));
    }
  }

  /**
   * A synced watcher takes `revision` now (true), or it starts later, or its
   * stream is full and it falls back to unsynced at this revision (false).
   */
  private due(w: Watcher, revision: number): boolean {
    // A watcher that starts in the future is synced but waits for its start revision.
    if (!w.synced || revision < w.nextRev) return false;
    if (w.stream.blocked) {
      this.fallBehind(w, revision);
      return false;
    }
    w.nextRev = revision + 1;
    return true;
  }

  private output(w: Watcher, revision: number, events: readonly Event[]): WatchOutput {
    return w.fragment ? { watchId: w.id, revision, events, fragment: true } : { watchId: w.id, revision, events };
  }

  private fallBehind(w: Watcher, revision: number): void {
    w.synced = false;
    w.nextRev = revision;
    this.unsynced.add(w);
  }

  private answerDeferredProgress(): void {
    if (this.progressWaiting.size === 0) return;
    for (const s of this.progressWaiting) this.answerProgress(s);
  }

  private answerProgress(s: WatchStream): void {
    if (!this.progressIfSynced(s)) return;
    s.progressDeferred = false;
    this.progressWaiting.delete(s);
  }

  private notifyProgress(): void {
    for (const s of this.streams) {
      if (s.blocked) continue;
      for (const w of s.watchers.values()) {
        if (!w.progressNotify || !w.synced) continue;
        if (!w.sentSinceProgress) s.write({ watchId: w.id, revision: this.revision, events: noEvents });
        w.sentSinceProgress = false;
      }
    }
  }

  /** Catches unsynced watchers up from storage, one shared history read per round. */
  private async syncLoop(): Promise<void> {
    for (let round = 0; round < limits.watchSyncRoundsMax; round++) {
      const ready = [...this.unsynced].filter((w) => !w.stream.blocked && !w.stream.closed);
      if (ready.length === 0) return;
      const compactRev = this.source.compactRevision();
      for (const w of ready) {
        if (w.nextRev >= compactRev || compactRev === 0) continue;
        // etcd: a watcher whose start was compacted gets compact_revision and is canceled.
        this.remove(w);
        if (w.stream.serverCanceled.size < limits.watchersMax) w.stream.serverCanceled.add(w.id);
        w.stream.write({ watchId: w.id, revision: 0, events: noEvents, canceled: true, compactRevision: compactRev });
      }
      const live = ready.filter((w) => w.stream.watchers.get(w.id) === w);
      if (live.length === 0) continue;
      // Revision 1 is the empty store's: history starts after it (a negative start means all of it).
      // A loop, not Math.min(...): up to watchersMax arguments would overflow the stack.
      let from = Number.MAX_SAFE_INTEGER;
      for (const w of live) from = Math.min(from, w.nextRev);
      from = Math.max(2, from);
      const to = this.revision;
      if (from > to) {
        for (const w of live) {
          w.nextRev = Math.max(w.nextRev, from);
          this.markSynced(w);
        }
        continue;
      }
      const chunk = await this.source.readHistory(from, to, limits.watchSyncEventsMax);
      // A compaction that passed `from` during the read may have removed part of
      // it: drop the chunk; the next round cancels those watchers as compacted.
      if (this.source.compactRevision() > from) continue;
      await this.deliver(live, chunk);
    }
    // More work remains: yield to the event loop, then continue.
    this.syncAgain = true;
  }

  private async deliver(watchers: Watcher[], chunk: HistoryChunk): Promise<void> {
    // Event objects are shared by every watcher of the round (the transport encodes each once).
    const withPrev = new Map<number, Event>();
    const keys = chunk.events.map((ev) => ev.kv.key.toString('latin1'));
    for (const w of watchers) {
      if (w.stream.watchers.get(w.id) !== w || w.stream.blocked) continue;
      // Responses are cut between revisions once they pass a byte bound, so a
      // client's receive limit is never exceeded by catch-up and no revision is split.
      const responses: Event[][] = [[]];
      let bytes = 0;
      let lastRev = 0;
      for (let i = 0; i < chunk.events.length; i++) {
        const ev = chunk.events[i] as Event & { revision: number };
        if (ev.revision < w.nextRev || !matches(w, keys[i] as string) || !passes(w, ev)) continue;
        if (bytes >= limits.watchResponseBytesSoftMax && ev.revision !== lastRev) {
          responses.push([]);
          bytes = 0;
        }
        const out = w.prevKv && !isCreate(ev) ? await this.withPrevKv(ev, i, withPrev) : ev;
        (responses[responses.length - 1] as Event[]).push(out);
        bytes += eventBytes(ev.kv) + (out.prevKv === undefined ? 0 : eventBytes(out.prevKv));
        lastRev = ev.revision;
      }
      // The stream may have been closed or this watcher canceled while prev kvs were read.
      if (w.stream.watchers.get(w.id) !== w) continue;
      if (chunk.through >= w.nextRev) w.nextRev = chunk.through + 1;
      for (const evs of responses) {
        if (evs.length === 0) continue;
        w.sentSinceProgress = true;
        w.stream.write(this.output(w, this.revision, evs));
      }
      if (w.nextRev > this.revision) {
        this.markSynced(w);
      } else {
        // To the back of the line: a watcher with much to catch up on fills its
        // stream, and the others on that stream go first next round.
        this.unsynced.delete(w);
        this.unsynced.add(w);
      }
    }
  }

  /** History events carry no prev kv (and are themselves the plain events): it is read once per event and round. */
  private async withPrevKv(ev: Event & { revision: number }, index: number, cache: Map<number, Event>): Promise<Event> {
    const cached = cache.get(index);
    if (cached !== undefined) return cached;
    const prevKv = await this.source.kvAt(ev.kv.key, ev.revision - 1);
    const out: Event = { type: ev.type, kv: ev.kv, prevKv };
    cache.set(index, out);
    return out;
  }

  private markSynced(w: Watcher): void {
    // Only now, in the same turn as the check, can no published revision slip between.
    if (w.nextRev <= this.revision) return;
    w.synced = true;
    this.unsynced.delete(w);
    if (w.stream.progressDeferred) this.answerProgress(w.stream);
  }
}
