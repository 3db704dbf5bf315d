// kill -9 while the raft log is being written: a child process saves random
// plans in a loop and is SIGKILLed at a random moment; the reopened log must
// be one raft accepts and exactly the state after the last acknowledged write
// or after the one in flight. Rounds continue on the same dir.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DurableRaftStorage } from '../../src/storage';
import { Rng } from '../helpers/random';
import { assertRaftAcceptable, bootstrapConfState, digest } from './raft-model';

const childScript = path.join(__dirname, 'raft-crash-child.js');

interface Round {
  lines: string[];
  stderr: string;
  signal: NodeJS.Signals | null;
  code: number | null;
}

function runAndKill(dir: string, seed: number, killAfterMs: number): Promise<Round> {
  const tracePath = `${dir}.trace`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dir, String(seed), tracePath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      out += s;
      // The clock starts once the child has opened the log, so every round gets writes in.
      if (timer === undefined && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      let lines: string[] = [];
      try {
        // A line cut by the kill is not a line.
        lines = readFileSync(tracePath, 'utf8').split('\n').slice(0, -1);
      } catch {
        // No trace: the child died before opening it; the assertions below say so.
      }
      resolve({ lines, stderr, signal, code });
    });
  });
}

test('a raft log killed -9 mid-write reopens as the last acknowledged state or the one in flight', async () => {
  const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000);
  const rng = new Rng(seed);
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-raftcrash-'));
  try {
    let writes = 0;
    for (let round = 0; round < 5; round++) {
      const r = await runAndKill(dir, rng.u32(), rng.int(30, 400));
      const ctx = `SEED=${seed} round ${round}`;
      assert.equal(r.signal, 'SIGKILL', `${ctx}: the child was killed, not failed (code ${r.code}): ${r.stderr}`);
      const opened = r.lines[0];
      assert.ok(opened !== undefined && opened.startsWith('open '), `${ctx}: the child opened the log`);
      let acked = opened.slice(5);
      let inFlight: string | undefined;
      for (const line of r.lines.slice(1)) {
        const [kind, d] = line.split(' ') as [string, string];
        if (kind === 'try') inFlight = d;
        else {
          assert.equal(d, inFlight, `${ctx}: ack follows its try`);
          acked = d;
          inFlight = undefined;
          writes++;
        }
      }
      const s = await DurableRaftStorage.open(dir, bootstrapConfState);
      try {
        assertRaftAcceptable(s);
        const got = digest(s);
        const allowed = inFlight === undefined ? [acked] : [acked, inFlight];
        assert.ok(allowed.includes(got), `${ctx}: reopened ${got}, expected one of ${allowed.join(', ')}`);
        if (process.env['DEBUG_CRASH'] !== undefined) console.log(`${ctx}: ${r.lines.length} lines, reopened ${got === acked ? 'acked' : 'in-flight'} state`);
      } finally {
        await s.close();
      }
    }
    assert.ok(writes > 0, 'the children acknowledged writes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.trace`, { force: true });
  }
});
