// Golden tests for get, put, del, txn, compaction and the global flags,
// environment variables and error behaviour, against twin etcds and (when
// keel starts) twin keels.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cleanupAll, keelEntry, skipUnlessTools } from '../helpers/procs';
import { formatDiffs, formats, Twin } from './golden';

after(cleanupAll);

const txnInput = [
  'mod("k1") > "0"',
  '',
  'put k1 "new v"',
  'get k1',
  'del nokey',
  '',
  'put k1 x',
  '',
  '',
].join('\n');

async function kvSuite(t: Twin): Promise<void> {
  // put: values from args and stdin, prev-kv, lease errors, argument errors.
  await t.both(['put', 'foo', 'bar']);
  await t.both(['put', 'foo2', 'bar 2']);
  await t.both(['put', 'k1', 'v1']);
  await t.both(['put', 'stdin-key'], { stdin: 'from stdin' });
  await t.both(['put', 'bin', 'caf\u00e9\u0001\u007f']);
  for (const w of formats) await t.both(['put', 'foo', `v-${w}`, '--prev-kv', '-w', w]);
  await t.both(['put', 'a', 'b', '--lease=1234']);
  await t.both(['put', 'a', '--ignore-value']);
  await t.clientOnly([
    ['put'],
    ['put', 'onlykey'],
    ['put', 'a', 'b', '--lease=zz'],
    ['put', 'a', 'b', '--ignore-value'],
    ['put', 'a', 'b', 'c'],
    ['get', 'foo', '--consistency=x'],
    ['get', 'foo', '--sort-by=bad'],
    ['get', 'foo', '--order=bad'],
    ['get', 'foo', '--prefix', '--from-key'],
    ['get', 'a', 'b', '--prefix'],
    ['get'],
    ['del'],
    ['del', 'a', 'b', 'c'],
    ['txn', 'arg'],
    ['compaction'],
    ['compaction', 'x'],
  ]);

  // get: every format, prefix/from-key/range, sort, limit, rev, keys-only, hex (read-only: concurrent).
  await t.all([
    ...formats.flatMap((w) => [['get', 'foo', '--prefix', '-w', w], ['get', 'nokey', '-w', w], ['get', 'a', 'k2', '-w', w]]),
    ['get', '', '--from-key'],
    ['get', '', '--prefix', '--keys-only'],
    ['get', 'foo', '--prefix', '--print-value-only'],
    ['get', 'foo', '--prefix', '--print-value-only', '-w', 'json'],
    ['get', 'foo', '--prefix', '--hex'],
    ['get', 'bin', '-w', 'fields'],
    ['get', 'bin', '-w', 'json'],
    ['get', '', '--prefix', '--sort-by=MODIFY', '--order=DESCEND'],
    ['get', '', '--prefix', '--sort-by=value', '--order=ascend', '--limit=2', '-w', 'json'],
    ['get', '', '--prefix', '--limit', '1', '-w', 'fields'],
    ['get', 'foo', '--rev=2'],
    ['get', 'foo', '--rev=2', '-w', 'json'],
    ['get', 'foo', '--rev=100000'],
    ['get', 'foo', '--consistency=s'],
  ]);

  // del.
  await t.both(['put', 'd1', 'x']);
  await t.both(['put', 'd2', 'y']);
  for (const w of formats) await t.both(['del', 'nokey', '-w', w]);
  await t.both(['del', 'd1', '--prev-kv', '-w', 'json']);
  await t.both(['del', 'd', '--prefix', '--prev-kv']);
  await t.both(['del', 'k1', 'k2', '-w', 'fields']);
  await t.both(['put', 'k1', 'v1']);

  // txn from stdin, in every format, and its error paths.
  for (const w of formats) await t.both(['txn', '-w', w], { stdin: txnInput });
  await t.both(['txn', '-i'], { stdin: 'value("k1") = "zz"\n\nput k1 y\n\nget k1 --prefix\n\n' });
  await t.both(['txn', '-w', 'fields'], { stdin: 'ver("k1") != "0"\nc("k1") < "100000"\n\ndel k1 --prev-kv\nput k1 z --prev-kv\n\n\n' });
  await t.both(['txn'], { stdin: 'bad\n\n' });
  await t.both(['txn'], { stdin: 'mod("k1") > "0"\n\nfoo k1\n\n' });
  await t.both(['txn'], { stdin: 'mod("k1") > "x"\n\n\n\n' });
  await t.both(['txn'], { stdin: 'bogus("k1") > "0"\n\n\n\n' });
  await t.both(['txn'], { stdin: 'mod("k1") > "0"\n\nput k1 y\n' });
  await t.both(['txn'], { stdin: '' });

  // compaction.
  await t.both(['compaction', '3']);
  await t.both(['compaction', '3']);
  await t.both(['compaction', '--physical', '5']);
  await t.both(['get', 'foo', '--rev=2']);
  await t.both(['compaction', '100000']);
}

async function globalSuite(t: Twin): Promise<void> {
  // Flag syntax as pflag has it (read-only: concurrent).
  await t.all([
    ['get', 'foo', '-wjson'],
    ['get', 'foo', '-w=fields'],
    ['-w', 'json', 'get', 'foo'],
    ['get', '--prefix=false', 'foo'],
    ['get', 'foo', '-w', 'xml'],
    ['get', 'foo', '--command-timeout', '3s', '--dial-timeout=1s', '--keepalive-time=1s', '--keepalive-timeout=2s'],
    ['get', 'foo', '--insecure-transport=true', '--insecure-skip-tls-verify'],
    ['get', '--', '-dash'],
  ]);
  await t.clientOnly([
    ['get', 'foo', '--prefix=maybe'],
    ['get', 'foo', '--limit', 'x'],
    ['get', 'foo', '--bogus'],
    ['put', '-x', 'a', 'b'],
    ['get', 'foo', '-w'],
    ['get', 'foo', '--dial-timeout=abc'],
    ['bogus'],
    ['get', '--help'],
    ['help', 'put'],
    ['lease'],
    ['version'],
    ['version', '-w', 'json'],
    [],
  ]);
  // ETCDCTL_* variables.
  await t.both(['get', 'foo'], { noEndpoints: true, env: { ETCDCTL_ENDPOINTS: '<endpoint>' } });
  await t.both(['get', 'foo'], { noEndpoints: true, env: { ETCDCTL_ENDPOINTS: '<endpoint>', ETCDCTL_WRITE_OUT: 'json' } });
  await t.both(['get', 'foo'], { noEndpoints: true, env: { ETCDCTL_ENDPOINTS: '<endpoint>', ETCDCTL_HEX: 'true' } });
  await t.both(['get', 'foo'], { noEndpoints: true, env: { ETCDCTL_ENDPOINTS: '<endpoint>', ETCDCTL_BOGUS: '1' } });
  await t.both(['get', 'foo'], { env: { ETCDCTL_ENDPOINTS: '<endpoint>' } });
  await t.both(['get', 'foo'], { noEndpoints: true, env: { ETCDCTL_ENDPOINTS: '<endpoint>', ETCDCTL_COMMAND_TIMEOUT: '3s', ETCDCTL_DIAL_TIMEOUT: '1s' } });
  // Unreachable endpoints: the wait for the command timeout, then etcdctl's error.
  await t.clientOnly([
    ['--endpoints=127.0.0.1:1', '--command-timeout=1s', 'get', 'foo'],
    ['--endpoints=127.0.0.1:1', '--command-timeout=1s', 'endpoint', 'status'],
  ], { noEndpoints: true });
  // Failover: a dead endpoint first.
  await t.both(['get', 'foo'], { noEndpoints: true, env: { ETCDCTL_ENDPOINTS: '127.0.0.1:1,<endpoint>' } });
}

const kinds = process.env['KEELCTL_GOLDEN_CROSS'] === '1' ? (['cross'] as const) : (['etcd', 'keel'] as const);
// The twins are independent (own servers): they run concurrently, each one's
// tests in order (they share its twin; node:test would inherit the concurrency).
describe('keelctl golden (kv)', { concurrency: true }, () => {
for (const kind of kinds) {
  const needs = kind === 'etcd' ? (['etcd', 'etcdctl'] as const) : (['etcd', 'etcdctl', 'keel'] as const);
  const skip = skipUnlessTools([...needs]) || (kind !== 'etcd' && keelEntry() === undefined ? 'keel not built' : false);
  describe(`against ${kind}`, { skip, concurrency: false }, () => {
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
    const withTwin = async (ctx: { skip: (m: string) => void }, fn: (t: Twin) => Promise<void>): Promise<void> => {
      if (twin === undefined) {
        if (kind !== 'etcd') return ctx.skip(`keel did not start: ${String(startError).split('\n')[0] ?? ''}`);
        throw startError;
      }
      await fn(twin);
      const diffs = twin.take();
      assert.equal(diffs.length, 0, `${diffs.length} differences:\n${formatDiffs(diffs)}`);
    };
    test('get/put/del/txn/compaction in every output format', (ctx) => withTwin(ctx, kvSuite));
    test('global flags, ETCDCTL_* variables, errors and exit codes', (ctx) => withTwin(ctx, globalSuite));
  });
}
});
