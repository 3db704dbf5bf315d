// Debian's etcdctl (ETCDCTL_API=3) against a fresh etcd and a fresh keel
// driven through the same commands, so both are always in the same state.
// stdout, stderr and exit code must be identical after normalizing only what
// is an ID or a clock by design (see normalizeCtl: cluster_id, member_id,
// raft_term, log timestamps, etcdctl's random client UUID, the endpoint).
//
//   COMPAT_SUBJECT=etcd   compare two etcds (validates the harness)
//   COMPAT_VERBOSE=1      print etcd's output of every command
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { etcdctl, normalizeCtl, type CtlResult } from '../helpers/etcdctl';
import { assertTools, cleanupAll, skipUnlessTools, startEtcd, startSubject, subjectKind, subjectTools, type ServerProcess } from '../helpers/procs';

interface Step {
  /** May contain ${lease}: the lease ID (hex) this server granted in an earlier step. */
  args: string[];
  stdin?: string;
  /** Remember the lease ID this server prints ("lease <hex> granted ..."). */
  captureLease?: boolean;
}

/**
 * Per server: the lease it granted. Lease IDs are chosen by the server, so
 * they are IDs by design; outputs show them as <lease> (hex and decimal).
 */
interface ServerVars {
  endpoint: string;
  leaseHex?: string;
}

function expand(args: readonly string[], vars: ServerVars): string[] {
  return args.map((a) => a.split('${lease}').join(vars.leaseHex ?? 'no-lease-granted'));
}

function normalizeFor(text: string, vars: ServerVars): string {
  let out = normalizeCtl(text, vars.endpoint);
  if (vars.leaseHex !== undefined) {
    const dec = BigInt(`0x${vars.leaseHex}`).toString();
    out = out.split(vars.leaseHex).join('<lease>').split(dec).join('<lease>');
  }
  return out;
}

async function runOn(vars: ServerVars, step: Step): Promise<CtlResult> {
  const r = await etcdctl(vars.endpoint, expand(step.args, vars), step.stdin !== undefined ? { stdin: step.stdin } : {});
  if (step.captureLease === true) {
    const m = /lease ([0-9a-f]+) granted/.exec(r.stdout);
    if (m?.[1] !== undefined) vars.leaseHex = m[1];
  }
  return { ...r, stdout: normalizeFor(r.stdout, vars), stderr: normalizeFor(r.stderr, vars) };
}

const s = (...args: string[]): Step => ({ args });
const txn = (script: string, ...flags: string[]): Step => ({ args: ['txn', '-i', ...flags], stdin: script });

const sortTargets = ['CREATE', 'KEY', 'MODIFY', 'VALUE', 'VERSION'];
const orders = ['ASCEND', 'DESCEND'];

/** Revisions below are those of a fresh store: puts start at revision 2. */
const steps: Step[] = [
  // put
  s('put', 'foo', 'bar'),
  s('put', 'foo1', 'bar 1', '-w', 'json'),
  s('put', 'foo2', 'bar2', '-w', 'fields'),
  s('put', 'foo3', 'b', '-w', 'simple'),
  s('put', '--prev-kv', 'foo', 'baz'),
  s('put', '--prev-kv', 'foo', 'baz2', '-w', 'json'),
  s('put', '--prev-kv', 'foo3', 'c', '-w', 'fields'),
  s('put', '--prev-kv', 'fresh', 'x'),
  s('put', 'zoo', 'val'),
  s('put', 'a b', 'with space'),
  s('put', '/dir/x', '1'),
  s('put', '/dir/y', '2'),
  s('put', 'empty', ''),
  { args: ['put', 'fromstdin'], stdin: 'value from stdin\n' },
  s('put', '--ignore-value', 'foo2'),
  s('put', '--ignore-value', 'nokey'),
  s('put', 'foo4', 'v', '--lease=1234'),
  s('put', 'foo4', 'v', '--lease=1234', '-w', 'json'),
  s('put'),
  // get: forms and options
  s('get', 'foo'),
  s('get', 'nokey'),
  s('get', 'nokey', '-w', 'json'),
  s('get', 'foo', '--prefix'),
  s('get', 'foo', 'foo2'),
  s('get', '--from-key', 'foo'),
  s('get', '--from-key', ''),
  s('get', '--from-key', '', '--keys-only'),
  s('get', 'foo', '--prefix', '--limit', '1'),
  s('get', 'foo', '--prefix', '--limit', '2', '-w', 'json'),
  s('get', 'foo', '--prefix', '--limit', '2', '-w', 'fields'),
  s('get', 'foo', '--rev', '2'),
  s('get', 'foo', '--rev', '3', '-w', 'fields'),
  s('get', 'foo', '--prefix', '--rev', '4', '-w', 'json'),
  s('get', 'foo', '--prefix', '--keys-only'),
  s('get', 'foo', '--prefix', '--keys-only', '-w', 'json'),
  s('get', 'foo', '--prefix', '--print-value-only'),
  s('get', 'foo', '--prefix', '--keys-only', '-w', 'fields'),
  s('get', 'foo', '--prefix', '--limit', '1', '--keys-only', '--print-value-only'),
  s('get', 'foo', '--prefix', '-w', 'json'),
  s('get', 'foo', '--prefix', '-w', 'fields'),
  s('get', 'foo', '--prefix', '-w', 'simple'),
  s('get', 'foo', '--prefix', '-w', 'table'),
  s('get', '/dir', '--prefix', '--consistency=s'),
  s('get', '--from-key', '', '--sort-by=MODIFY', '--order=DESCEND'),
  ...sortTargets.flatMap((target) => orders.map((order) => s('get', 'foo', '--prefix', `--sort-by=${target}`, `--order=${order}`))),
  s('get', '--from-key', 'a', '--sort-by=VERSION', '--order=DESCEND', '--limit', '3', '-w', 'json'),
  s('get', 'foo', '--rev', '999'),
  s('get', '--prefix', ''),
  s('get', 'foo', '--hex'),
  s('get', 'foo', '--prefix', '--hex', '-w', 'fields'),
  s('get', 'foo', '--prefix', '--limit', '2', '--rev', '8', '--sort-by=VALUE', '--order=DESCEND'),
  s('get', 'foo', '--prefix', '--from-key'),
  s('get', 'foo', '--sort-by=NOPE'),
  s('get'),
  // txn from stdin
  txn('value("foo") = "baz2"\n\nput foo qux\nget foo1\n\nget nokey\n\n'),
  txn('value("foo") = "nope"\n\nput foo qux\n\nget foo --prefix\ndel foo3\n\n'),
  txn('version("foo") = "3"\nmod("foo1") < "100"\n\nput txnkey "a b"\n\nput other 1\n\n', '-w', 'json'),
  txn('create("foo2") > "0"\nvalue("foo1") != "x"\n\ndel foo4\nget foo --prefix --limit=2\n\n\n', '-w', 'fields'),
  txn('\nput t1 1\nput t2 2\n\n\n'),
  txn('\nput dup 1\nput dup 2\n\n\n'),
  txn('mod("nokey") = "0"\n\nput created 1\n\n\n', '-w', 'json'),
  // (no lease("k") compare: etcdctl 3.4 itself panics parsing it)
  txn('\nput t1 1\n\n\n', '-w', 'simple'),
  txn('value("foo") = "qux"\n\nget foo\nput foo2 x\ndel foo2\n\n\n'),
  txn('bad compare\n\n\n\n'),
  // leases (IDs chosen by the server: normalized)
  { args: ['lease', 'grant', '600'], captureLease: true },
  s('put', 'lk', 'lv', '--lease=${lease}'),
  s('put', 'lk2', 'lv2', '--lease=${lease}', '-w', 'json'),
  s('get', 'lk', '-w', 'json'),
  s('get', 'lk', '-w', 'fields'),
  s('put', 'lk', 'lv3', '--ignore-lease'),
  s('put', 'lk', '--ignore-value', '--ignore-lease', '-w', 'json'),
  s('lease', 'list'),
  s('lease', 'revoke', '${lease}'),
  s('get', 'lk', '--prefix', '-w', 'json'),
  s('lease', 'revoke', '${lease}'),
  s('lease', 'list'),
  // delete
  s('del', 'foo1'),
  s('del', 'nokey'),
  s('del', '--prev-kv', 'foo2'),
  s('del', '--prev-kv', '--prefix', '/dir', '-w', 'json'),
  s('del', '--prefix', 'fo', '--prev-kv'),
  s('get', '--from-key', '', '-w', 'json'),
  // compaction
  s('put', 'c1', 'v1'),
  s('put', 'c1', 'v2'),
  s('put', 'c1', 'v3'),
  s('put', '0key', 'z'),
  s('get', 'foo', '--rev', '5'),
  s('get', '--from-key', '', '--rev', '10', '-w', 'json'),
  s('compaction', '10'),
  s('get', 'foo', '--rev', '5'),
  s('get', 'foo', '--rev', '5', '-w', 'json'),
  s('get', 'foo', '--rev', '9', '-w', 'fields'),
  s('get', '--from-key', '', '--rev', '10', '-w', 'json'),
  s('get', 'c1', '--rev', '33'), // c1 is written at 32, 33, 34: adding writes above shifts these revisions
  s('compaction', '8'),
  s('compaction', '--physical', '12'),
  s('compaction', '9999'),
  s('get', 'c1', '-w', 'fields'),
  // delete from key, then an empty store
  s('del', '--from-key', 'a', '--prev-kv'),
  s('del', '--from-key', '', '-w', 'json'),
  s('get', '--from-key', '', '-w', 'json'),
  s('get', '--from-key', '', '-w', 'fields'),
];

const subject = subjectKind();
const verbose = process.env['COMPAT_VERBOSE'] === '1';
const tools = [...subjectTools(), 'etcdctl' as const];

after(cleanupAll);

function showResult(r: CtlResult): string {
  return `exit=${String(r.code)}${r.signal !== null ? ` signal=${r.signal}` : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

test(`etcdctl: etcd vs ${subject}, ${steps.length} commands`, { skip: skipUnlessTools(tools), timeout: 10 * 60_000 }, async (t) => {
  assertTools(tools);
  const etcdFlags = ['--heartbeat-interval', '10', '--election-timeout', '100'];
  let ref: ServerProcess | undefined;
  let sub: ServerProcess | undefined;
  try {
    [ref, sub] = await Promise.all([startEtcd({ extraArgs: etcdFlags }), startSubject(subject === 'etcd' ? { extraArgs: etcdFlags } : {})]);
    const refVars: ServerVars = { endpoint: ref.endpoint };
    const subVars: ServerVars = { endpoint: sub.endpoint };
    const subProc = sub;
    let differing = 0;
    for (const [i, step] of steps.entries()) {
      const label = `#${i} etcdctl ${step.args.map((a) => (a === '' || /\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}${step.stdin !== undefined ? ` <<< ${JSON.stringify(step.stdin)}` : ''}`;
      await t.test(label, async (tt) => {
        const e = await runOn(refVars, step);
        const a = await runOn(subVars, step);
        if (verbose) for (const line of showResult(e).split('\n')) tt.diagnostic(line);
        try {
          assert.deepEqual(a, e);
        } catch {
          differing++;
          const exited = subProc.exit !== undefined ? `\n${subject} has exited: ${JSON.stringify(subProc.exit)}\n${subProc.log.slice(-3000)}` : '';
          throw new Error(`etcdctl output differs\n=== etcd ===\n${showResult(e)}\n=== ${subject} ===\n${showResult(a)}${exited}`);
        }
      });
    }
    t.diagnostic(`${steps.length} etcdctl commands, ${differing} differ`);
  } finally {
    await Promise.all([ref?.cleanup(), sub?.cleanup()]);
  }
});
