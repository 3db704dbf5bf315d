// Proposals and their waiters: a request is proposed through raft tagged with
// a request ID; the applier's outcome for that ID settles the proposer's
// promise. Proposals made while no leader is known are parked and proposed
// again when one is. Every waiter times out after etcd's request timeout.
import { EtcdError, limits, type TimerHandle, type Timers } from '../util';
import type { LeaseIdGenerator } from '../lease';
import { decodeConfChange, type ConfChange, type Entry, type RaftError } from '../raft';
import { encodeRequest, type Op } from './requests';
import { confChangeContext, decodeConfChangeContext, type MemberInfo } from './membership';
import type { ApplyOutcome } from './applier';

/** What proposing needs from raft. */
export interface ProposalRaft {
  leader(): bigint;
  propose(data: Uint8Array): RaftError | null;
  proposeConfChange(cc: ConfChange): RaftError | null;
  /** Handle the Ready these proposals produce. */
  kick(): void;
}

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: TimerHandle;
}

export class Proposer {
  private readonly waiters = new Map<bigint, Waiter>();
  /** Proposals made while no leader was known; bounded by limits.applyQueueRequestsMax. */
  private parked: Uint8Array[] = [];
  /** Conf changes answered once appended here (bounded by the waiters: an ID leaves when its waiter does). */
  private readonly answerWhenAppended = new Set<bigint>();
  private stopped = false;

  constructor(
    private readonly raft: ProposalRaft,
    private readonly ids: LeaseIdGenerator,
    private readonly timers: Timers,
    private readonly timeoutMs: number,
  ) {}

  /** Proposes `body`; resolves with its applied result (or rejects with its EtcdError). */
  propose<T>(body: Op): Promise<T> {
    if (this.stopped) return Promise.reject(new EtcdError('Stopped'));
    if (this.waiters.size >= limits.applyQueueRequestsMax) return Promise.reject(new EtcdError('TooManyRequests'));
    const id = this.ids.next();
    const data = encodeRequest({ id, body });
    const settled = this.wait<T>(id);
    this.submit(data);
    return settled;
  }

  /**
   * Proposes a conf change whose context carries the waiter's request ID and the member's record.
   * It settles when applied, or — `answer: 'appended'` — once this member has it in its log.
   */
  proposeConfChange(cc: Omit<ConfChange, 'context'>, member: MemberInfo, answer: 'applied' | 'appended' = 'applied'): Promise<void> {
    if (this.stopped) return Promise.reject(new EtcdError('Stopped'));
    if (this.waiters.size >= limits.applyQueueRequestsMax) return Promise.reject(new EtcdError('TooManyRequests'));
    const id = this.ids.next();
    const settled = this.wait<void>(id);
    if (answer === 'appended') this.answerWhenAppended.add(id);
    if (this.raft.leader() !== 0n) {
      const err = this.raft.proposeConfChange({ ...cc, context: confChangeContext(id, member) });
      if (err !== null) this.settleOne(id, false, new EtcdError('Unhealthy'));
      else this.raft.kick();
    }
    return settled;
  }

  /** Hands applied outcomes to their waiters (outcomes of other members' proposals have none here). */
  settle(outcomes: readonly ApplyOutcome[]): void {
    for (const o of outcomes) this.settleOne(o.requestId, o.ok, o.value);
  }

  /** Entries this member just made durable: conf changes waited on until appended are answered. */
  appended(entries: readonly Entry[]): void {
    if (this.answerWhenAppended.size === 0) return;
    for (const e of entries) {
      if (e.type !== 'confChange') continue;
      const { requestId } = decodeConfChangeContext(decodeConfChange(e.data).context);
      if (requestId === undefined || !this.answerWhenAppended.has(requestId)) continue;
      this.settleOne(requestId, true, undefined);
    }
  }

  /** A leader is known again: propose what was parked. */
  leaderKnown(): void {
    if (this.parked.length === 0) return;
    const parked = this.parked;
    this.parked = [];
    for (const data of parked) this.submit(data);
  }

  get pending(): number {
    return this.waiters.size;
  }

  close(): void {
    this.stopped = true;
    for (const [id, w] of this.waiters) {
      this.timers.cancel(w.timer);
      w.reject(new EtcdError('Stopped'));
      this.waiters.delete(id);
    }
    this.parked = [];
  }

  private wait<T>(id: bigint): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.timers.after(this.timeoutMs, () => {
        this.waiters.delete(id);
        this.answerWhenAppended.delete(id);
        reject(new EtcdError('Timeout'));
      });
      this.waiters.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
    });
  }

  private submit(data: Uint8Array): void {
    if (this.raft.leader() === 0n) {
      this.park(data);
      return;
    }
    // Dropped (e.g. a leader transfer in progress): keep it for the next leader; its waiter times out otherwise.
    if (this.raft.propose(data) !== null) this.park(data);
    this.raft.kick();
  }

  private park(data: Uint8Array): void {
    if (this.parked.length < limits.applyQueueRequestsMax) this.parked.push(data);
  }

  private settleOne(id: bigint, ok: boolean, value: unknown): void {
    const w = this.waiters.get(id);
    this.answerWhenAppended.delete(id);
    if (w === undefined) return;
    this.waiters.delete(id);
    this.timers.cancel(w.timer);
    if (ok) w.resolve(value); else w.reject(value);
  }
}
