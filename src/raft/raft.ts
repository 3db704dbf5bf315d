// The Raft state machine (Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm", and Ongaro's thesis for PreVote,
// CheckQuorum, leader transfer, ReadIndex and single-server membership
// changes). Pure: time arrives through tick(), jitter from the injected
// Random, input through step(); output accumulates in msgs/readStates and the
// log, and leaves through RawNode's Ready.
import { assert, limits } from '../util';
import {
  applyConfChange, confChangeRefusal, decodeConfChange, encodeConfChange, makeConfState, sortedIds, type ConfChange,
} from './conf-change';
import { validateConfig, type RaftConfig, type ValidConfig } from './config';
import { isStorageError, RaftError } from './errors';
import type { Progress } from './progress';
import { LeaderReads, RequesterReads } from './read-only';
import { RaftLog } from './raft-log';
import { ProgressTracker } from './tracker';
import {
  emptyBytes, entriesBytes, isEmptyHardState, isTransferContext, message, messageFrom, None, transferContext,
  type ConfState, type Entry, type EntryType, type HardState, type Message, type MessageType,
  type ReadState, type SoftState, type StateType,
} from './types';

interface PendingConf {
  readonly index: number;
  /** The configuration once this entry is in the log. */
  readonly confState: ConfState;
}

/** What a leader must broadcast at the next flush. */
type BcastNeed = 'none' | 'entries' | 'commit';

const dropped = (reason: string): RaftError => new RaftError('ProposalDropped', reason);

// Refusals on hot paths are shared values: building an Error captures a stack, which is slow.
const droppedNoLeader = Object.freeze(dropped('no leader'));
const droppedForwardingDisabled = Object.freeze(dropped('proposal forwarding is disabled'));
const droppedTransfer = Object.freeze(dropped('leader transfer in progress'));
const droppedRemoved = Object.freeze(dropped('leader is being removed from the cluster'));
const droppedUncommitted = Object.freeze(dropped('too many uncommitted bytes'));
const readNoLeader = Object.freeze(new RaftError('ReadIndexDropped', 'no leader'));
const readTooMany = Object.freeze(new RaftError('ReadIndexDropped', 'too many pending reads'));

export class Raft {
  readonly id: bigint;
  term = 0;
  vote: bigint = None;
  state: StateType = 'follower';
  lead: bigint = None;
  /** The member a leader transfer is under way to, or None. */
  leadTransferee: bigint = None;
  readonly raftLog: RaftLog;
  readonly prs: ProgressTracker;
  readonly cfg: ValidConfig;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  randomizedElectionTimeout = 0;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Ticks since this node last heard from a leader (or started): below electionTimeout it is in lease. */
  leaderContactElapsed = 0;
  /** Ticks since this Raft was created; the leader's clock for its lease. */
  ticks = 0;
  /** Bytes of entries appended by this leader and not yet committed. */
  uncommittedBytes = 0;
  /** Messages dropped because the outbox was full. */
  droppedMessages = 0;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  /** The configuration in effect at the applied index (what a snapshot taken there must record). */
  private appliedConf: ConfState;
  /** Configuration-change entries above the applied index, oldest first. */
  private pendingConfs: PendingConf[] = [];
  private bcastNeed: BcastNeed = 'none';
  /** This leader ordered a transfer in its term and may no longer trust its lease. */
  private leaseRevoked = false;
  private readonly leaderReads = new LeaderReads();
  private readonly requesterReads: RequesterReads;

  constructor(config: RaftConfig) {
    this.cfg = validateConfig(config);
    this.id = this.cfg.id;
    this.electionTimeout = this.cfg.electionTicks;
    this.heartbeatTimeout = this.cfg.heartbeatTicks;
    this.raftLog = new RaftLog(this.cfg.storage, this.cfg.maxCommittedSizePerReady);
    this.prs = new ProgressTracker(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
    const { hardState, confState } = this.cfg.storage.initialState();
    const bootstrap = this.needsBootstrap(hardState, confState);
    this.appliedConf = bootstrap ? makeConfState([]) : this.initialConf(hardState, confState);
    if (!isEmptyHardState(hardState)) this.loadHardState(hardState);
    const snapIndex = this.storedSnapshotIndex();
    this.loadApplied(snapIndex);
    this.loadConfsFromLog(snapIndex);
    this.raftLog.onAppend = (ents) => this.trackConfEntries(ents);
    this.requesterReads = new RequesterReads(this.id, this.cfg.random.u32(), this.cfg.random.u32());
    this.becomeFollower(this.term, None);
    if (bootstrap) this.bootstrap();
  }

  /** A brand-new member of a new cluster: empty storage and peers given. */
  private needsBootstrap(hs: HardState, cs: ConfState): boolean {
    const storageEmpty = isEmptyHardState(hs) && cs.voters.length + cs.learners.length === 0 && this.cfg.storage.lastIndex() === 0;
    return storageEmpty && this.cfg.peers.length > 0;
  }

  /**
   * Writes the initial configuration into the log as committed conf-change
   * entries of term 1 (the same on every founding member), so a member that
   * joins later learns it by replicating the log from index 1.
   */
  private bootstrap(): void {
    const ccs: ConfChange[] = [
      ...sortedIds(this.cfg.peers).map((nodeId): ConfChange => ({ type: 'addNode', nodeId, context: emptyBytes })),
      ...sortedIds(this.cfg.learners).map((nodeId): ConfChange => ({ type: 'addLearnerNode', nodeId, context: emptyBytes })),
    ];
    const ents: Entry[] = ccs.map((cc, i) => ({ term: 1, index: i + 1, type: 'confChange', data: encodeConfChange(cc) }));
    this.becomeFollower(1, None);
    this.raftLog.append(ents);
    this.raftLog.commitTo(ents.length);
    this.onCommitted();
  }

  /** The configuration as of the storage's snapshot; entries after it are replayed by loadConfsFromLog. */
  private initialConf(hs: HardState, stored: ConfState): ConfState {
    const given = this.cfg.peers.length + this.cfg.learners.length > 0;
    if (given) {
      // Only a brand-new member (empty storage) takes peers; see bootstrap().
      const what = stored.voters.length + stored.learners.length > 0 ? 'a configuration' : isEmptyHardState(hs) ? 'entries' : 'a hard state';
      throw new RaftError('ConfigInvalid', `peers/learners given but storage already holds ${what}: they are only for bootstrapping a new member`);
    }
    return makeConfState(stored.voters, stored.learners);
  }

  private loadHardState(hs: HardState): void {
    assert(Number.isSafeInteger(hs.term), 'hard state term must be a safe integer');
    assert(hs.term >= 0, 'hard state term must not be negative');
    assert(hs.commit >= this.raftLog.committed, 'hard state commit is below the snapshot');
    assert(hs.commit <= this.raftLog.lastIndex(), 'hard state commit is beyond the last entry');
    this.term = hs.term;
    this.vote = hs.vote;
    this.raftLog.commitTo(hs.commit);
  }

  /** The index of the stored snapshot (the log may still hold entries before it, kept for catching up). */
  private storedSnapshotIndex(): number {
    try {
      return this.cfg.storage.snapshot().metadata.index;
    } catch (e) {
      if (isStorageError(e, 'SnapshotTemporarilyUnavailable')) return this.raftLog.firstIndex() - 1;
      throw e;
    }
  }

  /** The application's state starts at the snapshot unless it says it applied more. */
  private loadApplied(snapIndex: number): void {
    const log = this.raftLog;
    const applied = this.cfg.applied ?? Math.min(Math.max(snapIndex, log.applied), log.committed);
    if (applied > log.committed) throw new RaftError('ConfigInvalid', `applied ${applied} is beyond commit ${log.committed}`);
    if (applied > log.applied) log.appliedTo(applied);
  }

  /**
   * Replays the configuration changes of the stored log after the snapshot
   * (the snapshot's configuration already includes those before it).
   */
  private loadConfsFromLog(snapIndex: number): void {
    const last = this.raftLog.lastIndex();
    let lo = Math.max(this.raftLog.firstIndex(), snapIndex + 1);
    for (let guard = 0; lo <= last; guard++) {
      assert(guard <= last, 'configuration scan does not advance');
      const ents = this.raftLog.slice(lo, last + 1, limits.raftMessageBytesDefault * 4);
      for (const e of ents) if (e.type === 'confChange') this.pushConf(e);
      lo += ents.length;
    }
    this.foldAppliedConfs();
    this.prs.setConfig(this.currentConf(), last + 1);
  }

  // ---------------------------------------------------------------- state

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  hardState(): HardState {
    const vote = this.cfg.testMutation === 'forgetVote' ? None : this.vote;
    return { term: this.term, vote, commit: this.raftLog.committed };
  }

  /** The configuration in effect: the latest one in the log, committed or not. */
  currentConf(): ConfState {
    const last = this.pendingConfs[this.pendingConfs.length - 1];
    return last === undefined ? this.appliedConf : last.confState;
  }

  /** The configuration as of the commit index. */
  committedConf(): ConfState {
    let cs = this.appliedConf;
    for (const p of this.pendingConfs) {
      if (p.index > this.raftLog.committed) break;
      cs = p.confState;
    }
    return cs;
  }

  /** The configuration as of the applied index: record it with a snapshot taken there. */
  appliedConfState(): ConfState {
    return this.appliedConf;
  }

  /** Index of the latest configuration-change entry not yet applied, or 0. */
  pendingConfIndex(): number {
    return this.pendingConfs[this.pendingConfs.length - 1]?.index ?? 0;
  }

  /** A configuration change is in the log but not committed. */
  private hasUncommittedConf(): boolean {
    return this.pendingConfIndex() > this.raftLog.committed;
  }

  /** The application applied entries up to i. */
  appliedTo(i: number): void {
    this.raftLog.appliedTo(i);
    this.foldAppliedConfs();
  }

  /**
   * May this node campaign? A voter may; so may a node that an uncommitted
   * change removed or demoted, because it can be the only one holding that
   * change (an old leader): it then leads without counting itself, commits
   * the change and steps down. Votes are always counted in the latest
   * configuration.
   */
  promotable(): boolean {
    if (this.raftLog.hasPendingSnapshot()) return false;
    return this.prs.isVoter(this.id) || this.committedConf().voters.includes(this.id);
  }

  committedInTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  /** A voter in lease has heard from a leader recently and ignores vote requests that would depose it. */
  private inLease(): boolean {
    if (!this.cfg.checkQuorum) return false;
    return this.state === 'leader' || this.leaderContactElapsed < this.electionTimeout;
  }

  // ---------------------------------------------------------------- outbox

  /** Messages to send, after flushing deferred broadcasts. */
  takeMessages(): Message[] {
    this.flush();
    const out = this.msgs;
    this.msgs = [];
    return out;
  }

  takeReadStates(): ReadState[] {
    const out = this.readStates;
    this.readStates = [];
    return out;
  }

  hasPendingOutput(): boolean {
    return this.msgs.length > 0 || this.readStates.length > 0 || this.bcastNeed !== 'none' || (this.state === 'leader' && this.leaderReads.roundPending);
  }

  /** Sends what proposals, commits and reads queued since the last Ready: one batch per follower. */
  flush(): void {
    if (this.state !== 'leader') return;
    const need = this.bcastNeed;
    this.bcastNeed = 'none';
    if (need !== 'none') {
      for (const id of this.prs.progress.keys()) if (id !== this.id) this.sendAppendBatch(id, need === 'commit');
    }
    if (this.leaderReads.roundPending) this.bcastHeartbeat();
  }

  private send(fields: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
    let term = fields.term ?? 0;
    const t = fields.type;
    if (t === 'MsgVote' || t === 'MsgVoteResp' || t === 'MsgPreVote' || t === 'MsgPreVoteResp') {
      assert(term !== 0, `${t} needs an explicit term`);
    } else {
      assert(term === 0, `${t} must not set a term`);
      // Proposals and reads are forwarded like local messages, without a term.
      if (t !== 'MsgProp' && t !== 'MsgReadIndex') term = this.term;
    }
    if (this.msgs.length >= limits.raftMessagesPerReadyMax) {
      this.droppedMessages++;
      return;
    }
    this.msgs.push(messageFrom(fields, fields.from ?? this.id, term));
  }

  // ---------------------------------------------------------------- transitions

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, 'term went backwards');
      assert(Number.isSafeInteger(term), 'term must stay a safe integer');
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.cfg.random.intBelow(this.electionTimeout);
    this.leadTransferee = None;
    this.prs.resetVotes();
    this.prs.resetProgress(this.id, this.raftLog.lastIndex());
    this.uncommittedBytes = 0;
    this.leaderReads.reset();
    this.bcastNeed = 'none';
    this.leaseRevoked = false;
  }

  becomeFollower(term: number, lead: bigint): void {
    this.reset(term);
    this.lead = lead;
    this.state = 'follower';
  }

  becomeCandidate(): void {
    assert(this.state !== 'leader', 'a leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'candidate';
  }

  becomePreCandidate(): void {
    assert(this.state !== 'leader', 'a leader cannot become pre-candidate');
    // A pre-candidate keeps its term and vote: the pre-vote round only asks.
    this.prs.resetVotes();
    this.lead = None;
    this.state = 'preCandidate';
  }

  becomeLeader(): void {
    assert(this.state === 'candidate', 'only a candidate can become leader');
    this.reset(this.term);
    this.lead = this.id;
    this.state = 'leader';
    this.prs.progress.get(this.id)?.becomeReplicate();
    // §5.4.2/§8: an empty entry of the new term lets the leader commit what earlier leaders left.
    const ok = this.appendEntries([{ type: 'normal', data: emptyBytes }], true);
    assert(ok, 'the empty entry of a new term must be appended');
    this.bcastNeed = 'commit';
  }

  // ---------------------------------------------------------------- tick

  tick(): void {
    this.ticks++;
    this.leaderContactElapsed++;
    this.requesterReads.expire(this.ticks - this.electionTimeout * limits.raftReadIndexTimeoutElections);
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(message({ type: 'MsgHup', from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(message({ type: 'MsgCheckQuorum', from: this.id }));
      if (this.state === 'leader' && this.leadTransferee !== None) this.leadTransferee = None;
    }
    if (this.state !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: 'MsgBeat', from: this.id }));
    }
  }

  // ---------------------------------------------------------------- step

  /** Feeds one message in; returns a RaftError if a local request was refused. */
  step(m: Message): RaftError | null {
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return null;
    } else if (m.term !== 0 && m.term < this.term) {
      this.stepLowerTerm(m);
      return null;
    }
    switch (m.type) {
      case 'MsgHup':
        this.hup(false);
        return null;
      case 'MsgVote':
      case 'MsgPreVote':
        this.handleVoteRequest(m);
        return null;
      default:
        switch (this.state) {
          case 'leader':
            return this.stepLeader(m);
          case 'candidate':
          case 'preCandidate':
            return this.stepCandidate(m);
          case 'follower':
            return this.stepFollower(m);
        }
    }
  }

  /** §5.1: a higher term makes us follower. Returns false if the message is to be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
      // §9.6 (CheckQuorum): a voter that recently heard from a leader does not help depose it.
      if (!isTransferContext(m.context) && this.inLease()) return false;
    }
    if (m.type === 'MsgPreVote') return true; // asking does not change our term
    if (m.type === 'MsgPreVoteResp' && !m.reject) return true; // the term moves once the pre-vote is won
    const fromLeader = m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap';
    this.becomeFollower(m.term, fromLeader ? m.from : None);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
      // A stale leader may never learn our term otherwise (we ignore its votes
      // while in lease, and pre-votes do not raise terms): tell it.
      this.send({ type: 'MsgAppResp', to: m.from });
    } else if (m.type === 'MsgPreVote') {
      this.send({ type: 'MsgPreVoteResp', to: m.from, term: this.term, reject: true });
    }
  }

  private hup(transfer: boolean): void {
    if (this.state === 'leader' || !this.promotable()) return;
    if (this.cfg.preVote && !transfer) this.campaign('pre', false);
    else this.campaign('election', transfer);
  }

  private campaign(kind: 'pre' | 'election', transfer: boolean): void {
    let type: MessageType;
    let term: number;
    if (kind === 'pre') {
      this.becomePreCandidate();
      type = 'MsgPreVote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = 'MsgVote';
      term = this.term;
    }
    this.prs.recordVote(this.id, true);
    if (this.prs.tallyVotes().result === 'won') {
      if (kind === 'pre') this.campaign('election', transfer);
      else this.becomeLeader();
      return;
    }
    const index = this.raftLog.lastIndex();
    const logTerm = this.raftLog.lastTerm();
    const context = transfer ? transferContext : emptyBytes;
    for (const id of this.prs.voters) {
      if (id !== this.id) this.send({ type, to: id, term, index, logTerm, context });
    }
  }

  /** §5.2, §5.4.1: one vote per term, only for a log at least as up to date as ours. */
  private handleVoteRequest(m: Message): void {
    const respType = m.type === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp';
    const canVote = this.vote === m.from
      || (this.vote === None && this.lead === None)
      || (m.type === 'MsgPreVote' && m.term > this.term);
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      // A pre-vote answer carries the candidate's future term so it counts there.
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === 'MsgVote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): RaftError | null {
    switch (m.type) {
      case 'MsgBeat':
        this.bcastHeartbeat();
        return null;
      case 'MsgCheckQuorum':
        if (!this.prs.quorumActive(this.id)) this.becomeFollower(this.term, None);
        this.prs.resetRecentActive(this.id);
        return null;
      case 'MsgProp':
        return this.leaderPropose(m);
      case 'MsgReadIndex':
        this.leaderReadIndex(m.context, m.from);
        return null;
      case 'MsgTransferLeader':
        this.leaderTransfer(m.from);
        return null;
      default:
        break;
    }
    const pr = this.prs.progress.get(m.from);
    if (pr === undefined) return null;
    switch (m.type) {
      case 'MsgAppResp':
        this.handleAppendResponse(m, pr);
        break;
      case 'MsgHeartbeatResp':
        this.handleHeartbeatResponse(m, pr);
        break;
      case 'MsgSnapStatus':
        if (pr.state !== 'snapshot') break;
        // Success: wait for the follower's MsgAppResp. Failure: retry after a heartbeat answer.
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        pr.probeSent = true;
        break;
      case 'MsgUnreachable':
        if (pr.state === 'replicate') pr.becomeProbe();
        break;
      default:
        break;
    }
    return null;
  }

  private leaderPropose(m: Message): RaftError | null {
    assert(m.entries.length > 0, 'empty proposal');
    if (!this.prs.isVoter(this.id)) return droppedRemoved;
    if (this.leadTransferee !== None) return droppedTransfer;
    let confChanges = 0;
    for (const e of m.entries) {
      if (e.type !== 'confChange') continue;
      confChanges++;
      const refusal = this.confChangeRefusal(e.data, confChanges);
      if (refusal !== null) return dropped(refusal);
    }
    if (!this.appendEntries(m.entries, false)) return droppedUncommitted;
    if (this.bcastNeed === 'none') this.bcastNeed = 'entries';
    return null;
  }

  private confChangeRefusal(data: Uint8Array, nth: number): string | null {
    if (nth > 1) return 'one configuration change per proposal';
    if (this.hasUncommittedConf()) return 'a configuration change is still uncommitted';
    if (!this.committedInTerm()) return 'leader has not yet committed an entry of its term';
    return confChangeRefusal(this.currentConf(), decodeConfChange(data));
  }

  /** Appends entries of the current term to the leader's log; false if over the uncommitted budget. */
  private appendEntries(es: readonly { type: EntryType; data: Uint8Array }[], force: boolean): boolean {
    assert(es.length <= limits.raftProposalEntriesMax, 'too many entries in one proposal');
    let li = this.raftLog.lastIndex();
    const ents: Entry[] = es.map((e, i) => ({ term: this.term, index: li + 1 + i, type: e.type, data: e.data }));
    const bytes = entriesBytes(ents);
    if (!force && this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.cfg.maxUncommittedEntriesSize) return false;
    this.uncommittedBytes += bytes;
    li = this.raftLog.append(ents);
    this.prs.progress.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
    return true;
  }

  /** §5.3, §5.4.2: commit the highest index on a majority, but only by counting an entry of this term. */
  private maybeCommit(): boolean {
    const mci = this.prs.committed();
    if (mci <= this.raftLog.committed) return false;
    if (this.cfg.testMutation !== 'commitPreviousTermEntries' && this.raftLog.termOrZero(mci) !== this.term) return false;
    this.raftLog.commitTo(mci);
    this.onCommitted();
    return true;
  }

  /** Things that wait for the commit index: reads held until the first commit of the term. */
  private onCommitted(): void {
    if (this.state !== 'leader' || !this.committedInTerm()) return;
    for (let r = this.leaderReads.beforeCommit.shift(); r !== undefined; r = this.leaderReads.beforeCommit.shift()) {
      this.serveRead(r.ctx, r.from);
    }
  }

  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.state !== 'leader') return;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entriesBytes(ents));
  }

  private bcastHeartbeat(): void {
    const round = this.leaderReads.newRound(this.ticks);
    for (const [id, pr] of this.prs.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit beyond what we know it holds.
      const commit = Math.min(pr.match, this.raftLog.committed);
      this.send({ type: 'MsgHeartbeat', to: id, commit, index: round });
    }
    this.releaseReads();
  }

  /** Sends entries to one follower until it has them all or flow control pauses it. */
  private sendAppendBatch(to: bigint, sendIfEmpty: boolean): void {
    let sent = this.maybeSendAppend(to, sendIfEmpty);
    for (let i = 0; sent && i <= this.cfg.maxInflightMsgs; i++) sent = this.maybeSendAppend(to, false);
  }

  private sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /** §5.3: sends the entries after the follower's next index, or a snapshot if they are compacted. */
  private maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let ents: readonly Entry[];
    try {
      prevTerm = this.raftLog.term(prevIndex);
      ents = this.raftLog.entries(pr.next, this.cfg.maxSizePerMsg);
    } catch (e) {
      if (isStorageError(e, 'Compacted')) return this.sendSnapshot(to, pr);
      throw e;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    const last = ents[ents.length - 1];
    this.send({ type: 'MsgApp', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.raftLog.committed });
    pr.sentEntries(ents.length, last === undefined ? prevIndex : last.index, entriesBytes(ents));
    return true;
  }

  private sendSnapshot(to: bigint, pr: Progress): boolean {
    // A follower that is not answering would not take it either.
    if (!pr.recentActive) return false;
    let snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (e) {
      if (isStorageError(e, 'SnapshotTemporarilyUnavailable')) return false;
      throw e;
    }
    assert(snapshot.metadata.index > 0, 'the log is compacted but there is no snapshot');
    pr.becomeSnapshot(snapshot.metadata.index);
    this.send({ type: 'MsgSnap', to, snapshot });
    return true;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      this.handleAppendRejection(m, pr);
      return;
    }
    const wasPaused = pr.isPaused();
    const probeAcked = pr.match === m.index && pr.state === 'probe';
    if (!pr.maybeUpdate(m.index) && !probeAcked) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot') {
      if (pr.match + 1 >= this.raftLog.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      }
    } else {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.bcastNeed = 'commit';
      this.maybeStepDownAfterRemoval();
      if (this.state !== 'leader') return;
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    this.sendAppendBatch(m.from, false);
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleAppendRejection(m: Message, pr: Progress): void {
    // Fast backtracking: skip every entry of ours that cannot match the follower's hint.
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (!pr.maybeDecrTo(m.index, nextProbe)) return;
    if (pr.state === 'replicate') pr.becomeProbe();
    this.sendAppend(m.from);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // A full window with an answering follower means a MsgApp was lost: free a
    // slot so the next MsgApp goes out; its rejection sends us back to probing.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
    if (m.index <= this.leaderReads.round && m.index > pr.ackedRound) {
      pr.ackedRound = m.index;
      this.releaseReads();
    }
  }

  /** The latest heartbeat round a quorum of voters has acknowledged (this leader counts as the latest). */
  private quorumAckedRound(): number {
    return this.prs.quorumValue((id, pr) => (id === this.id ? this.leaderReads.round : pr.ackedRound));
  }

  private releaseReads(): void {
    for (const r of this.leaderReads.release(this.quorumAckedRound())) this.answerRead(r.ctx, r.from, r.index);
  }

  // ---------------------------------------------------------------- reads

  /** Issues a ReadIndex request; returns its ID, answered later through a ReadState. */
  readIndex(): Uint8Array | RaftError {
    if (this.requesterReads.full()) return readTooMany;
    if (this.state !== 'leader' && this.lead === None) return readNoLeader;
    const ctx = this.requesterReads.issue(this.ticks);
    this.step(message({ type: 'MsgReadIndex', from: this.id, context: ctx }));
    return ctx;
  }

  private leaderReadIndex(ctx: Uint8Array, from: bigint): void {
    if (this.committedInTerm()) {
      this.serveRead(ctx, from);
    } else if (!this.leaderReads.beforeCommit.full()) {
      // §6.4: until it commits in its term, the leader does not know the commit index.
      this.leaderReads.beforeCommit.push({ ctx, from });
    }
  }

  private serveRead(ctx: Uint8Array, from: bigint): void {
    const index = this.raftLog.committed;
    if (this.prs.isSingleton() && this.prs.isVoter(this.id)) {
      this.answerRead(ctx, from, index);
    } else if (this.cfg.readOnlyOption === 'lease' && this.leaseValid()) {
      this.answerRead(ctx, from, index);
    } else {
      this.leaderReads.enqueue(ctx, from, index);
    }
  }

  private leaseValid(): boolean {
    if (this.leaseRevoked && this.cfg.testMutation !== 'leaseIgnoresTransfer') return false;
    if (!this.prs.isVoter(this.id)) return false;
    const sent = this.leaderReads.tickOf(this.quorumAckedRound());
    return sent !== null && this.ticks - sent < this.electionTimeout;
  }

  private answerRead(ctx: Uint8Array, from: bigint, index: number): void {
    if (from === this.id || from === None) this.acceptReadState(ctx, index);
    else this.send({ type: 'MsgReadIndexResp', to: from, index, context: ctx });
  }

  private acceptReadState(ctx: Uint8Array, index: number): void {
    if (!this.requesterReads.take(ctx)) return; // unknown, duplicate or expired
    if (this.readStates.length >= limits.raftReadIndexPendingMax) return;
    this.readStates.push({ index, requestCtx: ctx });
  }

  // ---------------------------------------------------------------- transfer

  private leaderTransfer(transferee: bigint): void {
    const pr = this.prs.progress.get(transferee);
    if (pr === undefined || pr.isLearner) return;
    if (this.leadTransferee !== None) {
      if (this.leadTransferee === transferee) return;
      this.leadTransferee = None;
    }
    if (transferee === this.id) return;
    // The transfer must finish within an election timeout (tickHeartbeat aborts it).
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: bigint): void {
    this.leaseRevoked = true;
    this.send({ type: 'MsgTimeoutNow', to });
  }

  // ---------------------------------------------------------------- candidate

  private stepCandidate(m: Message): RaftError | null {
    const myVoteResp: MessageType = this.state === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgProp':
        return droppedNoLeader;
      case 'MsgApp':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return null;
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return null;
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return null;
      default:
        if (m.type === myVoteResp) this.handleVoteResponse(m);
        return null;
    }
  }

  private handleVoteResponse(m: Message): void {
    this.prs.recordVote(m.from, !m.reject);
    const { result } = this.prs.tallyVotes();
    if (result === 'won') {
      if (this.state === 'preCandidate') this.campaign('election', false);
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, None);
    }
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): RaftError | null {
    switch (m.type) {
      case 'MsgProp':
        if (this.lead === None) return droppedNoLeader;
        if (this.cfg.disableProposalForwarding) return droppedForwardingDisabled;
        this.send({ ...m, to: this.lead, term: 0 });
        return null;
      case 'MsgApp':
        this.heardFromLeader(m.from);
        this.handleAppendEntries(m);
        return null;
      case 'MsgHeartbeat':
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return null;
      case 'MsgSnap':
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return null;
      case 'MsgTransferLeader':
      case 'MsgReadIndex':
        if (this.lead !== None) this.send({ ...m, to: this.lead, term: 0 });
        return null;
      case 'MsgTimeoutNow':
        // §3.10: the leader asks us to campaign at once, skipping pre-vote.
        this.hup(true);
        return null;
      case 'MsgReadIndexResp':
        this.acceptReadState(m.context, m.index);
        return null;
      default:
        return null;
    }
  }

  private heardFromLeader(from: bigint): void {
    this.electionElapsed = 0;
    this.leaderContactElapsed = 0;
    this.lead = from;
  }

  /** §5.3: accept entries only where our log matches the leader's at the preceding index. */
  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed });
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.onCommitted();
      this.send({ type: 'MsgAppResp', to: m.from, index: lastNew });
      return;
    }
    const hint = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm);
    this.send({ type: 'MsgAppResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.onCommitted();
    this.send({ type: 'MsgHeartbeatResp', to: m.from, index: m.index });
  }

  /** §7: install a snapshot that is ahead of our commit index; ignore stale ones. */
  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    assert(snap !== null, 'MsgSnap without a snapshot');
    if (this.restore(snap.metadata.index, snap.metadata.term, snap)) {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.raftLog.lastIndex() });
    } else {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed });
    }
  }

  private restore(index: number, term: number, snap: NonNullable<Message['snapshot']>): boolean {
    if (index <= this.raftLog.committed) return false;
    assert(this.state === 'follower', 'only a follower restores a snapshot');
    if (this.raftLog.matchTerm(index, term)) {
      // We already hold the snapshot's entries: just learn that they are committed.
      this.raftLog.commitTo(index);
      this.onCommitted();
      return false;
    }
    this.raftLog.restore(snap);
    this.appliedConf = makeConfState(snap.metadata.confState.voters, snap.metadata.confState.learners);
    this.pendingConfs = [];
    this.switchToConfig();
    return true;
  }

  // ---------------------------------------------------------------- membership

  private pushConf(e: Entry): void {
    const cc = decodeConfChange(e.data);
    this.pendingConfs.push({ index: e.index, confState: applyConfChange(this.currentConf(), cc) });
    assert(this.pendingConfs.length <= limits.raftPendingConfChangesMax, 'too many unapplied configuration changes');
  }

  /** Keeps the configuration equal to the latest one in the log as entries are appended or replaced. */
  private trackConfEntries(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    let changed = false;
    while (this.pendingConfIndex() >= first.index) {
      this.pendingConfs.pop();
      changed = true;
    }
    for (const e of ents) {
      if (e.type !== 'confChange') continue;
      this.pushConf(e);
      changed = true;
    }
    if (changed) this.switchToConfig();
  }

  private foldAppliedConfs(): void {
    for (;;) {
      const first = this.pendingConfs[0];
      if (first === undefined || first.index > this.raftLog.applied) return;
      this.appliedConf = first.confState;
      this.pendingConfs.shift();
    }
  }

  private switchToConfig(): void {
    this.prs.setConfig(this.currentConf(), this.raftLog.lastIndex() + 1);
    if (this.state !== 'leader') return;
    if (this.leadTransferee !== None && !this.prs.isVoter(this.leadTransferee)) this.leadTransferee = None;
    if (this.maybeCommit()) this.maybeStepDownAfterRemoval();
    if (this.state === 'leader') this.bcastNeed = 'commit';
  }

  /**
   * §4.2.2 (thesis): a leader that removed (or demoted) itself keeps leading
   * until that change commits, then steps down, nudging the most caught-up
   * voter to campaign at once.
   */
  private maybeStepDownAfterRemoval(): void {
    if (this.state !== 'leader' || this.prs.isVoter(this.id)) return;
    if (this.hasUncommittedConf()) return;
    this.flush(); // let followers learn the final commit index first
    let best: bigint = None;
    let bestMatch = -1;
    for (const id of this.prs.voters) {
      const pr = this.prs.progress.get(id);
      if (pr !== undefined && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best !== None && bestMatch === this.raftLog.lastIndex()) this.sendTimeoutNow(best);
    this.becomeFollower(this.term, None);
  }
}
