// The values the raft core exchanges with its application: log entries, the
// persisted hard state, snapshots, messages and the Ready batch. Indexes and
// terms are numbers (asserted safe integers); member IDs are bigint.
import { limits } from '../util';

/** No member: the ID 0 is reserved. */
export const None = 0n;

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Application payload; for 'confChange' entries an encoded ConfChange. */
  readonly data: Uint8Array;
}

/** What must be on disk before the messages of the same Ready leave. */
export interface HardState {
  readonly term: number;
  readonly vote: bigint;
  readonly commit: number;
}

export interface ConfState {
  /** Sorted ascending. */
  readonly voters: readonly bigint[];
  /** Sorted ascending; disjoint from voters. */
  readonly learners: readonly bigint[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  /** The configuration in effect after applying every entry up to index. */
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/**
 * Message types, named as in etcd-io/raft. Local types never cross the
 * network: MsgHup, MsgBeat, MsgCheckQuorum, MsgUnreachable, MsgSnapStatus.
 */
export type MessageType =
  | 'MsgHup'
  | 'MsgBeat'
  | 'MsgProp'
  | 'MsgApp'
  | 'MsgAppResp'
  | 'MsgVote'
  | 'MsgVoteResp'
  | 'MsgSnap'
  | 'MsgHeartbeat'
  | 'MsgHeartbeatResp'
  | 'MsgUnreachable'
  | 'MsgSnapStatus'
  | 'MsgCheckQuorum'
  | 'MsgTransferLeader'
  | 'MsgTimeoutNow'
  | 'MsgReadIndex'
  | 'MsgReadIndexResp'
  | 'MsgPreVote'
  | 'MsgPreVoteResp';

export const localMessageTypes: ReadonlySet<MessageType> = new Set<MessageType>([
  'MsgHup', 'MsgBeat', 'MsgCheckQuorum', 'MsgUnreachable', 'MsgSnapStatus',
]);

export const responseMessageTypes: ReadonlySet<MessageType> = new Set<MessageType>([
  'MsgAppResp', 'MsgVoteResp', 'MsgHeartbeatResp', 'MsgUnreachable', 'MsgPreVoteResp', 'MsgSnapStatus',
]);

/**
 * One message. Every field is present so a codec needs no optional logic.
 * Field use by type:
 * - MsgApp: index/logTerm = the entry preceding `entries`; commit = leader commit.
 * - MsgAppResp: index = last matching index (accept) or the rejected index;
 *   rejectHint/logTerm = the follower's guess where the logs diverge.
 * - MsgVote/MsgPreVote: index/logTerm = the candidate's last entry; context =
 *   transferContext when the campaign was ordered by a leader transfer.
 * - MsgHeartbeat/MsgHeartbeatResp: index = heartbeat round (echoed back);
 *   commit = min(follower's match, leader commit).
 * - MsgReadIndex/MsgReadIndexResp: context = request ctx; index = read index.
 * - MsgSnap: snapshot.
 * - MsgProp: entries to propose (term and index filled in by the leader).
 */
export interface Message {
  readonly type: MessageType;
  readonly to: bigint;
  readonly from: bigint;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly snapshot: Snapshot | null;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly context: Uint8Array;
}

export const emptyBytes: Uint8Array = new Uint8Array(0);
const noEntries: readonly Entry[] = Object.freeze([]);

/** Builds a message; fields not given are zero/empty. */
export function message(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return messageFrom(fields, fields.from ?? None, fields.term ?? 0);
}

/** message() with from and term given separately (the raft core's send path). */
export function messageFrom(fields: Partial<Message> & Pick<Message, 'type'>, from: bigint, term: number): Message {
  // One literal with every field in a fixed order: cheap to build, and one hidden class for V8.
  return {
    type: fields.type,
    to: fields.to ?? None,
    from,
    term,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? noEntries,
    commit: fields.commit ?? 0,
    snapshot: fields.snapshot ?? null,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context ?? emptyBytes,
  };
}

export type StateType = 'follower' | 'candidate' | 'preCandidate' | 'leader';

/** Volatile state worth showing to the application (leader changes, role). */
export interface SoftState {
  readonly lead: bigint;
  readonly state: StateType;
}

/** The answer to a ReadIndex request: reads see everything up to index once applied ≥ index. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

/**
 * One batch of work for the application. Handle it in this order: persist
 * hardState, entries and snapshot (one synced write when mustSync); then send
 * messages; then apply snapshot and committedEntries; answer readStates once
 * applied ≥ their index; then call advance().
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly readStates: readonly ReadState[];
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly mustSync: boolean;
}

export const emptyHardState: HardState = Object.freeze({ term: 0, vote: None, commit: 0 });

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === None && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Bytes an entry counts for in message, inflight and batch limits. */
export function entryBytes(e: Entry): number {
  return e.data.byteLength + limits.raftEntryOverheadBytes;
}

export function entriesBytes(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entryBytes(e);
  return n;
}

/** The longest prefix of ents within maxBytes; never fewer than one entry. */
export function limitSize(ents: readonly Entry[], maxBytes: number): readonly Entry[] {
  if (ents.length <= 1) return ents;
  let size = entryBytes(ents[0] as Entry);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entryBytes(ents[n] as Entry);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/** Marks a vote request ordered by a leader transfer: voters skip their lease check. */
export const transferContext: Uint8Array = new TextEncoder().encode('CampaignTransfer');

export function isTransferContext(ctx: Uint8Array): boolean {
  if (ctx.byteLength !== transferContext.byteLength) return false;
  for (let i = 0; i < ctx.byteLength; i++) if (ctx[i] !== transferContext[i]) return false;
  return true;
}

export function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.byteLength; i++) s += (b[i] as number).toString(16).padStart(2, '0');
  return s;
}
