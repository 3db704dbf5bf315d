// Golden tests for endpoint, member, alarm, defrag, lease, watch and
// auth/user/role: etcdctl and keelctl against twin etcds, and against twin
// keels for what keel serves (everything but Auth and TLS).
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cleanupAll, skipUnlessTools } from '../helpers/procs';
import { firstLines, formatDiffs, formats, normalizeLeases, occurrences, squeezeTables, Twin } from './golden';

after(cleanupAll);

/** Server-side figures two members do not share exactly (db size, raft index) become <n>. */
function normalizeStatus(s: string): string {
  return squeezeTables(
    s
      .replace(/"(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex)":\d+/g, '"$1":<n>')
      .replace(/"(DBSize|RaftIndex|RaftAppliedIndex)" : \d+/g, '"$1" : <n>')
      .replace(/\d+(\.\d+)? [kMG]?B\b/g, '<size>')
      .replace(/(<size>, (?:true|false), (?:true|false), \d+, )\d+, \d+/g, '$1<n>, <n>')
      .replace(/(\|\s+<size> \|\s+(?:true|false) \|\s+(?:true|false) \|\s+\d+ \|)\s+\d+ \|\s+\d+ \|/g, '$1 <n> | <n> |'),
  );
}

async function endpointSuite(t: Twin): Promise<void> {
  await t.all([
    ...formats.map((w) => ['endpoint', 'status', '-w', w]),
    ...formats.map((w) => ['endpoint', 'health', '-w', w]),
  ], { normalize: normalizeStatus });
  await t.all([
    ...formats.map((w) => ['member', 'list', '-w', w]),
    ...formats.filter((w) => w !== 'fields').map((w) => ['alarm', 'list', '-w', w]),
    ['alarm', 'disarm'],
    ['alarm', 'disarm', '-w', 'json'],
    ['member', 'remove', '1234'],
    ['member', 'promote', '1234'],
  ]);
  await t.clientOnly([
    ['alarm', 'list', 'extra'],
    ['member', 'remove'],
    ['member', 'remove', 'zz'],
    ['member', 'add'],
    ['member', 'add', 'x'],
    ['member', 'update', '1234'],
    ['move-leader'],
    ['move-leader', 'zz'],
    ['version'],
  ]);
  await t.both(['defrag'], { normalize: normalizeStatus });
}

/** --cluster: the commands dial every member's client URL (http://…) from member list. */
async function clusterFlagSuite(t: Twin): Promise<void> {
  await t.all([
    ['endpoint', 'status', '--cluster'],
    ['endpoint', 'status', '--cluster', '-w', 'json'],
    ['endpoint', 'health', '--cluster', '-w', 'json'],
    ['endpoint', 'hashkv', '--cluster'],
  ], { normalize: normalizeStatus });
}

async function hashkvSuite(t: Twin): Promise<void> {
  await t.both(['put', 'h1', 'v']);
  await t.all([...formats.map((w) => ['endpoint', 'hashkv', '-w', w]), ['endpoint', 'hashkv', '--rev=1', '-w', 'json']]);
}

async function leaseSuite(t: Twin): Promise<void> {
  const lease = await t.grant(['lease', 'grant', '100']);
  assert.notEqual(lease, '', 'a lease granted on both sides');
  await t.both(['put', 'lk', 'v', `--lease=${lease}`]);
  await t.all(formats.flatMap((w) => [
    ['lease', 'timetolive', lease, '--keys', '-w', w],
    ['lease', 'timetolive', lease, '-w', w],
    ['lease', 'keep-alive', '--once', lease, '-w', w],
  ]), { normalize: normalizeLeases });
  for (const w of ['json', 'fields']) await t.grant(['lease', 'grant', '50', '-w', w]);
  await t.all(['simple', 'json', 'fields'].map((w) => ['lease', 'list', '-w', w]), { normalize: normalizeLeases });
  await t.all([
    ['lease', 'timetolive', '1234'],
    ['lease', 'timetolive', '1234', '-w', 'json'],
    ['lease', 'revoke', '1234'],
    ['lease', 'keep-alive', '--once', '1234'],
  ]);
  await t.clientOnly([
    ['lease', 'grant', 'xx'],
    ['lease', 'grant'],
    ['lease', 'revoke'],
    ['lease', 'revoke', 'zz'],
    ['lease', 'timetolive'],
    ['lease', 'keep-alive'],
  ]);
  // keep-alive without --once renews every TTL/3 s until Ctrl-C: the first renewal is compared.
  const ka = await t.stream(['lease', 'keep-alive', lease], { tap: false, normalize: firstLines(1) });
  await ka.lines(1);
  await ka.finish('SIGINT');
  await t.both(['lease', 'revoke', lease]);
  await t.all([['lease', 'timetolive', lease], ['get', 'lk']]);
  // etcdctl grants, then finds the format unsupported (last: the lease stays unnamed).
  await t.both(['lease', 'grant', '50', '-w', 'table']);
}

/** Watches: each waits until the server created it (seen on the wire), and for its last expected output. */
async function watchSuite(t: Twin): Promise<void> {
  await t.clientOnly([['watch'], ['watch', 'a', 'b', '--prefix'], ['watch', 'a', '--']]);
  await t.clientOnly([['watch']], { env: { ETCDCTL_WATCH_RANGE_END: 'z' } });
  let s = await t.watch(['watch', 'w1'], [['put', 'w1', 'one'], ['del', 'w1']]);
  await s.lines(6);
  await s.finish('SIGINT');
  s = await t.watch(['watch', 'w', '--prefix', '--prev-kv', '-w', 'json'], [['put', 'w1', 'a'], ['put', 'w2', 'b'], ['put', 'w1', 'c']]);
  await s.lines(3);
  await s.finish('SIGINT');
  s = await t.watch(['watch', 'w1', '-w', 'fields', '--prev-kv'], [['put', 'w1', 'x'], ['del', 'w1']]);
  await s.until('the DELETE', (out) => out.includes('"Type" : DELETE'));
  await s.finish('SIGINT');
  s = await t.watch(['watch', 'w1', '--rev=1', '--hex']);
  await s.until('the replay up to the second DELETE', (out) => occurrences(out, 'DELETE\n') >= 2);
  await s.finish('SIGINT');
  s = await t.watch(['watch', 'w1', '--', 'sh', '-c', 'echo "$ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'], [['put', 'w1', 'exec']]);
  await s.until('the command\'s output', (out) => out.includes('"PUT" "w1" "exec"\n'));
  await s.finish('SIGINT');
}

/** watch -i: watch lines from stdin while it stays open, progress, bad lines, EOF. */
async function interactiveWatchSuite(t: Twin): Promise<void> {
  const s = await t.stream(['watch', '-i'], { stdin: 'watch i1\n' });
  await s.created(1);
  await t.both(['put', 'i1', 'a']);
  await s.lines(3);
  s.send('watch j --prefix --prev-kv\n');
  await s.created(2);
  await t.both(['put', 'j1', 'b']);
  await s.lines(6);
  s.send('\nbogus\nwatch\nprogress\n');
  await s.lines(8);
  await s.finish('eof');
}

async function authSuite(t: Twin): Promise<void> {
  await t.both(['role', 'add', 'r1']);
  await t.all(formats.map((w) => ['role', 'add', `r-${w}`, '-w', w]));
  await t.both(['role', 'grant-permission', 'r1', 'read', 'k1']);
  await t.both(['role', 'grant-permission', 'r1', 'write', 'p/', '--prefix']);
  await t.both(['role', 'grant-permission', 'r1', 'readwrite', 'a', 'c']);
  await t.both(['role', 'grant-permission', 'r1', 'readwrite', 'z', '--from-key']);
  await t.all([
    ['role', 'grant-permission', 'r1', 'bogus', 'k1'],
    ['role', 'grant-permission', 'r1'],
    ...formats.map((w) => ['role', 'get', 'r1', '-w', w]),
    ...formats.map((w) => ['role', 'list', '-w', w]),
    ['role', 'get', 'nope'],
  ]);
  await t.both(['role', 'revoke-permission', 'r1', 'k1']);
  await t.both(['role', 'revoke-permission', 'r1', 'a', 'c']);
  await t.both(['user', 'add', 'u1:pw1']);
  await t.both(['user', 'add', 'u2', '--new-user-password=pw2', '-w', 'json']);
  await t.both(['user', 'add', 'u3', '--interactive=false'], { stdin: 'pw3\n' });
  await t.both(['user', 'add', 'u1:again']);
  await t.both(['user', 'grant-role', 'u1', 'r1']);
  await t.all([
    ...formats.map((w) => ['user', 'get', 'u1', '-w', w]),
    ...formats.map((w) => ['user', 'list', '-w', w]),
    ['user', 'get', 'u1', '--detail'],
    ['user', 'get', 'nope'],
    ['user', 'add'],
    ['user', 'grant-role', 'u1'],
  ]);
  await t.both(['user', 'revoke-role', 'u1', 'r1']);
  await t.both(['user', 'passwd', 'u1', '--interactive=false'], { stdin: 'newpw\n' });
  await t.both(['user', 'delete', 'u3']);
  await t.both(['role', 'delete', 'r-json']);
  await t.both(['auth', 'enable']);
  await t.both(['user', 'add', 'root:rootpw']);
  await t.both(['auth', 'enable']);
  await t.both(['get', 'k1']);
  await t.both(['get', 'k1', '--user=root:rootpw']);
  await t.both(['get', 'k1', '--user=root', '--password=rootpw', '-w', 'json']);
  await t.both(['get', 'k1', '--user=root:wrong']);
  await t.both(['put', 'k1', 'v', '--user=u1:newpw']);
  await t.both(['role', 'list', '--user=root:rootpw']);
  await t.both(['auth', 'disable', '--user=root:rootpw']);
  await t.both(['auth', 'disable']);
}

const checker = (get: () => Twin | undefined) => async (fn: (t: Twin) => Promise<void>): Promise<void> => {
  const twin = get();
  assert.ok(twin !== undefined, 'twin servers started');
  await fn(twin);
  const diffs = twin.take();
  assert.equal(diffs.length, 0, `${diffs.length} differences:\n${formatDiffs(diffs)}`);
};

/** A describe whose tests share one twin, run in order. */
function twinSuite(name: string, kind: 'etcd' | 'keel', tests: (check: (fn: (t: Twin) => Promise<void>) => Promise<void>) => void): void {
  const tools = kind === 'etcd' ? (['etcd', 'etcdctl'] as const) : (['etcdctl', 'keel'] as const);
  // concurrency false: node:test would otherwise inherit the parent's.
  describe(name, { skip: skipUnlessTools([...tools]), concurrency: false }, () => {
    let twin: Twin | undefined;
    let startError: unknown;
    before(async () => {
      try {
        twin = await Twin.start(kind);
      } catch (e) {
        startError = e;
      }
    });
    after(async () => {
      await twin?.stop();
    });
    tests(checker(() => {
      if (twin === undefined) throw new Error(`${kind} did not start: ${String(startError)}`);
      return twin;
    }));
  });
}

// Three independent twins (own servers) run concurrently.
describe('keelctl golden (cluster)', { concurrency: true }, () => {
  twinSuite('against etcd: endpoint, member, alarm, defrag, lease, watch', 'etcd', (check) => {
    test('endpoint status|health, member, alarm, defrag, version', () => check(endpointSuite));
    test('endpoint status|health|hashkv --cluster', () => check(clusterFlagSuite));
    test('endpoint hashkv', () => check(hashkvSuite));
    test('lease grant|timetolive|list|keep-alive|revoke', () => check(leaseSuite));
    test('watch: events, formats, exec form, Ctrl-C', () => check(watchSuite));
    test('watch -i: lines from stdin as they come, progress, EOF', { skip: 'keelctl bug: watch -i reads all of stdin before watching, lacks the progress command and prints "Invalid command:" with an extra colon' }, () => check(interactiveWatchSuite));
    test('lock, elect, make-mirror, check perf', { skip: 'not implemented in keelctl yet (snapshot status|restore and defrag --data-dir: offline.test.ts)' }, () => undefined);
    test('TLS endpoints (--cacert/--cert/--key)', { skip: 'needs a TLS-serving server fixture' }, () => undefined);
    test('member add/remove/update/promote on a 3-member cluster', { skip: 'needs a multi-member cluster fixture' }, () => undefined);
  });
  twinSuite('against etcd: auth, user, role', 'etcd', (check) => {
    test('auth, user, role', () => check(authSuite));
  });
  twinSuite('against keel: endpoint, member, alarm, defrag, lease, watch', 'keel', (check) => {
    test('endpoint status|health, member, alarm, defrag, version', () => check(endpointSuite));
    test('endpoint status|health|hashkv --cluster', { skip: 'keel bug: with http:// endpoints etcdctl sends :authority "http://host:port", which node:http2 (under grpc-js) resets with PROTOCOL_ERROR before keel sees the call' }, () => check(clusterFlagSuite));
    test('endpoint hashkv', () => check(hashkvSuite));
    test('lease grant|timetolive|list|keep-alive|revoke', () => check(leaseSuite));
    test('watch: events, formats, exec form, Ctrl-C', () => check(watchSuite));
    test('auth, user, role', { skip: 'keel has no Auth service yet (Auth/User/Role RPCs unimplemented)' }, () => undefined);
    test('TLS endpoints (--cacert/--cert/--key)', { skip: 'keel does not serve TLS yet (https client URLs are refused)' }, () => undefined);
    test('member add/remove/update/promote on a 3-member cluster', { skip: 'needs a multi-member cluster fixture' }, () => undefined);
  });
});
