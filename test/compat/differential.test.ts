// Differential test: the same seeded operation sequence goes to a fresh etcd
// (the reference, Debian's 3.4 in CI) and a fresh keel; every response must
// match field by field — whole decoded objects including gRPC error code and
// message — except header cluster_id, member_id and raft_term.
//
//   COMPAT_SEQS=200 COMPAT_OPS=50   sequences × ops per sequence (defaults)
//   COMPAT_SEED_BASE=1              first seed; sequences use SEED_BASE..SEED_BASE+SEQS-1
//   COMPAT_SEED=1234                replay one seed only (prints every op with COMPAT_VERBOSE=1)
//   COMPAT_PARALLEL=6               sequences run at once (each with its own two processes)
//   COMPAT_LEASES=0                 no LeaseGrant/LeaseRevoke or lease IDs in puts (about a third of
//                                   sequences use them otherwise)
//   COMPAT_RESTARTS=0               never restart servers mid-sequence (about one sequence in six
//                                   restarts both, by SIGTERM or kill -9, then compares every key)
//   COMPAT_SUBJECT=etcd             compare etcd with etcd to validate the harness
import { after, test } from 'node:test';
import { EtcdClient, type RpcResult } from '../helpers/client';
import { canonicalResult, diff, render, show, type Difference } from '../helpers/compare';
import { OpGenerator, execute, type Op } from '../helpers/kv-ops';
import { assertTools, cleanupAll, skipUnlessTools, startEtcd, startSubject, subjectKind, subjectTools, type ServerProcess } from '../helpers/procs';

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${v}`);
  return n;
}

const replaySeed = process.env['COMPAT_SEED'];
const seqCount = envInt('COMPAT_SEQS', 200);
const opCount = envInt('COMPAT_OPS', 50);
const seedBase = envInt('COMPAT_SEED_BASE', 1);
const parallel = envInt('COMPAT_PARALLEL', 6);
const verbose = process.env['COMPAT_VERBOSE'] === '1';
const leases = process.env['COMPAT_LEASES'] !== '0';
const restarts = process.env['COMPAT_RESTARTS'] !== '0';
const seeds: number[] = replaySeed !== undefined && replaySeed !== ''
  ? [Number(replaySeed)]
  : Array.from({ length: seqCount }, (_, i) => seedBase + i);

const subject = subjectKind();
const tools = subjectTools();

/** etcd's election settles faster with short ticks; it changes nothing the KV API shows. */
const etcdFlags = ['--heartbeat-interval', '10', '--election-timeout', '100'];

interface Mismatch {
  seed: number;
  opIndex: number;
  op: Op;
  expected: unknown;
  actual: unknown;
  differences: Difference[];
  subjectExit: string | undefined;
}

const mismatches: Mismatch[] = [];
let opsCompared = 0;
/** What the reference answered, per op kind: "ok" or the error message. Shows the generator's coverage. */
const outcomes = new Map<string, Map<string, number>>();

function tally(op: Op, r: RpcResult<unknown>): void {
  let label = r.ok ? 'ok' : r.details;
  if (r.ok && op.kind === 'txn') label = (r.value as { succeeded: boolean }).succeeded ? 'ok succeeded' : 'ok failed';
  const m = outcomes.get(op.kind) ?? new Map<string, number>();
  m.set(label, (m.get(label) ?? 0) + 1);
  outcomes.set(op.kind, m);
}

after(cleanupAll);

function startReference(): Promise<ServerProcess> {
  return startEtcd({ extraArgs: etcdFlags });
}

function startSubjectServer(): Promise<ServerProcess> {
  return startSubject(subject === 'etcd' ? { extraArgs: etcdFlags } : {});
}

async function startPair(): Promise<[ServerProcess, ServerProcess]> {
  const [ref, sub] = await Promise.allSettled([startReference(), startSubjectServer()]);
  if (ref.status === 'fulfilled' && sub.status === 'fulfilled') return [ref.value, sub.value];
  if (ref.status === 'fulfilled') await ref.value.cleanup();
  if (sub.status === 'fulfilled') await sub.value.cleanup();
  const reason = ref.status === 'rejected' ? ref.reason : (sub as PromiseRejectedResult).reason;
  throw reason instanceof Error ? reason : new Error(String(reason));
}

/**
 * The reference itself misbehaved: it died (etcd 3.4 panics on some inputs),
 * did not come back after a restart, or its state changed across its own
 * restart (etcd re-applies a failed txn from its WAL). The sequence proves
 * nothing after that.
 */
interface ReferenceCrash {
  seed: number;
  opIndex: number;
  op: Op;
  subjectAnswer: unknown;
  log: string;
}

const referenceCrashes: ReferenceCrash[] = [];

async function exitedWithin(server: ServerProcess, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (server.exit === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return server.exit !== undefined;
}

/** One sequence on fresh servers; the first mismatch ends it (later state would diverge). */
/** After a restart: every key, compared, so lost or resurrected state shows at once. */
const everything = { key: Buffer.from([0]), range_end: Buffer.from([0]) };

/** A failed (re)start as a result, so it is compared and reported like any answer. */
function startFailure(e: unknown): RpcResult<unknown> {
  return { ok: false, code: -1, details: `restart failed: ${e instanceof Error ? e.message.slice(0, 2000) : String(e)}` };
}

async function readEverything(server: ServerProcess): Promise<RpcResult<unknown>> {
  const client = new EtcdClient(server.endpoint);
  try {
    return await client.range(everything);
  } finally {
    client.close();
  }
}

/** Every key before and after a restart of one server: {before, after}, each a Range result. */
async function restartAndRead(server: ServerProcess, kill9: boolean): Promise<RpcResult<unknown>> {
  const before = await readEverything(server);
  try {
    await server.restart({ kill9 });
  } catch (e) {
    return startFailure(e);
  }
  return { ok: true, value: { before, after: await readEverything(server) } };
}

/** The reference must look the same before and after its own restart; etcd sometimes does not (see README). */
function referenceChangedAcrossRestart(r: RpcResult<unknown>): Difference[] {
  if (!r.ok) return [];
  const { before, after } = r.value as { before: RpcResult<unknown>; after: RpcResult<unknown> };
  return diff(canonicalResult(before), canonicalResult(after));
}

async function runSequence(seed: number, log: (line: string) => void): Promise<Mismatch | ReferenceCrash | undefined> {
  const [ref, sub] = await startPair();
  let refClient = new EtcdClient(ref.endpoint);
  let subClient = new EtcdClient(sub.endpoint);
  try {
    const gen = new OpGenerator(seed, { leases, restarts });
    for (let i = 0; i < opCount; i++) {
      const op = gen.next();
      let expected: RpcResult<unknown>;
      let actual: RpcResult<unknown>;
      if (op.kind === 'restart') {
        refClient.close();
        subClient.close();
        [expected, actual] = await Promise.all([restartAndRead(ref, op.req.kill9), restartAndRead(sub, op.req.kill9)]);
        refClient = new EtcdClient(ref.endpoint);
        subClient = new EtcdClient(sub.endpoint);
        if (!expected.ok && expected.code === -1) {
          return { seed, opIndex: i, op, subjectAnswer: canonicalResult(actual), log: expected.details };
        }
        const changed = referenceChangedAcrossRestart(expected);
        if (changed.length > 0) {
          const what = changed.map((d) => `${d.path}: before=${render(d.expected)} after=${render(d.actual)}`).join('\n');
          return { seed, opIndex: i, op, subjectAnswer: canonicalResult(actual), log: `reference etcd changed its own state across the restart:\n${what}` };
        }
      } else {
        [expected, actual] = await Promise.all([execute(refClient, op), execute(subClient, op)]);
      }
      if (!expected.ok && expected.code === 14 && (await exitedWithin(ref, 1_000))) {
        return { seed, opIndex: i, op, subjectAnswer: canonicalResult(actual), log: ref.log.slice(-3000) };
      }
      gen.observe(op, expected);
      opsCompared++;
      const e = canonicalResult(expected);
      const a = canonicalResult(actual);
      tally(op, expected);
      if (verbose) {
        log(`#${i} ${op.kind} ${show(op.req)}`);
        log(`   etcd: ${render(e)}`);
        log(`   ${subject}: ${render(a)}`);
      }
      const differences = diff(e, a);
      if (differences.length > 0) {
        const exit = sub.exit;
        return {
          seed,
          opIndex: i,
          op,
          expected: e,
          actual: a,
          differences,
          subjectExit: exit === undefined ? undefined : `code=${String(exit.code)} signal=${String(exit.signal)}\n${sub.log.slice(-4000)}`,
        };
      }
    }
    return undefined;
  } finally {
    refClient.close();
    subClient.close();
    await Promise.all([ref.cleanup(), sub.cleanup()]);
  }
}

/** Settings a replay needs besides the seed. */
function replayEnv(): string {
  const names = ['COMPAT_LEASES', 'COMPAT_RESTARTS', 'COMPAT_SUBJECT', 'COMPAT_SUBJECT_BIN', 'KEEL_BIN', 'ETCD_BIN'];
  return names.map((n) => (process.env[n] !== undefined && process.env[n] !== '' ? `${n}=${process.env[n]} ` : '')).join('');
}

function describeMismatch(m: Mismatch): string {
  const lines = [
    `MISMATCH seed=${m.seed} op#${m.opIndex} (${m.op.kind}) etcd vs ${subject}`,
    `replay: ${replayEnv()}COMPAT_SEED=${m.seed} COMPAT_OPS=${m.opIndex + 1} COMPAT_VERBOSE=1 node --test dist/test/compat/differential.test.js`,
    `request: ${show(m.op.req)}`,
    `etcd:    ${render(m.expected)}`,
    `${subject}:${' '.repeat(Math.max(1, 8 - subject.length))}${render(m.actual)}`,
    'differences:',
    ...m.differences.map((d) => `  ${d.path}: etcd=${render(d.expected)} ${subject}=${render(d.actual)}`),
  ];
  if (m.subjectExit !== undefined) lines.push(`${subject} exited: ${m.subjectExit}`);
  return lines.join('\n');
}

/** Groups mismatches that look like the same bug: op kind + first differing path. */
function signature(m: Mismatch): string {
  const first = m.differences[0];
  const path = first?.path.replace(/\[\d+\]/g, '[]') ?? '?';
  const errorOf = (r: unknown): string => {
    const e = (r as { error?: { details?: string } }).error;
    return e === undefined ? 'ok' : (e.details ?? '?').slice(0, 70);
  };
  const e = errorOf(m.expected);
  const a = errorOf(m.actual);
  return e === a ? `${m.op.kind} ${path}` : `${m.op.kind} ${path} (etcd: ${e} | ${subject}: ${a})`;
}

const skip = skipUnlessTools(tools);

test(`differential: etcd vs ${subject}, ${seeds.length} sequences × ${opCount} ops`, { skip, timeout: 30 * 60_000 }, async (t) => {
  assertTools(tools);
  // One preflight start, so a subject that cannot start fails once, clearly, instead of in every sequence.
  const probe = await startSubjectServer();
  await probe.cleanup();
  const started = Date.now();
  await t.test('sequences', { concurrency: Math.max(1, parallel) }, async (tt) => {
    const runs: Promise<void>[] = [];
    for (const seed of seeds) {
      runs.push(tt.test(`seed ${seed}`, { timeout: 120_000 }, async (st) => {
        const m = await runSequence(seed, (line) => st.diagnostic(line));
        if (m !== undefined && 'log' in m) {
          referenceCrashes.push(m);
          st.diagnostic(`request: ${show(m.op.req)}`);
          st.diagnostic(`${subject} answered: ${render(m.subjectAnswer)}`);
          for (const line of m.log.split('\n').slice(-12)) st.diagnostic(`etcd: ${line}`);
          st.skip(`reference etcd crashed, failed to restart, or changed state across a restart at op#${m.opIndex} (${m.op.kind}); sequence inconclusive`);
          return;
        }
        if (m !== undefined) {
          mismatches.push(m);
          throw new Error(describeMismatch(m));
        }
      }));
    }
    await Promise.all(runs);
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  t.diagnostic(`${seeds.length} sequences, ${opsCompared} ops compared in ${seconds}s, ${mismatches.length} sequences mismatched`);
  if (referenceCrashes.length > 0) {
    t.diagnostic(`reference etcd misbehaved (crash / restart) in ${referenceCrashes.length} sequences (skipped): seeds ${referenceCrashes.map((c) => c.seed).join(', ')}`);
  }
  for (const [kind, m] of [...outcomes.entries()].sort()) {
    t.diagnostic(`  etcd answers to ${kind}: ${[...m.entries()].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${n} ${k}`).join('; ')}`);
  }
  if (mismatches.length > 0) {
    const groups = new Map<string, number[]>();
    for (const m of mismatches) groups.set(signature(m), [...(groups.get(signature(m)) ?? []), m.seed]);
    const summary = [...groups.entries()]
      .sort((x, y) => y[1].length - x[1].length)
      .map(([sig, s]) => `  ${sig}: ${s.length} seq (seeds ${s.sort((p, q) => p - q).slice(0, 8).join(', ')}${s.length > 8 ? ', …' : ''})`);
    t.diagnostic('mismatch groups (op kind + first differing field):');
    for (const line of summary) t.diagnostic(line);
    throw new Error(`${mismatches.length} of ${seeds.length} sequences differ from etcd; see the seed subtests above`);
  }
});
