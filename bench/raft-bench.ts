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
import { cluster3 } from './micro/raft';

const valueBytes = 128;
const batches = [1, 16, 256];
const name = (n: number): string => `batch of ${n} × ${valueBytes} B`;

function commitOp(n: number): () => void {
  const { nodes, settle } = cluster3();
  const data = Array.from({ length: n }, () => new Uint8Array(valueBytes));
  return () => {
    const leader = nodes.find((x) => x.rn.state === 'leader');
    if (leader === undefined) throw new Error('no leader');
    const err = leader.rn.proposeBatch(data);
    if (err !== null) throw err;
    const target = leader.rn.status().lastIndex;
    settle();
    for (const x of nodes) if (x.applied < target) throw new Error(`not applied: ${x.applied} < ${target}`);
  };
}

async function main(): Promise<void> {
  const opsPerSecond = new Map<string, number>();
  await b.suite(
    'raft: entries committed through a 3-member in-memory cluster',
    ...batches.map((n) => b.add(name(n), () => commitOp(n))),
    b.cycle(),
    b.complete((summary) => { for (const r of summary.results) opsPerSecond.set(r.name, r.ops); }),
  );
  for (const n of batches) {
    console.log(`batch ${String(n).padStart(3)}: ${Math.round((opsPerSecond.get(name(n)) ?? 0) * n).toLocaleString('en-US')} entries/s committed and applied on 3 members`);
  }
}

void main();
