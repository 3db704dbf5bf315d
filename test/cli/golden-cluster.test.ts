// Golden tests for endpoint, member, alarm, defrag, lease, watch and
// auth/user/role, against twin etcds and (for what keel serves) twin keels.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cleanupAll, etcdctlBin, skipUnlessTools } from '../helpers/procs';
import { formatDiffs, formats, keelctlEntry, squeezeTables, Twin, type RunResult } from './golden';

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
    ['endpoint', 'status', '--cluster'],
    ['endpoint', 'health', '--cluster', '-w', 'json'],
  ], { normalize: normalizeStatus });
  await t.all([
    ...formats.map((w) => ['member', 'list', '-w', w]),
    ...formats.filter((w) => w !== 'fields').map((w) => ['alarm', 'list', '-w', w]),
    ['alarm', 'list', 'extra'],
    ['alarm', 'disarm'],
    ['alarm', 'disarm', '-w', 'json'],
    ['member', 'remove'],
    ['member', 'remove', 'zz'],
    ['member', 'add'],
    ['member', 'add', 'x'],
    ['member', 'update', '1234'],
    ['member', 'promote', '1234'],
    ['move-leader'],
    ['move-leader', 'zz'],
    ['version'],
  ]);
  await t.both(['put', 'h1', 'v']);
  await t.all(formats.map((w) => ['endpoint', 'hashkv', '-w', w]));
  await t.both(['endpoint', 'hashkv', '--rev=1', '-w', 'json']);
  await t.both(['defrag'], { normalize: normalizeStatus });
}

async function leaseSuite(t: Twin): Promise<void> {
  const grant = { e: await runSide('etcdctl', t, 'a', ['lease', 'grant', '100']), k: await runSide('keelctl', t, 'b', ['lease', 'grant', '100']) };
  const idOf = (r: RunResult): string => /lease ([0-9a-f]{16}) granted/.exec(r.stdout)?.[1] ?? '';
  const lease = t.registerLeases(idOf(grant.e), idOf(grant.k));
  assert.notEqual(lease, '');
  t.compare(['lease', 'grant', '100'], grant.e, grant.k);
  const ids = [idOf(grant.e), idOf(grant.k)] as const;
  // The same arguments except the lease ID, which differs between the twins by design.
  const withLease = async (args: (id: string) => string[], normalize?: (s: string) => string): Promise<void> => {
    const [e, k] = await Promise.all([
      runSide('etcdctl', t, 'a', args(ids[0])),
      runSide('keelctl', t, 'b', args(ids[1])),
    ]);
    t.compare(args('<lease>'), e, k, normalize);
  };
  const ttl = (s: string): string => s.replace(/remaining\(\d+s\)/g, 'remaining(<n>s)').replace(/"ttl":\d+/g, '"ttl":<n>').replace(/"TTL" : 9\d/g, '"TTL" : <n>');
  await withLease((id) => ['put', 'lk', 'v', `--lease=${id}`]);
  for (const w of formats) {
    await withLease((id) => ['lease', 'timetolive', id, '--keys', '-w', w], ttl);
    await withLease((id) => ['lease', 'timetolive', id, '-w', w], ttl);
    await withLease((id) => ['lease', 'keep-alive', '--once', id, '-w', w]);
  }
  for (const w of ['json', 'fields', 'table']) {
    const g = await t.both(['lease', 'grant', '50', '-w', w], { normalize: (s) => s.replace(/"ID"( :|:)\s?\d+/g, '"ID"$1<id>') });
    void g;
  }
  await t.all([
    ['lease', 'list', '-w', 'simple'],
    ['lease', 'list', '-w', 'json'],
    ['lease', 'list', '-w', 'fields'],
  ].map((a) => a), { normalize: (s) => s.replace(/\b[0-9a-f]{16}\b/g, '<id>').replace(/"(id|ID)"( :|:)\s?\d+/g, '"$1"$2<id>') });
  await t.all([
    ['lease', 'timetolive', '1234'],
    ['lease', 'timetolive', '1234', '-w', 'json'],
    ['lease', 'revoke', '1234'],
    ['lease', 'keep-alive', '--once', '1234'],
    ['lease', 'grant', 'xx'],
    ['lease', 'grant'],
    ['lease', 'revoke'],
    ['lease', 'revoke', 'zz'],
    ['lease', 'timetolive'],
    ['lease', 'keep-alive'],
  ]);
  await withLease((id) => ['lease', 'revoke', id]);
  await withLease((id) => ['lease', 'timetolive', id]);
  await t.both(['get', 'lk']);
}

function runSide(tool: 'etcdctl' | 'keelctl', t: Twin, side: 'a' | 'b', args: string[], stdin = ''): Promise<RunResult> {
  const s = side === 'a' ? t.a : t.b;
  const full = [`--endpoints=${s.server.endpoint}`, ...args];
  return new Promise((resolve) => {
    const child = tool === 'etcdctl'
      ? spawn(etcdctlBin() ?? 'etcdctl', full, { env: { ...process.env, ETCDCTL_API: '3' } })
      : spawn(process.execPath, [keelctlEntry, ...full], { env: { ...process.env, ETCDCTL_API: '3' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('latin1').on('data', (d: string) => (stderr += d));
    child.stdin.end(stdin);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

/** Starts `watch …` on both sides, runs the writes, then interrupts both watchers (Ctrl-C). */
async function watchBoth(t: Twin, args: string[], writes: string[][]): Promise<void> {
  const start = (tool: 'etcdctl' | 'keelctl', side: 'a' | 'b'): { done: Promise<RunResult>; stop: () => void } => {
    const s = side === 'a' ? t.a : t.b;
    const full = [`--endpoints=${s.server.endpoint}`, ...args];
    const child = tool === 'etcdctl'
      ? spawn(etcdctlBin() ?? 'etcdctl', full, { env: { ...process.env, ETCDCTL_API: '3' } })
      : spawn(process.execPath, [keelctlEntry, ...full], { env: { ...process.env, ETCDCTL_API: '3' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('latin1').on('data', (d: string) => (stderr += d));
    const done = new Promise<RunResult>((resolve) => child.on('close', (code, signal) => resolve({ stdout, stderr, code: code ?? (signal === 'SIGINT' ? 130 : -1) })));
    return { done, stop: () => child.kill('SIGINT') };
  };
  const e = start('etcdctl', 'a');
  const k = start('keelctl', 'b');
  await new Promise((r) => setTimeout(r, 1500));
  for (const w of writes) await t.both(w);
  await new Promise((r) => setTimeout(r, 1000));
  e.stop();
  k.stop();
  t.compare(['watch…', ...args], await e.done, await k.done);
}

async function watchSuite(t: Twin): Promise<void> {
  await t.all([['watch'], ['watch', 'a', 'b', '--prefix'], ['watch', 'a', '--']]);
  await watchBoth(t, ['watch', 'w1'], [['put', 'w1', 'one'], ['del', 'w1']]);
  await watchBoth(t, ['watch', 'w', '--prefix', '--prev-kv', '-w', 'json'], [['put', 'w1', 'a'], ['put', 'w2', 'b'], ['put', 'w1', 'c']]);
  await watchBoth(t, ['watch', 'w1', '-w', 'fields', '--prev-kv'], [['put', 'w1', 'x'], ['del', 'w1']]);
  await watchBoth(t, ['watch', 'w1', '--rev=1', '--hex'], []);
  await watchBoth(t, ['watch', 'w1', '--', 'sh', '-c', 'echo "$ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'], [['put', 'w1', 'exec']]);
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

describe('keelctl golden (cluster, lease, watch, auth) against etcd', { skip: skipUnlessTools(['etcd', 'etcdctl']) }, () => {
  let twin: Twin | undefined;
  before(async () => {
    twin = await Twin.start('etcd');
  });
  after(async () => {
    await twin?.stop();
  });
  const check = async (fn: (t: Twin) => Promise<void>): Promise<void> => {
    assert.ok(twin !== undefined);
    await fn(twin);
    const diffs = twin.take();
    assert.equal(diffs.length, 0, `${diffs.length} differences:\n${formatDiffs(diffs)}`);
  };
  test('endpoint status|health|hashkv, member, alarm, defrag, version', () => check(endpointSuite));
  test('lease grant|timetolive|list|keep-alive|revoke', () => check(leaseSuite));
  test('watch: events, formats, exec form, Ctrl-C', () => check(watchSuite));
  test('auth, user, role', () => check(authSuite));
  test('snapshot, lock, elect, make-mirror, check perf', { skip: 'not implemented in keelctl yet: snapshot status/restore need a bbolt reader; lock/elect/make-mirror/check perf not wired' }, () => undefined);
  test('TLS endpoints (--cacert/--cert/--key)', { skip: 'needs a TLS-serving server fixture (keel TLS comes with a later issue)' }, () => undefined);
  test('member add/remove/update/promote on a 3-member cluster', { skip: 'needs a multi-member cluster fixture (keel membership comes with a later issue)' }, () => undefined);
});

describe('keelctl golden (cluster) against keel', () => {
  let twin: Twin | undefined;
  let startError: unknown;
  before(async () => {
    try {
      twin = await Twin.start('keel');
    } catch (e) {
      startError = e;
    }
  });
  after(async () => {
    await twin?.stop();
  });
  test('endpoint status, alarm list, version (Maintenance.Status)', async (ctx) => {
    if (twin === undefined) return ctx.skip(`keel did not start: ${String(startError).split('\n')[0] ?? ''}`);
    await twin.all([...formats.map((w) => ['endpoint', 'status', '-w', w]), ['version']], { normalize: normalizeStatus });
    const diffs = twin.take();
    assert.equal(diffs.length, 0, `${diffs.length} differences:\n${formatDiffs(diffs)}`);
  });
  test('lease commands', { skip: 'keel has no Lease service yet (later issue)' }, () => undefined);
  test('watch commands', { skip: 'keel has no Watch service yet (later issue)' }, () => undefined);
  test('member commands', { skip: 'keel has no Cluster service yet (later issue)' }, () => undefined);
  test('auth, user, role', { skip: 'keel has no Auth service yet (later issue)' }, () => undefined);
});
