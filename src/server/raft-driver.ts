// Drives the pure raft core: ticks on a timer, and for every Ready persists
// (one synced write), sends, applies the committed entries, then advances.
// Everything raft needs from the outside world arrives through here.
import type { RawNode, Ready, Message, Entry, ReadState, SoftState, HardState, Snapshot } from '../raft';

export interface RaftLog {
  save(hardState: HardState | null, entries: readonly Entry[], snapshot: Snapshot | null): Promise<void>;
}

export interface RaftDriverHooks {
  /** Entries just made durable (before this Ready's messages leave). */
  appended(entries: readonly Entry[]): void;
  send(messages: readonly Message[]): void;
  /** Applies committed entries in order (a received snapshot first, if any). */
  apply(snapshot: Snapshot | null, entries: readonly Entry[]): Promise<void>;
  softState(s: SoftState): void;
  readStates(rs: readonly ReadState[]): void;
  fatal(e: unknown): void;
}

export class RaftDriver {
  private running = false;
  private again = false;
  private stopped = false;
  private ticker: NodeJS.Timeout | undefined;

  constructor(readonly node: RawNode, private readonly log: RaftLog, private readonly hooks: RaftDriverHooks, private readonly tickMs: number) {}

  start(): void {
    this.ticker = setInterval(() => {
      this.node.tick();
      this.kick();
    }, this.tickMs);
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.ticker !== undefined) clearInterval(this.ticker);
  }

  /** Process whatever raft has to say, once the current turn's inputs are in (batching). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => {
      this.loop().catch((e: unknown) => this.hooks.fatal(e)).finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
    });
  }

  /** Resolves when no Ready is being handled (for a clean stop). */
  async idle(): Promise<void> {
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  step(m: Message): void {
    // Errors from step are messages raft chose to drop (stale terms, unknown peers): nothing to do.
    this.node.step(m);
    this.kick();
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.node.hasReady()) {
      const rd: Ready = this.node.ready();
      if (rd.hardState !== null || rd.entries.length > 0 || rd.snapshot !== null) await this.log.save(rd.hardState, rd.entries, rd.snapshot);
      if (rd.entries.length > 0) this.hooks.appended(rd.entries);
      if (rd.softState !== null) this.hooks.softState(rd.softState);
      if (rd.messages.length > 0) this.hooks.send(rd.messages);
      if (rd.snapshot !== null || rd.committedEntries.length > 0) await this.hooks.apply(rd.snapshot, rd.committedEntries);
      if (rd.readStates.length > 0) this.hooks.readStates(rd.readStates);
      this.node.advance();
    }
  }
}
