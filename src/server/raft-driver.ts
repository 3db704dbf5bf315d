// Drives the pure raft core: ticks on a timer, and for every Ready persists
// (one write, synced when raft says it must be), sends, applies the committed
// entries, then advances. A leader sends its replication messages before its
// own write, so the followers' writes overlap the leader's (raft thesis
// §10.2.1). That is safe because Readies are handled one after another: a
// commit index that counts the leader's not yet durable entries can only be
// computed from acknowledgements of messages sent in this Ready, so it leaves
// in a later Ready, after this one's write. Everything else — votes, vote
// and append responses — leaves only after the write.
// Everything raft needs from the outside world arrives through here.
import type { TimerHandle, Timers } from '../util';
import type { RawNode, Ready, Message, Entry, ReadState, SoftState, HardState, Snapshot } from '../raft';

export interface RaftLog {
  save(hardState: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null, sync: boolean): Promise<void>;
}

export interface RaftDriverHooks {
  /** Entries just made durable (before this Ready's messages leave). */
  appended(entries: readonly Entry[]): void;
  send(messages: readonly Message[]): void;
  /** Replaces the application state with a received snapshot (before the snapshot is persisted in the log). */
  restore(snapshot: Snapshot): Promise<void>;
  /** Applies committed entries in order. */
  apply(entries: readonly Entry[]): Promise<void>;
  softState(s: SoftState): void;
  readStates(rs: readonly ReadState[]): void;
  fatal(e: unknown): void;
}

/** What a leader may send before its own write: replication, from the leader of the current term. */
const leaderEarlyTypes: ReadonlySet<Message['type']> = new Set<Message['type']>(['MsgApp', 'MsgHeartbeat', 'MsgSnap']);

export class RaftDriver {
  private running = false;
  private again = false;
  private stopped = false;
  private ticker: TimerHandle | undefined;
  /** Settles when the Ready loop in progress ends. */
  private loopDone: Promise<void> = Promise.resolve();

  constructor(readonly node: RawNode, private readonly log: RaftLog, private readonly hooks: RaftDriverHooks, private readonly tickMs: number, private readonly timers: Timers) {}

  start(): void {
    this.ticker = this.timers.every(this.tickMs, () => {
      this.node.tick();
      this.kick();
    });
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.timers.cancel(this.ticker);
  }

  /** Process whatever raft has to say, once the current turn's inputs are in (batching). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.loopDone = new Promise((resolve) => {
      setImmediate(() => {
        this.loop().catch((e: unknown) => this.hooks.fatal(e)).finally(() => {
          this.running = false;
          resolve();
          if (this.again) {
            this.again = false;
            this.kick();
          }
        });
      });
    });
  }

  /** Resolves when no Ready is being handled (for a clean stop: call after stop()). */
  async idle(): Promise<void> {
    while (this.running) await this.loopDone;
  }

  step(m: Message): void {
    // Errors from step are messages raft chose to drop (stale terms, unknown peers): nothing to do.
    this.node.step(m);
    this.kick();
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.node.hasReady()) {
      const rd: Ready = this.node.ready();
      // The store is the snapshot's content: restore it first, then log only the
      // metadata. A crash in between leaves the store ahead of the log, which the
      // next start handles (entries it already has are skipped).
      if (rd.snapshot !== null) await this.hooks.restore(rd.snapshot);
      const snapshot = rd.snapshot === null ? null : { metadata: rd.snapshot.metadata, data: new Uint8Array(0) };
      let after = rd.messages;
      if (rd.messages.length > 0 && this.node.state === 'leader') {
        const term = this.node.term;
        const before = rd.messages.filter((m) => m.term === term && leaderEarlyTypes.has(m.type));
        if (before.length > 0) {
          after = rd.messages.filter((m) => !(m.term === term && leaderEarlyTypes.has(m.type)));
          this.hooks.send(before);
        }
      }
      if (rd.hardState !== null || rd.entries.length > 0 || snapshot !== null) await this.log.save(rd.hardState, rd.entries, snapshot, rd.mustSync);
      if (rd.entries.length > 0) this.hooks.appended(rd.entries);
      if (rd.softState !== null) this.hooks.softState(rd.softState);
      if (after.length > 0) this.hooks.send(after);
      if (rd.committedEntries.length > 0) await this.hooks.apply(rd.committedEntries);
      if (rd.readStates.length > 0) this.hooks.readStates(rd.readStates);
      this.node.advance();
    }
  }
}
