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
