// Debian's etcdctl against keel must print what it prints against etcd:
// watch (key, range, --prefix, --rev, --prev-kv, -i, every output format,
// the exec form) and lease grant|revoke|timetolive|list|keep-alive, put
// --lease. The same etcdctl binary runs the same command sequence against a
// fresh etcd (side a) and a fresh keel (side b); stdout, stderr and the exit
// code are compared after normalizing only IDs (cluster, member, lease), log
// timestamps, client UUIDs and a lease's remaining TTL (which must lie in
// [0, granted]). COMPAT_SUBJECT=etcd runs it against two etcds (harness check).
//
// Long-running commands are started on both sides, the test waits — with a
// bound, never a fixed sleep — for what it expects (a watch's creation is
// seen on the wire through a tapping proxy; output by polling stdout), then
// ends them with Ctrl-C, EOF on stdin, or by themselves.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cleanupAll, skipUnlessTools, subjectKind, subjectTools } from '../helpers/procs';
import { firstLines, formatDiffs, formats, normalizeLeases, occurrences, sortListed, squeezeRepeats, Twin } from './golden';

after(cleanupAll);

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

async function revisionOf(t: Twin): Promise<number> {
  const { e, k } = await t.both(['get', 'no-such-key', '-w', 'json']);
  const rev = (s: string): number => Number(/"revision":(\d+)/.exec(s)?.[1] ?? NaN);
  assert.equal(rev(k.stdout), rev(e.stdout), 'etcd and keel are at the same revision');
  return rev(e.stdout);
}

async function leaseSuite(t: Twin): Promise<void> {
  const l1 = await t.grant(['lease', 'grant', '100']);
  const l2 = await t.grant(['lease', 'grant', '600', '-w', 'json']);
  const l3 = await t.grant(['lease', 'grant', '300', '-w', 'fields']);
  assert.ok(l1 !== '' && l2 !== '' && l3 !== '', 'leases granted on both sides');
  await t.all([
    ['lease', 'grant', '9000000001'],
    ['put', 'lk-none', 'v', '--lease=1234'],
    ['put', 'lk-none', 'v', '--lease=1234', '-w', 'json'],
  ]);
  // put --lease, in several formats; --ignore-lease keeps the lease.
  await t.both(['put', 'lk1', 'v1', `--lease=${l1}`]);
  await t.both(['put', 'lk2', 'v2', `--lease=${l1}`, '-w', 'json']);
  await t.both(['put', 'lk3', 'v3', `--lease=${l2}`, '--prev-kv', '-w', 'fields']);
  await t.both(['put', 'lk1', 'v1b', '--ignore-lease', '--prev-kv', '-w', 'json']);
  await t.both(['put', 'lk4', 'v4', `--lease=${l3}`]);
  await t.both(['put', 'lk4', 'v4b', `--lease=${l2}`, '--prev-kv']);
  await t.both(['put', 'lk6', 'v6', `--lease=${l3}`]);
  // A txn attaches too; a delete, or a put without --lease, detaches.
  await t.both(['txn'], { stdin: `\nput lt1 a --lease=${l1}\nput lt2 b --lease=${l1}\n\n\n` });
  await t.both(['del', 'lt2']);
  await t.both(['put', 'lt1', 'no lease now']);
  await t.all([
    ['get', 'lk', '--prefix', '-w', 'json'],
    ['get', 'lk', '--prefix', '-w', 'fields'],
    // (Several keys or leases in -w protobuf come in Go map order: only where there is one.)
    ...formats.flatMap((w) => [
      ...(w !== 'protobuf' ? [['lease', 'timetolive', l1, '--keys', '-w', w]] : []),
      ['lease', 'timetolive', l2, '-w', w],
      ['lease', 'timetolive', l3, '--keys', '-w', w],
    ]),
    ['lease', 'timetolive', '1234'],
    ['lease', 'timetolive', '1234', '--keys', '-w', 'json'],
    ['lease', 'timetolive', '1234', '-w', 'fields'],
  ], { normalize: normalizeLeases });
  await t.all([
    ...formats.filter((w) => w !== 'protobuf').map((w) => ['lease', 'list', '-w', w]),
    ...formats.map((w) => ['lease', 'keep-alive', '--once', l1, '-w', w]),
    ['lease', 'keep-alive', '--once', '1234'],
    ['lease', 'keep-alive', '--once', '1234', '-w', 'json'],
    ['lease', 'revoke', '1234'],
  ], { normalize: sortListed });

  // Revoke: attached keys go, with a DELETE event carrying prev_kv.
  const w = await t.watch(['watch', 'lk', '--prefix', '--prev-kv'], [['lease', 'revoke', l2]]);
  await w.lines(10); // DELETE lk3, DELETE lk4: type, key, value and the prev key/value each
  await w.finish('SIGINT');
  await t.both(['lease', 'revoke', l3, '-w', 'json']);
  await t.all([
    ['get', 'lk', '--prefix', '-w', 'json'],
    ['lease', 'revoke', l2],
    ['lease', 'timetolive', l2],
    ['lease', 'timetolive', l3, '--keys', '-w', 'json'],
    ['lease', 'keep-alive', '--once', l2],
    ['put', 'lk5', 'v', `--lease=${l2}`],
    ['lease', 'list'],
    ['lease', 'list', '-w', 'json'],
    ['lease', 'list', '-w', 'protobuf'],
  ], { normalize: normalizeLeases });
}

async function keepAliveSuite(t: Twin): Promise<void> {
  const l = await t.grant(['lease', 'grant', '120']);
  for (const [w, n] of [['simple', 1], ['json', 1], ['fields', 6]] as const) {
    const s = await t.stream(['lease', 'keep-alive', l, '-w', w], { tap: false, normalize: firstLines(n) });
    await s.lines(n);
    await s.finish('SIGINT');
  }
  // An unknown lease: the first answer has TTL 0, the stream ends by itself.
  for (const w of ['simple', 'json']) {
    const s = await t.stream(['lease', 'keep-alive', '1234', '-w', w], { tap: false });
    await s.finish('exit');
  }
  // Revoked while kept alive: the next renewal (TTL/3 s later) finds it gone.
  const short = await t.grant(['lease', 'grant', '3']);
  const s = await t.stream(['lease', 'keep-alive', short], { tap: false, normalize: squeezeRepeats });
  await s.lines(1);
  await t.both(['lease', 'revoke', short]);
  await s.finish('exit');
  await t.both(['lease', 'revoke', l]);
}

async function expirySuite(t: Twin): Promise<void> {
  // The shortest TTL is raised to the server's minimum; expiry deletes the keys with prev_kv.
  const l = await t.grant(['lease', 'grant', '1']);
  await t.both(['put', 'ek1', 'v1', `--lease=${l}`]);
  await t.both(['put', 'ek2', 'v2', `--lease=${l}`]);
  const s = await t.watch(['watch', 'ek', '--prefix', '--prev-kv', '-w', 'json'], []);
  await s.until('both DELETE events', (out) => occurrences(out, '"type":1') >= 2);
  await s.finish('SIGINT');
  await t.all([['get', 'ek', '--prefix', '-w', 'json'], ['lease', 'timetolive', l, '--keys'], ['lease', 'list']]);
}

async function watchSuite(t: Twin): Promise<void> {
  // One key: put, a write elsewhere, delete.
  let s = await t.watch(['watch', 'w1'], [['put', 'w1', 'one'], ['put', 'w2', 'other'], ['del', 'w1']]);
  await s.lines(6);
  await s.finish('SIGINT');

  // A prefix with prev_kv as JSON; a multi-key delete is one response with two events.
  s = await t.watch(['watch', 'w', '--prefix', '--prev-kv', '-w', 'json'], [
    ['put', 'w1', 'a'], ['put', 'w2', 'b'], ['put', 'w1', 'c'], ['del', 'w', '--prefix'], ['put', 'x1', 'not watched'], ['put', 'w3', 'last'],
  ]);
  await s.until('the put of w3', (out) => out.includes(b64('last')));
  await s.finish('SIGINT');

  // A range [w1, w3) in fields, and a txn (one revision, several events).
  s = await t.watch(['watch', 'w1', 'w3', '-w', 'fields', '--prev-kv'], [['put', 'w1', 'x'], ['put', 'w3', 'out of range'], ['put', 'w2', 'y']]);
  await t.both(['txn'], { stdin: '\nput w1 t1\nput w2 t2\ndel w3\n\n\n' });
  await s.until('the txn events', (out) => occurrences(out, '"Type" :') >= 4);
  await s.finish('SIGINT');

  // Everything (--prefix ''), hex and protobuf output, a binary value.
  s = await t.watch(['watch', '--prefix', '', '--hex'], [['put', 'h\u00e9x', 'caf\u00e9\u0001'], ['del', 'h\u00e9x']]);
  await s.lines(6);
  await s.finish('SIGINT');
  s = await t.watch(['watch', 'pb', '-w', 'protobuf'], [['put', 'pb', 'proto-value'], ['put', 'pb', 'proto-last']]);
  await s.until('the second event', (out) => out.includes('proto-last'));
  await s.finish('SIGINT');

  // The key from ETCDCTL_WATCH_KEY / ETCDCTL_WATCH_RANGE_END.
  s = await t.watch(['watch'], [['put', 'e1', 'env'], ['put', 'e2', 'range'], ['put', 'e3', 'outside']], { env: { ETCDCTL_WATCH_KEY: 'e1', ETCDCTL_WATCH_RANGE_END: 'e3' } });
  await s.lines(6);
  await s.finish('SIGINT');

  // The exec form: the command runs per event with ETCD_WATCH_* set.
  s = await t.watch(['watch', 'x1', '--', 'sh', '-c', 'echo "$ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'], [['put', 'x1', 'exec'], ['del', 'x1']]);
  await s.until('the exec of the DELETE', (out) => out.includes('"DELETE" "x1" ""\n'));
  await s.finish('SIGINT');
}

async function watchRevSuite(t: Twin): Promise<void> {
  const first = (await revisionOf(t)) + 1;
  for (const w of [['put', 'r1', 'a'], ['put', 'r2', 'b'], ['put', 'r1', 'c'], ['del', 'r2'], ['put', 'q', 'elsewhere'], ['put', 'r3', 'd']]) await t.both(w);
  // Replay from a past revision, whole and in part, in several formats.
  for (const [args, events] of [
    [['watch', 'r', '--prefix', `--rev=${first}`], 5],
    [['watch', 'r', '--prefix', `--rev=${first + 2}`, '--prev-kv', '-w', 'json'], 3],
    [['watch', 'r1', `--rev=${first}`, '-w', 'fields'], 2],
    [['watch', 'r1', 'r3', `--rev=${first + 1}`, '--prev-kv'], 3],
  ] as const) {
    const s = await t.stream(args);
    await s.until(`${events} events`, (out) => occurrences(out, 'PUT') + occurrences(out, 'DELETE') + occurrences(out, '"kv":') >= events);
    await s.finish('SIGINT');
  }
  // A future revision: events before it are not delivered.
  const now = await revisionOf(t);
  const s = await t.watch(['watch', 'r1', `--rev=${now + 2}`], [['put', 'r1', 'before'], ['put', 'r1', 'at']]);
  await s.lines(3);
  await s.finish('SIGINT');
  // Compacted: the server cancels the watch, etcdctl says why and exits 5.
  const compactRev = first + 3;
  await t.both(['compaction', String(compactRev)]);
  for (const args of [['watch', 'r', '--prefix', `--rev=${first}`], ['watch', 'r1', `--rev=${compactRev - 1}`, '-w', 'json']]) {
    const c = await t.stream(args);
    await c.finish('exit');
  }
  // The compaction revision itself is still watchable (r1 has no event at or after it yet).
  const c = await t.watch(['watch', 'r1', `--rev=${compactRev}`], [['put', 'r1', 'after-compaction']]);
  await c.until('the put after the compaction', (out) => out.includes('after-compaction\n'));
  await c.finish('SIGINT');
}

async function negativeRevSuite(t: Twin): Promise<void> {
  // etcd: a start revision below the compaction revision is compacted, negative ones too (exit 5).
  // (Before any compaction etcd's answer to a negative start depends on its state: not compared.)
  await t.both(['compaction', String(await revisionOf(t))]);
  const s = await t.stream(['watch', 'r1', '--rev=-1']);
  await s.finish('exit');
}

async function interactiveSuite(t: Twin): Promise<void> {
  // Two watchers on one stream with disjoint keys; each write waits for its output
  // (the watchers print from separate goroutines, so their order is by time).
  const s = await t.stream(['watch', '-i'], { stdin: 'watch i1\nwatch j --prefix --prev-kv\n' });
  await s.created(2);
  const step = async (write: string[], lines: number): Promise<void> => {
    await t.both(write);
    await s.lines(lines);
  };
  await step(['put', 'i1', 'a'], 3);
  await step(['put', 'j1', 'b'], 6);
  await step(['put', 'j1', 'c'], 11);
  await step(['put', 'i2', 'not watched'], 11);
  await step(['del', 'i1'], 14);
  // Bad lines are reported and skipped; progress is answered to every watcher.
  s.send('\nbogus\nwatch\nprogress\n');
  await s.lines(16);
  const rev = await revisionOf(t);
  // A third watch, replaying history of a key no other watcher sees.
  s.send(`watch j1 --rev=${rev - 2}\n`);
  await s.created(3);
  await s.lines(19);
  await s.finish('eof');

  // JSON, with a watch from the environment key, and progress.
  const j = await t.stream(['watch', '-i', '-w', 'json'], { stdin: 'watch k1\n' });
  await j.created(1);
  await t.both(['put', 'k1', 'json']);
  await j.lines(1);
  j.send('progress\n');
  await j.lines(3); // "progress notify: N", then the response as JSON
  j.send('watch k2 --rev=zz\n');
  await j.finish('exit');
}

// COMPAT_SUBJECT=etcd: two etcds instead of etcd and keel, to validate the harness (must pass).
const subject = subjectKind();

describe(`etcdctl: ${subject} prints what etcd prints (watch, lease)`, { skip: skipUnlessTools([...subjectTools(), 'etcdctl']) }, () => {
  let twin: Twin | undefined;
  before(async () => {
    twin = await Twin.start(subject === 'keel' ? 'cross' : 'etcd', { tools: ['etcdctl', 'etcdctl'] });
  });
  after(async () => {
    await twin?.stop();
  });
  const check = async (fn: (t: Twin) => Promise<void>): Promise<void> => {
    assert.ok(twin !== undefined, `etcd and ${subject} started`);
    await fn(twin);
    const diffs = twin.take();
    assert.equal(diffs.length, 0, `${diffs.length} differences:\n${formatDiffs(diffs)}`);
  };
  test('lease grant|timetolive [--keys]|list|keep-alive --once|revoke, put --lease', () => check(leaseSuite));
  test('lease keep-alive (streaming): renewals, unknown lease, revoked meanwhile', () => check(keepAliveSuite));
  test('lease expiry: the minimum TTL, keys deleted with prev_kv events', () => check(expirySuite));
  test('watch: key, range, --prefix, --prev-kv, env key, exec form, every format', () => check(watchSuite));
  test('watch --rev: replay, future revision, compacted', () => check(watchRevSuite));
  test('watch --rev=-1 after a compaction: canceled as compacted', () => check(negativeRevSuite));
  test('watch -i: several watches on one stream, progress, bad lines, EOF', () => check(interactiveSuite));
});
