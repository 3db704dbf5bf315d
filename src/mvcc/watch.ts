// The watchable store: watchers grouped in streams, fed with the events of
// durable revisions. A watcher is either synced (it has every revision up to
// the hub's revision and receives new ones as they are published) or unsynced
// (it is behind: it catches up by reading history from the backend, in
// bounded chunks, and becomes synced again when it reaches the hub's revision).
//
// Publishing never blocks and never buffers without bound: when a stream
// cannot take more, its watchers that had events in the revision fall back to
// unsynced at that revision and are caught up from storage later.
import { assert, limits } from '../util';
import { EventType, type Event, type KeyValue } from './types';
import type { HistoryChunk } from './history';

export const enum WatchFilter { NoPut = 0, NoDelete = 1 }

/** What the api layer turns into a WatchResponse. */
export interface WatchOutput {
  watchId: number;
  /** Header revision. */
  revision: number;
  events: Event[];
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
  readonly filters: WatchFilter[];
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
  if (ev.type === EventType.Put) return !w.filters.includes(WatchFilter.NoPut);
  return !w.filters.includes(WatchFilter.NoDelete);
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
      this.sink.write({ watchId, revision: this.hub.revision, events: [], canceled: true });
      return true;
    }
    const w = this.watchers.get(watchId);
    if (w === undefined) return false;
    this.hub.remove(w);
    this.sink.write({ watchId, revision: this.hub.revision, events: [], canceled: true });
    return true;
  }

  requestProgress(): void {
    if (this.progressDeferred) return;
    if (!this.hub.progressIfSynced(this)) this.progressDeferred = true;
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

export class WatchHub {
  /** The durable revision: every event up to it has been published. */
  revision: number;
  private readonly streams = new Set<WatchStream>();
  private readonly singleKey = new Map<string, Set<Watcher>>();
  private readonly ranged = new Set<Watcher>();
  private readonly unsynced = new Set<Watcher>();
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
      stream.write({ watchId: -1, revision: this.revision, events: [], created: true, canceled: true, cancelReason: emptyRangeReason });
      return;
    }
    const id = stream.allocateId(req.watchId);
    if (id === undefined) {
      stream.write({ watchId: -1, revision: this.revision, events: [], created: true, canceled: true, cancelReason: duplicateWatchIdReason });
      return;
    }
    if (this.watcherCount >= limits.watchersMax) {
      stream.write({ watchId: id, revision: this.revision, events: [], created: true, canceled: true, cancelReason: 'etcdserver: too many requests' });
      return;
    }
    const startRev = req.startRevision === 0 ? this.revision + 1 : req.startRevision;
    const w: Watcher = {
      id, stream, key, end, filters: req.filters, prevKv: req.prevKv, progressNotify: req.progressNotify, fragment: req.fragment,
      nextRev: startRev, synced: startRev > this.revision, sentSinceProgress: false,
    };
    stream.watchers.set(id, w);
    this.watcherCount++;
    if (end === undefined) {
      let set = this.singleKey.get(key);
      if (set === undefined) this.singleKey.set(key, (set = new Set()));
      set.add(w);
    } else {
      this.ranged.add(w);
    }
    stream.write({ watchId: id, revision: this.revision, events: [], created: true });
    if (!w.synced) {
      this.unsynced.add(w);
      this.kick();
    }
  }

  remove(w: Watcher): void {
    if (!w.stream.watchers.delete(w.id)) return;
    this.watcherCount--;
    this.unsynced.delete(w);
    if (w.end === undefined) {
      const set = this.singleKey.get(w.key);
      set?.delete(w);
      if (set !== undefined && set.size === 0) this.singleKey.delete(w.key);
    } else {
      this.ranged.delete(w);
    }
  }

  streamClosed(s: WatchStream): void {
    this.streams.delete(s);
  }

  /**
   * Publishes the events of one durable revision (in sub-revision order).
   * Synchronous and non-blocking: a watcher whose stream is full falls back to
   * unsynced at this revision.
   */
  publish(revision: number, events: Event[]): void {
    assert(revision > this.revision, 'published revisions strictly increase');
    const perWatcher = new Map<Watcher, Event[]>();
    for (const ev of events) {
      const key = ev.kv.key.toString('latin1');
      const single = this.singleKey.get(key);
      if (single !== undefined) for (const w of single) this.collect(perWatcher, w, ev, revision);
      for (const w of this.ranged) if (matches(w, key)) this.collect(perWatcher, w, ev, revision);
    }
    this.revision = revision;
    for (const [w, evs] of perWatcher) {
      if (w.stream.blocked) {
        this.fallBehind(w, revision);
        continue;
      }
      const out = evs.filter((ev) => passes(w, ev)).map((ev) => (w.prevKv ? ev : { ...ev, prevKv: undefined }));
      w.nextRev = revision + 1;
      if (out.length === 0) continue;
      w.sentSinceProgress = true;
      w.stream.write({ watchId: w.id, revision, events: out, ...(w.fragment ? { fragment: true } : {}) });
    }
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
    if (stream.watchers.size > 0) stream.write({ watchId: -1, revision: this.revision, events: [] });
    return true;
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

  private collect(perWatcher: Map<Watcher, Event[]>, w: Watcher, ev: Event, revision: number): void {
    // A watcher that starts in the future is synced but waits for its start revision.
    if (!w.synced || revision < w.nextRev) return;
    let list = perWatcher.get(w);
    if (list === undefined) perWatcher.set(w, (list = []));
    list.push(ev);
  }

  private fallBehind(w: Watcher, revision: number): void {
    w.synced = false;
    w.nextRev = revision;
    this.unsynced.add(w);
  }

  private answerDeferredProgress(): void {
    for (const s of this.streams) {
      if (s.progressDeferred && this.progressIfSynced(s)) s.progressDeferred = false;
    }
  }

  private notifyProgress(): void {
    for (const s of this.streams) {
      if (s.blocked) continue;
      for (const w of s.watchers.values()) {
        if (!w.progressNotify || !w.synced) continue;
        if (!w.sentSinceProgress) s.write({ watchId: w.id, revision: this.revision, events: [] });
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
        w.stream.write({ watchId: w.id, revision: 0, events: [], canceled: true, compactRevision: compactRev });
      }
      const live = ready.filter((w) => w.stream.watchers.get(w.id) === w);
      if (live.length === 0) continue;
      // Revision 1 is the empty store's: history starts after it (a negative start means all of it).
      const from = Math.max(2, Math.min(...live.map((w) => w.nextRev)));
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
    const prevCache = new Map<string, KeyValue | undefined>();
    for (const w of watchers) {
      if (w.stream.watchers.get(w.id) !== w || w.stream.blocked) continue;
      // Responses are cut between revisions once they pass a byte bound, so a
      // client's receive limit is never exceeded by catch-up and no revision is split.
      const responses: Event[][] = [[]];
      let bytes = 0;
      let lastRev = 0;
      for (const ev of chunk.events) {
        if (ev.revision < w.nextRev || !matches(w, ev.kv.key.toString('latin1')) || !passes(w, ev)) continue;
        if (bytes >= limits.watchResponseBytesSoftMax && ev.revision !== lastRev) {
          responses.push([]);
          bytes = 0;
        }
        const prevKv = w.prevKv && !isCreate(ev) ? await this.prevKvOf(ev, prevCache) : undefined;
        (responses[responses.length - 1] as Event[]).push({ type: ev.type, kv: ev.kv, prevKv });
        bytes += eventBytes(ev.kv) + (prevKv === undefined ? 0 : eventBytes(prevKv));
        lastRev = ev.revision;
      }
      // The stream may have been closed or this watcher canceled while prev kvs were read.
      if (w.stream.watchers.get(w.id) !== w) continue;
      if (chunk.through >= w.nextRev) w.nextRev = chunk.through + 1;
      for (const evs of responses) {
        if (evs.length === 0) continue;
        w.sentSinceProgress = true;
        w.stream.write({ watchId: w.id, revision: this.revision, events: evs, ...(w.fragment ? { fragment: true } : {}) });
      }
      if (w.nextRev > this.revision) this.markSynced(w);
    }
  }

  private async prevKvOf(ev: Event & { revision: number }, cache: Map<string, KeyValue | undefined>): Promise<KeyValue | undefined> {
    const id = `${ev.revision}:${ev.kv.key.toString('latin1')}`;
    if (cache.has(id)) return cache.get(id);
    const kv = await this.source.kvAt(ev.kv.key, ev.revision - 1);
    if (cache.size < limits.watchSyncEventsMax) cache.set(id, kv);
    return kv;
  }

  private markSynced(w: Watcher): void {
    // Only now, in the same turn as the check, can no published revision slip between.
    if (w.nextRev <= this.revision) return;
    w.synced = true;
    this.unsynced.delete(w);
    if (w.stream.progressDeferred && this.progressIfSynced(w.stream)) w.stream.progressDeferred = false;
  }
}
