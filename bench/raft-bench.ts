// Raft core throughput: entries per second committed (and applied on every
// member) through a 3-member in-memory cluster. No disk, no network: this is
// the cost of src/raft itself plus MemoryStorage.
//
//   npx tsc -p tsconfig.json && node dist/bench/raft-bench.js
//
// Each benchmark operation proposes a batch of entries at the leader and runs
// the Ready loop of all members (persist → send → apply → advance) until the
// batch is applied everywhere. entries/s = operations/s × batch size.
import b from 'benny';
import { MemoryStorage, RawNode, type Message } from '../src/raft';
import { SeededRandom } from '../src/util/random';

const valueBytes = 128;
const compactEvery = 20_000;

class Cluster {
  readonly ids = [1n, 2n, 3n];
  readonly storages = this.ids.map(() => new MemoryStorage());
  readonly nodes: RawNode[];
  readonly applied = [0, 0, 0];
  private readonly queue: Message[] = [];

  constructor() {
    this.nodes = this.ids.map((id, i) => new RawNode({
      id, peers: this.ids, electionTicks: 10, heartbeatTicks: 1, storage: this.storages[i] as MemoryStorage,
      random: new SeededRandom(i + 1), maxInflightMsgs: 256, maxSizePerMsg: 1024 * 1024,
    }));
    // Tick until someone is elected (members refuse votes for an election timeout after start).
    for (let t = 0; t < 1000 && this.leader() === undefined; t++) {
      for (const n of this.nodes) n.tick();
      this.settle();
    }
  }

  leader(): RawNode | undefined {
    return this.nodes.find((n) => n.state === 'leader');
  }

  /** Proposes count entries at the leader and runs until every member applied them. */
  commit(count: number): void {
    const leader = this.leader();
    if (leader === undefined) throw new Error('no leader');
    const data: Uint8Array[] = [];
    for (let i = 0; i < count; i++) data.push(new Uint8Array(valueBytes));
    const err = leader.proposeBatch(data);
    if (err !== null) throw err;
    const target = leader.status().lastIndex;
    this.settle();
    for (const a of this.applied) if (a < target) throw new Error(`not applied: ${a} < ${target}`);
  }

  private settle(): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      let busy = false;
      for (let i = 0; i < this.nodes.length; i++) busy = this.drain(i) || busy;
      const m = this.queue.shift();
      if (m !== undefined) {
        this.nodes[this.ids.indexOf(m.to)]?.step(m);
        busy = true;
      }
      if (!busy) return;
    }
    throw new Error('cluster does not settle');
  }

  private drain(i: number): boolean {
    const rn = this.nodes[i] as RawNode;
    const st = this.storages[i] as MemoryStorage;
    let did = false;
    while (rn.hasReady()) {
      did = true;
      const rd = rn.ready();
      if (rd.snapshot !== null) st.applySnapshot(rd.snapshot);
      st.append(rd.entries);
      if (rd.hardState !== null) st.setHardState(rd.hardState);
      for (const m of rd.messages) this.queue.push(m);
      const last = rd.committedEntries[rd.committedEntries.length - 1];
      if (last !== undefined) this.applied[i] = last.index;
      rn.advance();
      const applied = this.applied[i] as number;
      if (applied - st.firstIndex() > compactEvery) {
        st.createSnapshot(applied, rn.status().confState, new Uint8Array());
        st.compact(applied);
      }
    }
    return did;
  }
}

async function main(): Promise<void> {
  const batches = [1, 16, 256];
  const opsPerSecond = new Map<string, number>();
  await b.suite(
    'raft: entries committed through a 3-member in-memory cluster',
    ...batches.map((n) => b.add(`batch of ${n} × ${valueBytes} B`, () => {
      const c = new Cluster();
      return () => c.commit(n);
    })),
    b.cycle(),
    b.complete((summary) => {
      for (const r of summary.results) opsPerSecond.set(r.name, r.ops);
    }),
  );
  for (const n of batches) {
    const ops = opsPerSecond.get(`batch of ${n} × ${valueBytes} B`) ?? 0;
    console.log(`batch ${String(n).padStart(3)}: ${Math.round(ops * n).toLocaleString('en-US')} entries/s committed and applied on 3 members`);
  }
}

void main();
