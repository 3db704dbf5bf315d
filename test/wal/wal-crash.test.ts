// Real child processes writing a WAL die mid-write: SIGKILL at random moments,
// and the power-loss failpoint (unsynced bytes dropped, then SIGKILL) at each
// place it can fire. Every save() that resolved survives, nothing is half
// applied, and the reopen always succeeds. Rounds continue on the same dir.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { WalStorage } from '../../src/wal';
import { Rng } from '../helpers/random';
import { assertRaftAcceptable, bootstrapConfState, digest } from '../storage/raft-model';
import { crashWalOptions, runChild, type ChildRun } from './wal-helpers';

const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000);

async function reopenDigest(dir: string): Promise<{ digest: string; torn: boolean }> {
  const s = await WalStorage.open(dir, bootstrapConfState, crashWalOptions);
  try {
    assertRaftAcceptable(s);
    return { digest: digest(s), torn: s.openReport.tornTail !== null };
  } finally {
    await s.close();
  }
}

function withDir(prefix: string, fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(`${dir}.trace`, { force: true });
    }
  };
}

function checkKilled(r: ChildRun, ctx: string): void {
  assert.equal(r.signal, 'SIGKILL', `${ctx}: the child was killed, not failed (code ${r.code}): ${r.stderr}`);
  assert.ok(r.opened !== undefined, `${ctx}: the child opened the WAL`);
}

test('a WAL killed -9 mid-write reopens as the last acknowledged state or the one in flight', withDir('keel-walcrash-', async (dir) => {
  const rng = new Rng(seed);
  let acks = 0;
  for (let round = 0; round < 6; round++) {
    const r = await runChild(dir, rng.u32(), { killAfterMs: rng.int(20, 400) });
    const ctx = `SEED=${seed} round ${round}`;
    checkKilled(r, ctx);
    acks += r.acks;
    const { digest: got, torn } = await reopenDigest(dir);
    if (process.env['DEBUG_CRASH'] !== undefined) console.log(`${ctx}: ${r.acks} acks, ${got === r.acked ? 'acked' : 'in-flight'} state${torn ? ', torn tail cut' : ''}`);
    const allowed = [r.acked, r.inFlight].filter((d) => d !== undefined);
    assert.ok(allowed.includes(got), `${ctx}: reopened ${got}, expected one of ${allowed.join(', ')}`);
  }
  assert.ok(acks > 0, 'the children acknowledged writes');
}));

// Where the power cut lands decides exactly what must survive.
const powerLossCases: { name: string; survives: 'acked' | 'inFlight' }[] = [
  { name: 'raft-before-save', survives: 'acked' },
  { name: 'wal-before-rollover', survives: 'acked' },
  { name: 'wal-before-sync', survives: 'acked' },
  { name: 'raft-after-save', survives: 'inFlight' },
];

for (const c of powerLossCases) {
  test(`power loss at ${c.name}: unsynced bytes are dropped and the reopened WAL is exactly the ${c.survives} state`, withDir('keel-walpower-', async (dir) => {
    const rng = new Rng(seed + c.name.length);
    let fired = 0;
    for (let round = 0; round < 4; round++) {
      // Rollovers are rarer than saves: fire on more of them.
      const probability = c.name === 'wal-before-rollover' ? '0.5' : '0.05';
      const r = await runChild(dir, rng.u32(), { maxWrites: 2000, env: { KEEL_FAILPOINTS: `${c.name}=powerloss`, KEEL_FAILPOINT_PROBABILITY: probability } });
      const ctx = `SEED=${seed} ${c.name} round ${round}`;
      if (r.signal === null) {
        // The dice never fired in 2,000 writes: the child finished cleanly.
        assert.equal(r.code, 0, `${ctx}: ${r.stderr}`);
        assert.equal((await reopenDigest(dir)).digest, r.acked, `${ctx}: a clean close keeps everything`);
        continue;
      }
      checkKilled(r, ctx);
      fired++;
      const want = c.survives === 'acked' ? r.acked : r.inFlight;
      assert.ok(want !== undefined, `${ctx}: the trace shows the state that must survive`);
      assert.equal((await reopenDigest(dir)).digest, want, `${ctx}: reopened state`);
    }
    assert.ok(fired > 0, `${c.name}: the failpoint fired in some round`);
  }));
}
