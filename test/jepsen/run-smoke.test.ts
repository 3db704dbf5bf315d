// The CI smoke run: one seed, 60 s, kill + partition, register + append +
// watch on 3 keel members, through the bin as an operator runs it. The run
// must find nothing wrong and decide (no checker may give up), must have
// recorded work from every workload and the faults the seed's schedule promises.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isCI, repoRoot } from '../helpers/procs';
import { netnsUnavailableReason } from '../../jepsen/cluster/net';
import { parseHistory } from '../../jepsen/history';
import { planSchedule } from '../../jepsen/nemesis/schedule';
import type { CheckResult } from '../../jepsen/checker/result';

const seed = 4;
const netnsMissing = netnsUnavailableReason();
const skip = netnsMissing !== undefined && !isCI ? `partitions need root and ip netns: ${netnsMissing}` : false;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-jepsen-smoke-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function runJepsen(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'keel-jepsen.js'), 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('smoke: register + append + watch under kill and partition on 3 keel members', { skip, timeout: 600_000 }, async () => {
  assert.equal(netnsMissing, undefined, `CI=true: the partition nemesis needs network namespaces here: ${String(netnsMissing)}`);
  const plan = planSchedule(seed, ['kill', 'partition'], 60_000).flatMap((w) => w.faults.map((f) => f.kind));
  assert.ok(plan.includes('kill') && plan.includes('partition'), `seed ${seed} schedules both kinds: ${plan.join(',')}`);
  const out = path.join(dir, 'run');
  const r = await runJepsen(['--seed', String(seed), '--members', '3', '--time-limit', '60', '--workload', 'register,append,watch', '--nemesis', 'kill,partition', '--concurrency', '4', '--rate', '40', '--out', out]);
  assert.equal(r.code, 0, `exit ${String(r.code)} (1 means an anomaly, 2 a checker that gave up):\n${r.out}`);
  const results = (JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { results: CheckResult[] }).results;
  for (const c of results) {
    assert.notEqual(c.valid, false, `${c.checker} found: ${JSON.stringify(c.anomalies.slice(0, 3))}`);
    assert.notEqual(c.valid, 'unknown', `${c.checker} gave up: ${String(c.unknownReason)}`);
  }
  for (const checker of ['linearizable', 'list-append', 'watch']) assert.equal(results.find((c) => c.checker === checker)?.valid, true, `${checker} ran and passed`);
  assert.equal(results.find((c) => c.checker === 'divergence')?.valid, true);
  const history = parseHistory(fs.readFileSync(path.join(out, 'history.jsonl'), 'utf8'));
  for (const w of ['register', 'append', 'watch']) {
    const ok = history.filter((op) => op.type === 'ok' && op.extra?.['workload'] === w).length;
    assert.ok(ok > 0, `${w} completed operations (${ok})`);
  }
  const faults = fs.readFileSync(path.join(out, 'nemesis.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; detail: Record<string, unknown> });
  for (const kind of ['kill', 'partition']) {
    const applied = faults.filter((f) => f.kind === kind && f.detail['error'] === undefined);
    assert.ok(applied.length > 0, `a ${kind} fault was applied: ${JSON.stringify(faults)}`);
  }
  assert.deepEqual(faults.filter((f) => f.kind === 'crash'), [], 'no member crashed on its own');
});
