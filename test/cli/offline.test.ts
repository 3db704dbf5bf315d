// keelctl's offline commands (snapshot status|restore, defrag --data-dir) and
// keelutl (etcdutl's snapshot status|restore, defrag, hashkv): against keel's
// own snapshot files and data dirs, and side by side with Debian's etcdctl
// 3.4 and etcdutl 3.5 (unpacked by /work/shared/tools/etcd35.sh), which get
// etcd's snapshot file under the same name in a twin directory. Output and
// exit codes are compared after masking log timestamps.
import { test, after, describe } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { startEtcd, startKeel, cleanupAll, skipUnlessTools, makeTempDir, repoRoot, etcdctlBin } from '../helpers/procs';
import { EtcdClient, must, b } from '../helpers/client';

after(cleanupAll);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const etcdutlBin = process.env['ETCDUTL_BIN'] ?? '/opt/etcd35/usr/bin/etcdutl';
const noEtcdutl = fs.existsSync(etcdutlBin) ? false : `etcdutl 3.5 not found at ${etcdutlBin} (unpack it with /work/shared/tools/etcd35.sh, or set ETCDUTL_BIN)`;

function toolEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('ETCDCTL_') && !k.startsWith('ETCD_')) env[k] = v;
  return { ...env, ETCDCTL_API: '3', TZ: 'UTC' };
}

/** Runs a tool to completion (bounded: killed after a minute, which fails the comparison). */
function runIn(cwd: string, file: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { cwd, env: toolEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('latin1').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const keelctl = (cwd: string, ...args: string[]): Promise<Run> => runIn(cwd, process.execPath, [path.join(repoRoot, 'bin', 'keelctl.js'), ...args]);
const keelutl = (cwd: string, ...args: string[]): Promise<Run> => runIn(cwd, process.execPath, [path.join(repoRoot, 'bin', 'keelutl.js'), ...args]);

/** Masks log times (zap's JSON epoch seconds, the console encoder's RFC 3339) and the default data dir's suffix. */
function normalize(s: string): string {
  return s
    .replace(/"ts":[0-9.e+]+/g, '"ts":<ts>')
    .replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\t/gm, '<ts>\t')
    .replace(/default\.(etcd|keel)\b/g, 'default.<dir>');
}

function same(a: Run, b: Run, what: string): void {
  assert.deepEqual(
    { code: b.code, stdout: normalize(b.stdout), stderr: normalize(b.stderr) },
    { code: a.code, stdout: normalize(a.stdout), stderr: normalize(a.stderr) },
    `${what}: keel's tool (actual) differs from etcd's (expected)`,
  );
}

/** A member with some history (puts, overwrites, a delete, a compaction), its revision, and its snapshot in dir/snap.db. */
async function memberWithSnapshot(kind: 'keel' | 'etcd', dir: string): Promise<{ revision: number; endpoint: string }> {
  const server = kind === 'keel' ? await startKeel() : await startEtcd();
  const c = new EtcdClient(server.endpoint);
  for (let i = 0; i < 60; i++) must(await c.put({ key: b(`k${i % 20}`), value: b(`v${i}`) }));
  must(await c.deleteRange({ key: b('k3') }));
  const last = must(await c.put({ key: b('last'), value: b('x') }));
  const revision = Number(last.header!.revision);
  must(await c.compact({ revision: revision - 5 }));
  c.close();
  const save = kind === 'keel'
    ? await keelctl(dir, '--endpoints', server.endpoint, 'snapshot', 'save', 'snap.db')
    : await runIn(dir, etcdctlBin() ?? 'etcdctl', ['--endpoints', server.endpoint, 'snapshot', 'save', 'snap.db']);
  assert.equal(save.code, 0, save.stderr);
  return { revision, endpoint: server.endpoint };
}

/** Inputs both twins get under the same names: junk files of either side of bbolt's size floor, a directory, an empty and a full dir. */
function junk(dir: string): void {
  fs.writeFileSync(path.join(dir, 'small.bin'), Buffer.alloc(5_000));
  fs.writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(100_000));
  fs.mkdirSync(path.join(dir, 'adir'));
  fs.mkdirSync(path.join(dir, 'empty'));
  fs.mkdirSync(path.join(dir, 'full', 'x'), { recursive: true });
}

describe('keelctl and keelutl on keel snapshots and data dirs', { skip: skipUnlessTools(['keel']) }, () => {
  test('snapshot status: both tools, every format; restore into an empty dir; the restored member serves the same data', { timeout: 180_000 }, async () => {
    const dir = makeTempDir('keel-offline-');
    const { revision, endpoint } = await memberWithSnapshot('keel', dir);
    const file = path.join(dir, 'snap.db');
    for (const w of ['simple', 'json', 'table', 'fields', 'protobuf']) {
      same(await keelutl(dir, 'snapshot', 'status', 'snap.db', '-w', w), await keelctl(dir, 'snapshot', 'status', 'snap.db', '-w', w), `status -w ${w}`);
    }
    const json = await keelutl(dir, 'snapshot', 'status', 'snap.db', '-w', 'json');
    assert.equal(json.code, 0, json.stderr);
    const st = JSON.parse(json.stdout) as { hash: number; revision: number; totalKey: number; totalSize: number };
    assert.equal(st.revision, revision);
    // keel's snapshot is etcd's file: a bbolt db (its size is what status reports) and a sha256 of it.
    assert.equal(st.totalSize, fs.statSync(file).size - 32);
    if (noEtcdutl === false) {
      const theirs = await runIn(dir, etcdutlBin, ['snapshot', 'status', 'snap.db', '-w', 'json']);
      assert.deepEqual(JSON.parse(theirs.stdout), st, 'etcdutl 3.5 reads keel\'s snapshot as keelutl does');
    }
    assert.ok(st.totalKey > 20, `history and meta records are counted: ${st.totalKey}`);
    const simple = await keelutl(dir, 'snapshot', 'status', 'snap.db');
    assert.match(simple.stdout, new RegExp(`^${st.hash.toString(16)}, ${revision}, ${st.totalKey}, \\d+(\\.\\d)? [k]?B\\n$`));
    const pb = await keelutl(dir, 'snapshot', 'status', 'snap.db', '-w', 'protobuf');
    assert.deepEqual([pb.code, pb.stderr], [4, 'Error: protobuf not supported as output format\n']);

    const before = new EtcdClient(endpoint);
    const kvs = must(await before.range({ key: b('\0'), range_end: b('\0') })).kvs;
    before.close();
    const target = path.join(dir, 'restored');
    fs.mkdirSync(target);
    const restore = await keelutl(dir, 'snapshot', 'restore', 'snap.db', '--data-dir', target);
    assert.equal(restore.code, 0, restore.stderr);
    const msgs = restore.stderr.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[3]);
    assert.deepEqual(msgs, ['restoring snapshot', 'Trimming membership information from the backend...', 'added member', 'restored snapshot']);
    const again = await keelutl(dir, 'snapshot', 'restore', 'snap.db', '--data-dir', target);
    assert.deepEqual([again.code, again.stderr], [1, `Error: data-dir ${JSON.stringify(target)} not empty or could not be read\n`]);
    const ctlAgain = await keelctl(dir, 'snapshot', 'restore', 'snap.db', '--data-dir', target);
    assert.deepEqual([ctlAgain.code, ctlAgain.stderr], [1, `Error: data-dir ${JSON.stringify(target)} exists\n`]);

    const restored = await startKeel({ dataDir: target });
    const r = new EtcdClient(restored.endpoint);
    const after = must(await r.range({ key: b('\0'), range_end: b('\0') }));
    assert.deepEqual(after.kvs, kvs);
    assert.equal(Number(after.header!.revision), revision);
    r.close();
  });

  test('hashkv and defrag --data-dir: refused while the member runs; once stopped, the online HashKV offline', { timeout: 180_000 }, async () => {
    const member = await startKeel();
    const c = new EtcdClient(member.endpoint);
    for (let i = 0; i < 40; i++) must(await c.put({ key: b(`h${i % 7}`), value: b(`v${i}`) }));
    const rev = Number(must(await c.put({ key: b('end'), value: b('') })).header!.revision);
    must(await c.compact({ revision: rev - 10 }));
    c.close();
    const cwd = makeTempDir('keel-offline-');
    const online = await keelctl(cwd, '--endpoints', member.endpoint, 'endpoint', 'hashkv', '-w', 'json');
    assert.equal(online.code, 0, online.stderr);
    const onlineHash = (JSON.parse(online.stdout) as Array<{ HashKV: { hash: number; compact_revision: number } }>)[0]!.HashKV;

    const dataDir = member.dataDir;
    const inUse = `${path.join(dataDir, 'member', 'db')} is in use`;
    const utlDefrag = await keelutl(cwd, 'defrag', '--data-dir', dataDir);
    assert.equal(utlDefrag.code, 1);
    assert.ok(utlDefrag.stderr.startsWith(`Error: Failed to defragment etcd data[${dataDir}] (${inUse}`), utlDefrag.stderr);
    const ctlDefrag = await keelctl(cwd, 'defrag', '--data-dir', dataDir);
    assert.deepEqual([ctlDefrag.code, ctlDefrag.stderr], [utlDefrag.code, utlDefrag.stderr]);
    const busyHash = await keelutl(cwd, 'hashkv', '--data-dir', dataDir);
    assert.equal(busyHash.code, 1);
    assert.ok(busyHash.stderr.startsWith(`Error: ${inUse}`), busyHash.stderr);

    await member.stop();
    const offline = await keelutl(cwd, 'hashkv', '--data-dir', dataDir, '-w', 'json');
    assert.equal(offline.code, 0, offline.stderr);
    assert.deepEqual(JSON.parse(offline.stdout), { hash: onlineHash.hash, hashRevision: rev, compactRevision: onlineHash.compact_revision });
    const byFile = await keelutl(cwd, 'hashkv', path.join(dataDir, 'member', 'db'));
    assert.equal(byFile.stdout, `${onlineHash.hash}, ${rev}, ${onlineHash.compact_revision}\n`);
    const compacted = await keelutl(cwd, 'hashkv', dataDir, '--rev', String(rev - 11));
    assert.deepEqual([compacted.code, compacted.stderr], [1, 'Error: mvcc: required revision has been compacted\n']);
    const future = await keelutl(cwd, 'hashkv', dataDir, '--rev', String(rev + 1));
    assert.deepEqual([future.code, future.stderr], [1, 'Error: mvcc: required revision is a future revision\n']);

    const defrag = await keelutl(cwd, 'defrag', '--data-dir', dataDir);
    assert.equal(defrag.code, 0, defrag.stderr);
    assert.deepEqual(defrag.stderr.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[3]), ['defragmenting', 'finished defragmenting directory']);
    const quiet = await keelctl(cwd, 'defrag', '--data-dir', dataDir);
    assert.deepEqual(quiet, { code: 0, stdout: '', stderr: '' }, 'etcdctl 3.4 defragments offline silently');
    const afterDefrag = await keelutl(cwd, 'hashkv', dataDir, '-w', 'json');
    assert.deepEqual(JSON.parse(afterDefrag.stdout), JSON.parse(offline.stdout), 'defragmentation keeps the content');

    const absent = path.join(cwd, 'no-such-dir');
    const missing = await keelutl(cwd, 'defrag', '--data-dir', absent);
    assert.deepEqual([missing.code, missing.stderr], [1, `Error: Failed to defragment etcd data[${absent}] (open ${path.join(absent, 'member', 'db')}: no such file or directory)\n`]);
    assert.equal(fs.existsSync(absent), false, 'a missing data dir is not created');
  });
});

/** `snapshot …` argument lists both CLIs answer the same way, with etcd's snapshot or keel's under the same name. */
const restoreCases: readonly (readonly string[])[] = [
  ['status'],
  ['status', 'a', 'b'],
  ['status', 'missing.db'],
  ['status', 'adir'],
  ['status', 'small.bin'],
  ['status', 'big.bin'],
  ['status', 'snap.db', '-w', 'bogus'],
  ['status', 'snap.db', '-w', 'protobuf'],
  ['restore'],
  ['restore', 'snap.db', '--data-dir', 'r1'],
  ['restore', 'snap.db', '--data-dir', 'r1'],
  ['restore', 'snap.db', '--data-dir', 'full'],
  ['restore', 'snap.db', '--data-dir', 'r2', '--name', 'b', '--initial-cluster', 'a=http://a:1,b=http://b:2', '--initial-advertise-peer-urls', 'http://b:2', '--initial-cluster-token', 'tok'],
  ['restore', 'snap.db', '--data-dir', 'r3', '--name', 'nobody'],
  ['restore', 'snap.db', '--data-dir', 'r3', '--initial-cluster', 'default=localhost:2380'],
  ['restore', 'snap.db', '--data-dir', 'r3', '--initial-cluster', 'default=http://localhost:2380/path'],
  ['restore', 'snap.db', '--data-dir', 'r3', '--initial-cluster', 'default=http://localhost'],
  ['restore', 'snap.db', '--data-dir', 'r3', '--initial-advertise-peer-urls', 'bad'],
  ['restore', 'snap.db', '--data-dir', 'r3', '--initial-cluster', 'default=http://127.0.0.1:2380'],
  ['restore', 'snap.db', '--data-dir', 'r3', '--initial-cluster', 'default=http://localhost:2380,default=http://localhost:2381'],
  ['restore', 'snap.db', '--data-dir', 'r3', '--initial-cluster', 'default=http://localhost:2380,b=http://localhost:2380'],
  ['restore', 'missing.db', '--data-dir', 'r4'],
  ['restore', 'snap.db'],
];

async function twins(): Promise<{ etcdDir: string; keelDir: string }> {
  const etcdDir = makeTempDir('etcd-offline-');
  const keelDir = makeTempDir('keel-offline-');
  await memberWithSnapshot('etcd', etcdDir);
  await memberWithSnapshot('keel', keelDir);
  junk(etcdDir);
  junk(keelDir);
  return { etcdDir, keelDir };
}

describe('keelctl snapshot status|restore against etcdctl 3.4', { skip: skipUnlessTools(['etcd', 'etcdctl', 'keel']) }, () => {
  test('errors, restore logs (member and cluster IDs) and exit codes as etcdctl prints them', { timeout: 180_000 }, async () => {
    const { etcdDir, keelDir } = await twins();
    for (const args of restoreCases) {
      const a = await runIn(etcdDir, etcdctlBin() ?? 'etcdctl', ['snapshot', ...args]);
      const k = await keelctl(keelDir, 'snapshot', ...args);
      same(a, k, `snapshot ${args.join(' ')}`);
    }
  });
});

describe('keelutl against etcdutl 3.5', { skip: skipUnlessTools(['etcd', 'etcdctl', 'keel']) || noEtcdutl }, () => {
  test('usage, flag errors, snapshot status|restore, defrag refusals as etcdutl prints them', { timeout: 180_000 }, async () => {
    const { etcdDir, keelDir } = await twins();
    const cases: (readonly string[])[] = [
      ...restoreCases.map((c) => ['snapshot', ...(c[0] === 'restore' && !c.includes('--data-dir') && c.length > 1 ? [...c, '--data-dir='] : c)]),
      ['snapshot', 'restore', 'snap.db', '--data-dir', 'empty'],
      ['snapshot', 'restore', 'snap.db', '--data-dir', 'r5', '--mark-compacted'],
      ['snapshot', 'restore', 'snap.db', '--data-dir', 'r5', '--initial-memory-map-size', '4096'],
      ['snapshot', 'restore', 'snap.db'],
      ['snapshot', 'save', 'x.db'],
      ['snapshot'],
      ['snapshot', 'nothing'],
      ['snapshot', '--help'],
      ['snapshot', 'status', '--help'],
      ['snapshot', 'restore', '--help'],
      ['snapshot', 'status', '--bogus', 'snap.db'],
      ['snapshot', 'status', 'snap.db', '-w'],
      ['defrag'],
      ['defrag', '--help'],
      ['defrag', '--data-dir'],
      ['version'],
      ['version', '--help'],
      ['help', 'snapshot', 'restore'],
      ['nothing'],
    ];
    for (const args of cases) {
      const a = await runIn(etcdDir, etcdutlBin, args);
      const k = await keelutl(keelDir, ...args);
      same(a, k, args.join(' '));
    }
  });
});
