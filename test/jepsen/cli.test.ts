// keel-jepsen check, run as an operator runs it (node bin/keel-jepsen.js):
// Jepsen's own register logs (two real ones, fixtures/README.md) and keel's
// JSON-lines histories; exit 0 valid, 1 invalid, 2 unknown, 3 usage error;
// the JSON summary is the last line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseJepsenLog } from '../../jepsen/checker/jepsen-log';
import { formatHistoryLine } from '../../jepsen/history';
import { repoRoot } from '../helpers/procs';
import { HistoryBuilder } from './builder';

const fixtures = path.join(repoRoot, 'test', 'jepsen', 'fixtures');
const bin = path.join(repoRoot, 'bin', 'keel-jepsen.js');

function run(args: string[]): { status: number | null; lines: string[]; last: Record<string, unknown>; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  const lines = r.stdout.trim().split('\n');
  let last: Record<string, unknown> = {};
  try {
    last = JSON.parse(lines[lines.length - 1] ?? '{}') as Record<string, unknown>;
  } catch {
    last = {};
  }
  return { status: r.status, lines, last, stderr: r.stderr };
}

function tempFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-jepsen-cli-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

test('Jepsen log lines parse into invoke/ok/fail/info records; nemesis and other lines are skipped and counted', () => {
  const text = [
    '2014-06-16 15:38:19,873{GMT}\tINFO\t[jepsen worker 3] jepsen.util: 3\t:invoke\t:cas\t[3 0]',
    'INFO  jepsen.util - 2\t:invoke\t:read\tnil',
    'INFO  jepsen.util - :nemesis\t:info\t:start\tnil',
    'INFO  jepsen.util - 2\t:fail\t:read\t:timed-out',
    'INFO  jepsen.util - 3\t:ok\t:cas\t[3 0]',
    'INFO  jepsen.core - Worker 3 starting',
    'INFO  jepsen.util - 4\t:invoke\t:write\t4',
    'INFO  jepsen.util - 4\t:info\t:write\t:timed-out',
    'INFO  jepsen.util - 5\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 5\t:ok\t:read\tnil',
    'INFO  jepsen.util - 6\t:invoke\t:write\t1',
  ].join('\n');
  const { history, counts } = parseJepsenLog(text);
  assert.deepEqual(
    history.map((o) => [o.process, o.type, o.f, 'value' in o ? o.value : o.error]),
    [
      [3, 'invoke', 'cas', [3, 0]],
      [2, 'invoke', 'read', null],
      [2, 'fail', 'read', 'timed-out'],
      [3, 'ok', 'cas', [3, 0]],
      [4, 'invoke', 'write', 4],
      [4, 'info', 'write', 'timed-out'],
      [5, 'invoke', 'read', null],
      [5, 'ok', 'read', null],
      [6, 'invoke', 'write', 1],
    ],
  );
  assert.deepEqual(counts, { lines: 11, operations: 9, invoke: 5, ok: 2, fail: 1, info: 1, pending: 1, nemesisLines: 1, skippedLines: 1 });
});

test('check --jepsen-log: a real etcd log that is not linearizable exits 1 and names the read', () => {
  const r = run(['check', '--model', 'cas-register', '--jepsen-log', path.join(fixtures, 'etcd_000.log')]);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.last['valid'], false);
  assert.equal(r.last['checker'], 'linearizable');
  assert.deepEqual(r.last['counts'], { lines: 170, operations: 170, invoke: 85, ok: 49, fail: 20, info: 16, pending: 0, nemesisLines: 0, skippedLines: 0 });
  const anomalies = r.last['anomalies'] as Array<{ kind: string; details: { offending: number[] } }>;
  assert.equal(anomalies.length, 1);
  assert.equal(anomalies[0]!.kind, 'nonlinearizable');
  // Lines 85 and 86 of the log (indexes 84, 85): process 11 reads 2 after 1 was written and no 2 could follow.
  assert.deepEqual(anomalies[0]!.details.offending, [84, 85]);
});

test('check --jepsen-log: a real etcd log that is linearizable exits 0', () => {
  const r = run(['check', '--model', 'cas-register', '--jepsen-log', path.join(fixtures, 'etcd_002.log')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.last['valid'], true);
  assert.equal((r.last['counts'] as Record<string, number>)['info'], 19);
});

test('check --jepsen-log: a search that cannot finish exits 2 with the reason', () => {
  const r = run(['check', '--model', 'cas-register', '--cache-entries-max', '10', '--jepsen-log', path.join(fixtures, 'etcd_002.log')]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.last['valid'], 'unknown');
  assert.match(String(r.last['unknownReason']), /remembered 10 configurations/);
});

test('check --history: keel histories, checkers chosen by the ops or by --checkers; --report writes the report', () => {
  const h = new HistoryBuilder();
  h.write(0, 1, 'k');
  h.write(1, 2, 'k');
  h.read(2, 1, 'k');
  h.txn(3, [['append', 'x', 1]]);
  h.txn(3, [['r', 'x', [1]]]);
  const file = tempFile('history.jsonl', h.ops.map(formatHistoryLine).join('\n') + '\n');
  const r = run(['check', '--history', file]);
  assert.equal(r.status, 1, r.stderr);
  const results = r.last['results'] as Array<{ checker: string; valid: unknown }>;
  assert.deepEqual(results.map((x) => [x.checker, x.valid]), [['linearizable', false], ['list-append', true]]);
  const only = run(['check', '--history', file, '--checkers', 'list-append']);
  assert.equal(only.status, 0);
  const dir = path.dirname(file);
  const withReport = run(['check', '--history', file, '--report', path.join(dir, 'report')]);
  assert.equal(withReport.status, 1);
  assert.ok(fs.existsSync(path.join(dir, 'report', 'report.html')));
  assert.ok(fs.readFileSync(path.join(dir, 'report', 'summary.txt'), 'utf8').startsWith('keel jepsen: INVALID'));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('usage and input errors exit 3 with a message', () => {
  assert.equal(run([]).status, 3);
  assert.equal(run(['frobnicate']).status, 3);
  const missing = run(['check', '--jepsen-log', '/nonexistent/log']);
  assert.equal(missing.status, 3);
  assert.match(missing.stderr, /cannot read \/nonexistent\/log/);
  assert.equal(run(['check', '--model', 'set', '--jepsen-log', path.join(fixtures, 'etcd_002.log')]).status, 3);
  const bad = tempFile('bad.jsonl', '{"index":0,\n');
  assert.match(run(['check', '--history', bad]).stderr, /not a JSON-lines history/);
  assert.match(run(['check', '--history', bad, '--checkers', 'nope']).stderr, /not a JSON-lines history|unknown checker/);
  fs.rmSync(path.dirname(bad), { recursive: true, force: true });
});
