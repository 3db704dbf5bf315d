// Settings of one raft node, and the checks that refuse unsafe ones.
import { limits } from '../util';
import type { Random } from '../util';
import { RaftError } from './errors';
import type { Storage } from './storage';

export type ReadOnlyOption = 'safe' | 'lease';

/**
 * Deliberate bugs for proving that the tests notice them (the mutation
 * check). Never set outside tests.
 */
export type RaftTestMutation =
  /** Commit by counting replicas of an entry from an earlier term (§5.4.2 forbids it). */
  | 'commitPreviousTermEntries'
  /** Report the vote as None in HardState, so it is never persisted. */
  | 'forgetVote'
  /** Let a leader serve lease reads after ordering a transfer (TimeoutNow). */
  | 'leaseIgnoresTransfer';

export interface RaftConfig {
  /** This member's ID; non-zero. */
  readonly id: bigint;
  /**
   * Voters of a new cluster, for a founding member whose storage is empty:
   * they become committed conf-change entries 1..n of term 1 (every founder
   * writes the same ones). Pass them again if a founder restarts before it
   * persisted anything; never replay a founder's bootstrap from a peer (a
   * prefix of it names a smaller cluster). A restarting member takes its
   * configuration from storage; a member that joins an existing cluster
   * starts empty, without peers.
   */
  readonly peers?: readonly bigint[];
  /** Learners of a new cluster; see peers. */
  readonly learners?: readonly bigint[];
  /** Ticks without hearing from a leader before campaigning (randomized in [e, 2e)). */
  readonly electionTicks: number;
  /** Ticks between leader heartbeats; must be less than electionTicks. */
  readonly heartbeatTicks: number;
  readonly storage: Storage;
  /**
   * The last index the application applied before a restart (default: the
   * stored snapshot's index); committed entries after it are handed out again.
   */
  readonly applied?: number;
  /** Campaign only after a pre-vote round says we could win (§9.6). Default true. */
  readonly preVote?: boolean;
  /** A leader that does not hear from a quorum in an election timeout steps down. Default true. */
  readonly checkQuorum?: boolean;
  /** 'safe' confirms every ReadIndex with a heartbeat quorum; 'lease' may answer from the leader's lease. Default 'safe'. */
  readonly readOnlyOption?: ReadOnlyOption;
  /** MsgApp messages in flight to one follower. */
  readonly maxInflightMsgs?: number;
  /** Bytes of entries in flight to one follower. */
  readonly maxInflightBytes?: number;
  /** Bytes of entries in one MsgApp (at least one entry is always sent). */
  readonly maxSizePerMsg?: number;
  /** Bytes of committed entries in one Ready (at least one entry). */
  readonly maxCommittedSizePerReady?: number;
  /** Bytes of uncommitted entries a leader accepts before dropping proposals. */
  readonly maxUncommittedEntriesSize?: number;
  /** Followers refuse proposals instead of forwarding them to the leader. */
  readonly disableProposalForwarding?: boolean;
  /**
   * Jitter for election timeouts, and the nonce that keeps ReadIndex request
   * IDs unique across restarts: seed it differently on every process start
   * (e.g. from crypto.randomBytes). Equal seeds replay equal runs (tests).
   */
  readonly random: Random;
  /** Tests only: see RaftTestMutation. */
  readonly testMutation?: RaftTestMutation;
}

/** RaftConfig with defaults filled in, after validation. */
export interface ValidConfig {
  readonly id: bigint;
  readonly peers: readonly bigint[];
  readonly learners: readonly bigint[];
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly storage: Storage;
  readonly applied: number | null;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly readOnlyOption: ReadOnlyOption;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly maxSizePerMsg: number;
  readonly maxCommittedSizePerReady: number;
  readonly maxUncommittedEntriesSize: number;
  readonly disableProposalForwarding: boolean;
  readonly random: Random;
  readonly testMutation: RaftTestMutation | null;
}

function invalid(reason: string): never {
  throw new RaftError('ConfigInvalid', reason);
}

function positiveInt(name: string, v: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || v < 1) invalid(`${name} must be a positive integer, got ${v}`);
  if (v > max) invalid(`${name} must be at most ${max}, got ${v}`);
  return v;
}

function validId(name: string, id: bigint): bigint {
  if (id <= 0n || id >= 1n << 64n) invalid(`${name} must be a non-zero uint64, got ${id}`);
  return id;
}

/** Fills defaults and rejects unsafe settings; throws RaftError('ConfigInvalid'). */
export function validateConfig(c: RaftConfig): ValidConfig {
  validId('id', c.id);
  const electionTicks = positiveInt('electionTicks', c.electionTicks);
  const heartbeatTicks = positiveInt('heartbeatTicks', c.heartbeatTicks);
  if (electionTicks <= heartbeatTicks) invalid('electionTicks must be greater than heartbeatTicks');
  const checkQuorum = c.checkQuorum ?? true;
  const readOnlyOption = c.readOnlyOption ?? 'safe';
  if (readOnlyOption !== 'safe' && readOnlyOption !== 'lease') invalid(`unknown readOnlyOption ${String(readOnlyOption)}`);
  if (readOnlyOption === 'lease' && !checkQuorum) invalid('lease-based reads need checkQuorum');
  const maxSizePerMsg = positiveInt('maxSizePerMsg', c.maxSizePerMsg ?? limits.raftMessageBytesDefault);
  const maxInflightMsgs = positiveInt('maxInflightMsgs', c.maxInflightMsgs ?? limits.raftInflightMsgsDefault, limits.raftInflightMsgsMax);
  const maxInflightBytes = positiveInt('maxInflightBytes', c.maxInflightBytes ?? limits.raftInflightBytesDefault);
  if (maxInflightBytes < maxSizePerMsg) invalid('maxInflightBytes must be at least maxSizePerMsg');
  const maxCommittedSizePerReady = positiveInt('maxCommittedSizePerReady', c.maxCommittedSizePerReady ?? limits.raftCommittedBytesPerReadyDefault);
  const maxUncommittedEntriesSize = positiveInt('maxUncommittedEntriesSize', c.maxUncommittedEntriesSize ?? limits.raftUncommittedBytesDefault);
  const peers = (c.peers ?? []).map((id) => validId('peer', id));
  const learners = (c.learners ?? []).map((id) => validId('learner', id));
  if (new Set(peers).size !== peers.length) invalid('duplicate peer');
  if (new Set(learners).size !== learners.length) invalid('duplicate learner');
  for (const id of learners) if (peers.includes(id)) invalid(`member ${id} is both peer and learner`);
  if (peers.length + learners.length > limits.raftMembersMax) invalid(`more than ${limits.raftMembersMax} members`);
  if (learners.length > 0 && peers.length === 0) invalid('learners given without peers');
  if (c.applied !== undefined && (!Number.isSafeInteger(c.applied) || c.applied < 0)) invalid('applied must be a non-negative integer');
  if (c.storage === undefined || c.storage === null) invalid('storage is required');
  if (c.random === undefined || c.random === null) invalid('random is required');
  return {
    id: c.id,
    peers,
    learners,
    electionTicks,
    heartbeatTicks,
    storage: c.storage,
    applied: c.applied ?? null,
    preVote: c.preVote ?? true,
    checkQuorum,
    readOnlyOption,
    maxInflightMsgs,
    maxInflightBytes,
    maxSizePerMsg,
    maxCommittedSizePerReady,
    maxUncommittedEntriesSize,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    random: c.random,
    testMutation: c.testMutation ?? null,
  };
}
