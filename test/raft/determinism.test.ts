// Same seed, same inputs ⇒ same outputs, byte for byte: raft has no clock, no
// Math.random and no iteration over unordered state, so a cluster driven by a
// seeded schedule produces an identical Ready stream every time.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MemoryStorage, RawNode, type Message, type Ready } from '../../src/raft';
import { SeededRandom } from '../../src/util';
import { Simulation } from './sim/simulation';

function serialize(rd: Ready): string {
  return JSON.stringify(rd, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `n${v}`;
    if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
    return v;
  });
}

/** Drives a 3-member cluster with a seeded schedule; returns every Ready, serialized. */
function run(seed: number, steps: number): string {
  const rng = new SeededRandom(seed);
  const ids = [1n, 2n, 3n];
  const storages = ids.map(() => new MemoryStorage());
  const nodes = ids.map((id, i) => new RawNode({
    id, peers: ids, electionTicks: 10, heartbeatTicks: 2, preVote: true, checkQuorum: true,
    storage: storages[i] as MemoryStorage, random: new SeededRandom(seed * 31 + i), maxSizePerMsg: 64, maxInflightMsgs: 4,
  }));
  const inflight: Message[] = [];
  const out: string[] = [];
  const drain = (i: number): void => {
    const rn = nodes[i] as RawNode;
    const st = storages[i] as MemoryStorage;
    while (rn.hasReady()) {
      const rd = rn.ready();
      out.push(`${i}:${serialize(rd)}`);
      if (rd.snapshot !== null) st.applySnapshot(rd.snapshot);
      st.append(rd.entries);
      if (rd.hardState !== null) st.setHardState(rd.hardState);
      inflight.push(...rd.messages);
      rn.advance();
    }
  };
  for (let s = 0; s < steps; s++) {
    const r = rng.float();
    if (r < 0.2) {
      for (let i = 0; i < nodes.length; i++) {
        nodes[i]?.tick();
        drain(i);
      }
    } else if (r < 0.3) {
      const i = rng.intBelow(nodes.length);
      nodes[i]?.propose(new TextEncoder().encode(`p${s}`));
      drain(i);
    } else if (r < 0.35) {
      const i = rng.intBelow(nodes.length);
      nodes[i]?.readIndex();
      drain(i);
    } else if (inflight.length > 0) {
      const [m] = inflight.splice(rng.intBelow(inflight.length), 1);
      if (m === undefined || rng.bool(0.1)) continue;
      const i = ids.indexOf(m.to);
      nodes[i]?.step(m);
      drain(i);
    }
  }
  return out.join('\n');
}

test('determinism: the same seed gives the same Ready stream, byte for byte', () => {
  for (const seed of [1, 2, 3]) {
    const a = run(seed, 3000);
    const b = run(seed, 3000);
    assert.ok(a.length > 10_000, 'the schedule exercised the cluster');
    assert.equal(a, b);
    assert.match(a, /"state":"leader"/);
  }
  assert.notEqual(run(1, 3000), run(2, 3000), 'and a different seed gives a different one');
});

test('determinism: a simulator seed replays exactly (same digest, same trace)', () => {
  for (const seed of [11, 12]) {
    const a = new Simulation({ seed, trace: true }).run();
    const b = new Simulation({ seed, trace: true }).run();
    assert.equal(a.digest, b.digest);
    assert.deepEqual(a.trace, b.trace);
    assert.deepEqual(a.stats, b.stats);
  }
});
