// Every --snapshot-count applied entries, the raft log is compacted (keeping
// --experimental-snapshot-catchup-entries for followers that are a little
// behind). The store itself is the snapshot, so the raft snapshot holds none;
// a follower further behind gets the whole store (see sendWithSnapshots).
import { dumpBackend, type Backend } from '../storage';
import type { ConfState, Message } from '../raft';
import type { ServerConfig } from './config';
import type { Logger } from './log';
import type { RaftLogStorage } from './raft-log';

export class LogCompaction {
  /** Index of the last raft snapshot taken or received (the log is compacted up to it, minus a catch-up tail). */
  private snapshotIndex: number;

  constructor(private readonly raftLog: RaftLogStorage, private readonly config: ServerConfig, private readonly log: Logger) {
    this.snapshotIndex = raftLog.snapshot().metadata.index;
  }

  /** Whether the log should be compacted at `applied` (the store must be made durable first). */
  due(applied: number): boolean {
    return applied - this.snapshotIndex >= this.config.snapshotCount;
  }

  async compact(applied: number, confState: ConfState): Promise<void> {
    // Right after a restore the store can be ahead of the entries this log holds.
    if (applied > this.raftLog.lastIndex()) return;
    await this.raftLog.createSnapshotAndCompact(applied, confState, new Uint8Array(0), this.config.snapshotCatchupEntries);
    this.log.info('compacted raft log', { 'snapshot-index': applied, 'kept-entries': this.config.snapshotCatchupEntries });
    this.snapshotIndex = applied;
  }

  /** A snapshot from the leader was installed. */
  restored(index: number): void {
    this.snapshotIndex = index;
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** Sends raft's messages; a MsgSnap first gets the whole store attached (raft's snapshot carries only its metadata). */
export function sendWithSnapshots(messages: readonly Message[], backend: Backend, send: (ms: Message[]) => void, failed: (to: bigint, e: unknown) => void): void {
  const plain = messages.filter((m) => m.type !== 'MsgSnap');
  if (plain.length > 0) send(plain);
  for (const m of messages) {
    if (m.type !== 'MsgSnap' || m.snapshot === null) continue;
    const snap = m.snapshot;
    void collect(dumpBackend(backend)).then((data) => send([{ ...m, snapshot: { ...snap, data } }]), (e: unknown) => failed(m.to, e));
  }
}
