// The configuration in effect (voters and learners), the leader's Progress
// for each member, votes of the current campaign, and majority arithmetic.
import { assert, limits } from '../util';
import { makeConfState } from './conf-change';
import { Progress } from './progress';
import type { ConfState } from './types';

export type VoteResult = 'pending' | 'won' | 'lost';

export class ProgressTracker {
  voters: readonly bigint[] = [];
  learners: readonly bigint[] = [];
  /** Progress for every member, in ascending ID order. */
  readonly progress = new Map<bigint, Progress>();
  private readonly votes = new Map<bigint, boolean>();

  constructor(private readonly maxInflightMsgs: number, private readonly maxInflightBytes: number) {}

  confState(): ConfState {
    return { voters: this.voters, learners: this.learners };
  }

  isVoter(id: bigint): boolean {
    return this.voters.includes(id);
  }

  isMember(id: bigint): boolean {
    return this.progress.has(id);
  }

  /** Installs a configuration; members that stay keep their Progress, new ones start probing at next. */
  setConfig(cs: ConfState, next: number): void {
    const c = makeConfState(cs.voters, cs.learners);
    assert(c.voters.length + c.learners.length <= limits.raftMembersMax, 'too many members');
    const old = new Map(this.progress);
    this.progress.clear();
    const learners = new Set(c.learners);
    for (const id of [...c.voters, ...c.learners].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))) {
      const prev = old.get(id);
      const isLearner = learners.has(id);
      if (prev !== undefined && prev.isLearner === isLearner) {
        this.progress.set(id, prev);
      } else {
        const pr = this.newProgress(next, isLearner);
        if (prev !== undefined) {
          // A promotion or demotion keeps what we know of the follower's log.
          pr.match = prev.match;
          pr.next = Math.max(prev.match + 1, Math.min(prev.next, next));
          pr.recentActive = prev.recentActive;
          pr.ackedRound = prev.ackedRound;
        }
        this.progress.set(id, pr);
      }
    }
    this.voters = c.voters;
    this.learners = c.learners;
    for (const id of [...this.votes.keys()]) if (!this.progress.has(id)) this.votes.delete(id);
  }

  /** Fresh Progress for every member, as on a change of leadership. */
  resetProgress(selfId: bigint, lastIndex: number): void {
    for (const [id, old] of this.progress) {
      const pr = this.newProgress(lastIndex + 1, old.isLearner);
      if (id === selfId) {
        pr.match = lastIndex;
        pr.recentActive = true;
      }
      this.progress.set(id, pr);
    }
  }

  private newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(Math.max(next, 1), isLearner, this.maxInflightMsgs, this.maxInflightBytes);
  }

  /**
   * The largest value a majority of voters has reached: with values sorted
   * descending, the one at position quorum - 1. 0 without voters.
   */
  quorumValue(valueOf: (id: bigint, pr: Progress) => number): number {
    const n = this.voters.length;
    if (n === 0) return 0;
    const values: number[] = [];
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      assert(pr !== undefined, 'voter without progress');
      values.push(valueOf(id, pr));
    }
    values.sort((a, b) => b - a);
    return values[Math.floor(n / 2)] as number;
  }

  /** The highest index replicated on a majority of voters. */
  committed(): number {
    return this.quorumValue((_id, pr) => pr.match);
  }

  /** A majority of voters was heard from in the last CheckQuorum period (self counts as heard). */
  quorumActive(selfId: bigint): boolean {
    let active = 0;
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      if (id === selfId || (pr !== undefined && pr.recentActive)) active++;
    }
    return active >= Math.floor(this.voters.length / 2) + 1;
  }

  resetRecentActive(selfId: bigint): void {
    for (const [id, pr] of this.progress) pr.recentActive = id === selfId;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records the first answer of a member; answers from non-members are not kept (bounded map). */
  recordVote(id: bigint, granted: boolean): void {
    if (!this.progress.has(id)) return;
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = Math.floor(this.voters.length / 2) + 1;
    const missing = this.voters.length - granted - rejected;
    const result: VoteResult = granted >= q ? 'won' : granted + missing < q ? 'lost' : 'pending';
    return { granted, rejected, result };
  }

  isSingleton(): boolean {
    return this.voters.length === 1;
  }
}
