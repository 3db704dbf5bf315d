// The raft log this member persists Ready by Ready (storage/'s DurableRaftStorage).
import { DurableRaftStorage } from '../storage';

export type RaftLogStorage = DurableRaftStorage;

export async function openRaftLog(dir: string, appliedIndex: number): Promise<RaftLogStorage> {
  const log = await DurableRaftStorage.open(dir);
  // A store with applied state and no log at all is not something keel writes (a restored data dir has neither).
  if (log.isNew() && appliedIndex > 0) {
    await log.close();
    throw new Error(`data dir holds applied state up to index ${appliedIndex} but no raft log at ${dir}: refusing to start (restore from a snapshot instead)`);
  }
  return log;
}

/**
 * The index raft starts applying after. The store can be ahead of the log (a crash right after
 * restoring a leader's snapshot): raft resumes from what the log holds and the entries the store
 * already has are skipped on apply. The log's commit index can also be behind the store: a hard
 * state that only moved the commit index is written unsynced (raft's mustSync), so a power cut
 * may lose it; raft learns it again.
 */
export function raftAppliedIndex(log: RaftLogStorage, storeApplied: number): number {
  const logCommit = Math.max(log.initialState().hardState.commit, log.snapshot().metadata.index);
  return Math.min(storeApplied, Math.max(log.lastIndex(), log.snapshot().metadata.index), logCommit);
}
