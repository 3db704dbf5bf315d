// The raft core's per-proposal work (src/raft RawNode over MemoryStorage, no
// disk, no network) and the peer codec (src/transport/codec.ts). Entries carry
// what the server proposes for a put: an encoded InternalRequest
// (src/server/requests.ts) of a 24-byte key and a 256-byte value.
import { MemoryStorage, RawNode, message, type Entry, type Message, type Ready } from '../../src/raft';
import { encodeRequest } from '../../src/server';
import { decodeMessage, encodeMessage, messageWireBytes } from '../../src/transport';
import { SeededRandom } from '../../src/util';
import { noiseBytes, sampleKey, sink, type MicroCase, type MicroSuite } from './harness';

const compactEvery = 20_000;

function putEntryData(id: bigint): Uint8Array {
  return encodeRequest({
    id,
    body: { op: 'put', req: { key: sampleKey(42), value: noiseBytes(256), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } },
  });
}

/** One member's node and its storage, driven the way the server's Ready loop drives it (persist → send → apply → advance). */
class Driven {
  applied = 0;
  readonly outbox: Message[] = [];

  constructor(readonly rn: RawNode, readonly storage: MemoryStorage, private readonly compacts = true) {}

  /** Handles every pending Ready; returns the last entry index persisted in them (0 if none). */
  drain(): number {
    let last = 0;
    while (this.rn.hasReady()) {
      const rd: Ready = this.rn.ready();
      if (rd.snapshot !== null) this.storage.applySnapshot(rd.snapshot);
      this.storage.append(rd.entries);
      if (rd.hardState !== null) this.storage.setHardState(rd.hardState);
      for (const m of rd.messages) this.outbox.push(m);
      const e = rd.entries[rd.entries.length - 1];
      if (e !== undefined) last = e.index;
      const c = rd.committedEntries[rd.committedEntries.length - 1];
      if (c !== undefined) this.applied = c.index;
      this.rn.advance();
      if (this.compacts && this.applied - this.storage.firstIndex() > compactEvery) {
        this.storage.createSnapshot(this.applied, this.rn.status().appliedConfState, new Uint8Array());
        this.storage.compact(this.applied);
      }
    }
    return last;
  }
}

interface NodeOptions { maxUncommittedEntriesSize?: number; compacts?: boolean }

function newNode(id: bigint, peers: bigint[], opts: NodeOptions = {}): Driven {
  const { compacts, ...raftOpts } = opts;
  const storage = new MemoryStorage();
  const rn = new RawNode({
    id, peers, electionTicks: 10, heartbeatTicks: 1, storage, random: new SeededRandom(Number(id)),
    maxInflightMsgs: 256, maxSizePerMsg: 1024 * 1024, ...raftOpts,
  });
  return new Driven(rn, storage, compacts ?? true);
}

/** A 3-member in-memory cluster whose messages are delivered at once; settle() runs it until nothing moves. */
export function cluster3(opts: NodeOptions = {}): { nodes: Driven[]; settle: () => void } {
  const peers = [1n, 2n, 3n];
  const nodes = peers.map((id) => newNode(id, peers, opts));
  const settle = (): void => {
    for (let guard = 0; guard < 1_000_000; guard++) {
      let busy = false;
      for (const n of nodes) {
        n.drain();
        for (const m of n.outbox.splice(0)) {
          busy = true;
          nodes[Number(m.to) - 1]?.rn.step(m);
        }
      }
      if (!busy) return;
    }
    throw new Error('cluster does not settle');
  };
  // Ticked until someone leads (members refuse votes for an election timeout after start).
  for (let t = 0; t < 1000 && !nodes.some((n) => n.rn.state === 'leader'); t++) {
    for (const n of nodes) n.rn.tick();
    settle();
  }
  if (!nodes.some((n) => n.rn.state === 'leader')) throw new Error('no leader elected');
  return { nodes, settle };
}

/** The leader of a fresh 3-member cluster; afterwards only it is driven, and its followers' answers are made up. */
function electedLeader(opts: NodeOptions = {}): { leader: Driven; followers: [bigint, bigint] } {
  const leader = cluster3(opts).nodes.find((n) => n.rn.state === 'leader') as Driven;
  return { leader, followers: [1n, 2n, 3n].filter((id) => id !== leader.rn.id) as [bigint, bigint] };
}

function appResp(leader: Driven, from: bigint, index: number): Message {
  return message({ type: 'MsgAppResp', from, to: leader.rn.id, term: leader.rn.term, index });
}

function singleMemberCycle(): MicroCase {
  return {
    name: '1 member: propose 1 put + Ready loop until applied',
    setup: () => {
      const n = newNode(1n, [1n]);
      n.rn.campaign();
      n.drain();
      if (n.rn.state !== 'leader') throw new Error('single member did not become leader');
      const data = putEntryData(1n);
      return () => {
        const err = n.rn.propose(data);
        if (err !== null) throw err;
        const last = n.drain();
        if (n.applied !== last) throw new Error(`not applied: ${n.applied} < ${last}`);
        n.outbox.length = 0;
      };
    },
  };
}

function leaderCycle(): MicroCase {
  return {
    name: '3 members, leader: propose 1 put + Ready + 2 MsgAppResp + Ready (commit, apply)',
    setup: () => {
      const { leader, followers: [f1, f2] } = electedLeader();
      const data = putEntryData(1n);
      return () => {
        const err = leader.rn.propose(data);
        if (err !== null) throw err;
        const last = leader.drain();
        leader.rn.step(appResp(leader, f1, last));
        leader.rn.step(appResp(leader, f2, last));
        leader.drain();
        if (leader.applied !== last) throw new Error(`not applied: ${leader.applied} < ${last}`);
        leader.outbox.length = 0;
      };
    },
  };
}

/**
 * The leader's log is filled beforehand, so each operation is one MsgAppResp
 * that acknowledges one more entry: the two followers alternate (the
 * first's ack commits, the second's only moves its match), as in a 3-member
 * cluster. The Ready
 * they cause (commit, applied entries, messages) is handled every 64 steps
 * and counts in the time; so would refilling the log (see prefill).
 */
function leaderStepAppResp(): MicroCase {
  // Enough acknowledgements for the default run (~2 × 10^6 steps/s for 1.5 s plus
  // calibration) without refilling while timed; a longer run refills 65,536 at a time.
  const prefill = 2_500_000;
  const refillChunk = 65_536;
  const readyEvery = 64;
  return {
    name: 'leader: step 1 MsgAppResp (+1 index; followers alternate; Ready every 64)',
    setup: () => {
      const { leader, followers: [f1, f2] } = electedLeader({ maxUncommittedEntriesSize: 2 ** 31, compacts: false });
      const data = putEntryData(1n);
      const batch: Uint8Array[] = new Array<Uint8Array>(refillChunk).fill(data);
      let last = 0;
      const refill = (count: number): void => {
        for (let left = count; left > 0; left -= batch.length) {
          const err = leader.rn.proposeBatch(left >= batch.length ? batch : batch.slice(0, left));
          if (err !== null) throw err;
          last = Math.max(last, leader.drain());
          leader.outbox.length = 0;
        }
      };
      let acked = leader.applied;
      refill(prefill);
      // The first follower's ack must commit: otherwise the case would time a no-op.
      leader.rn.step(appResp(leader, f1, ++acked));
      leader.rn.step(appResp(leader, f2, acked));
      if (leader.rn.commitIndex !== acked) throw new Error(`ack did not commit: ${leader.rn.commitIndex} ≠ ${acked}`);
      let steps = 0;
      return () => {
        if ((steps & 1) === 0) {
          if (acked === last) refill(refillChunk);
          acked++;
          sink(leader.rn.step(appResp(leader, f1, acked)));
        } else {
          sink(leader.rn.step(appResp(leader, f2, acked)));
        }
        if (++steps % readyEvery === 0) {
          leader.drain();
          leader.outbox.length = 0;
        }
      };
    },
  };
}

function appendMessage(): Message {
  const data = putEntryData(1n);
  const entries: Entry[] = Array.from({ length: 16 }, (_, i) => ({ term: 7, index: 1001 + i, type: 'normal' as const, data }));
  return message({ type: 'MsgApp', from: 0x8e9e05c52164694dn, to: 0x91bc3c398fb3c146n, term: 7, logTerm: 7, index: 1000, commit: 998, entries });
}

export function raftSuite(): MicroSuite {
  return {
    id: 'raft',
    title: 'Raft core (RawNode over MemoryStorage; entries are encoded put requests, ~300 B) and peer codec',
    cases: [
      singleMemberCycle(),
      leaderCycle(),
      leaderStepAppResp(),
      {
        name: 'transport: encode MsgApp, 16 entries (size + encode into a batch buffer, as peer.ts)',
        items: { count: 16, unit: 'entry' },
        setup: () => {
          const m = appendMessage();
          const buf = Buffer.allocUnsafe(64 * 1024);
          return () => {
            const size = messageWireBytes(m);
            sink(encodeMessage(m, buf, 0) === size);
          };
        },
      },
      {
        name: 'transport: decode MsgApp, 16 entries',
        items: { count: 16, unit: 'entry' },
        setup: () => {
          const m = appendMessage();
          const buf = Buffer.allocUnsafe(messageWireBytes(m));
          encodeMessage(m, buf, 0);
          return () => sink(decodeMessage(buf, 0, buf.length));
        },
      },
    ],
  };
}
