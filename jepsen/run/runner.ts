// `keel-jepsen run`: start (or attach to) a cluster, run the workloads while
// the nemesis schedule injects faults, heal, let the cluster go quiet, do the
// final reads, probe every member's revision and HashKV, stop everything and
// check. Everything lands in the run directory.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '../../src/client';
import { runCheckers } from '../checkers';
import { combineVerdicts, type CheckResult } from '../checker/result';
import type { MemberState } from '../checker/divergence';
import { clientFor, Cluster, sleep, type Endpoint } from '../cluster/cluster';
import { LoopbackNetwork, NamespaceNetwork, netnsUnavailableReason, type Network } from '../cluster/net';
import { releasePorts } from '../cluster/ports';
import { convergeAttemptsMax } from '../limits';
import { NemesisExecutor } from '../nemesis/executor';
import { planSchedule } from '../nemesis/schedule';
import { Recorder } from '../recorder';
import { AppendWorkload } from '../workloads/append';
import type { RunState, Workload, WorkloadContext } from '../workloads/common';
import { KubeWorkload } from '../workloads/kube';
import { LeaseWorkload } from '../workloads/lease';
import { LockWorkload } from '../workloads/lock';
import { RegisterWorkload } from '../workloads/register';
import { TxnRevWorkload } from '../workloads/txn-rev';
import { WatchWorkload } from '../workloads/watch';
import type { RunOptions, WorkloadName } from './options';
import { summarize } from './summary';

const faketimeLib = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

function makeWorkload(name: WorkloadName): Workload {
  switch (name) {
    case 'register': return new RegisterWorkload();
    case 'append': return new AppendWorkload();
    case 'watch': return new WatchWorkload();
    case 'lease': return new LeaseWorkload();
    case 'lock': return new LockWorkload();
    case 'kube': return new KubeWorkload();
    case 'txn-rev': return new TxnRevWorkload();
  }
}

export interface RunOutcome {
  exitCode: 0 | 1 | 2;
  dir: string;
  results: CheckResult[];
  summary: string;
}

function serverBin(o: RunOptions, repoRoot: string): { bin: string; version: string } {
  if (o.target === 'keel') return { bin: path.join(repoRoot, 'bin', 'keel.js'), version: 'keel' };
  if (o.etcdVersion === '3.4') return { bin: '/usr/bin/etcd', version: 'etcd 3.4' };
  const bin = '/opt/etcd35/usr/bin/etcd';
  if (!fs.existsSync(bin)) spawnSync('bash', ['/work/shared/tools/etcd35.sh'], { stdio: 'inherit', timeout: 300_000 });
  if (!fs.existsSync(bin)) throw new Error(`${bin} missing: run /work/shared/tools/etcd35.sh`);
  return { bin, version: 'etcd 3.5' };
}

function chooseNetwork(o: RunOptions): Network {
  const needs = o.nemeses.filter((n) => n === 'partition' || n === 'netem');
  const why = o.net === 'loopback' ? 'loopback requested' : netnsUnavailableReason();
  if (why === undefined) return NamespaceNetwork.create();
  if (o.net === 'netns' || needs.length > 0) throw new Error(`${needs.join(', ') || 'netns'} needs network namespaces: ${why}`);
  return new LoopbackNetwork();
}

function clockEnv(o: RunOptions, dir: string): { clockDir: string | undefined; env: (name: string) => Record<string, string> } {
  if (!o.nemeses.includes('clock') || o.target !== 'keel' || !fs.existsSync(faketimeLib)) return { clockDir: undefined, env: () => ({}) };
  const clockDir = path.join(dir, 'clock');
  fs.mkdirSync(clockDir, { recursive: true });
  return {
    clockDir,
    env: (name) => {
      const file = path.join(clockDir, name);
      fs.writeFileSync(file, '+0\n');
      // Only the wall clock (Date) is skewed: the monotonic clock never jumps on real machines, and a pause already covers stalls.
      return { LD_PRELOAD: faketimeLib, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
    },
  };
}

export async function runJepsen(o: RunOptions, repoRoot: string, log: (m: string) => void): Promise<RunOutcome> {
  const dir = o.out ?? path.join(repoRoot, 'jepsen', 'runs', String(o.seed));
  fs.mkdirSync(dir, { recursive: true });
  const rec = new Recorder(path.join(dir, 'history.jsonl'));
  const state: RunState = { maxRevision: 0, compactRevision: 0 };
  const own = o.endpoints.length === 0;
  const net = own ? chooseNetwork(o) : new LoopbackNetwork();
  const { bin, version } = own ? serverBin(o, repoRoot) : { bin: '', version: 'external' };
  const clock = clockEnv(o, dir);
  const meta: Record<string, unknown> = { ...o, target: own ? o.target : 'endpoints', version, net: net.kind, started: new Date().toISOString() };
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
  let executor: NemesisExecutor | undefined;
  const cluster = new Cluster({
    dir, target: o.target, bin, members: o.members, net, baseEnv: clock.env,
    onCrash: (name, exit, restarted, tail) => {
      const armed = cluster.byName(name)?.env['KEEL_FAILPOINTS'] !== undefined;
      const t = rec.nowNs();
      executor?.log({ startNs: t, endNs: t, kind: armed ? 'failpoint-crash' : 'crash', detail: { member: name, ...exit, restarted, logTail: armed ? '' : tail } });
      log(`${armed ? 'failpoint crash' : 'CRASH'}: ${name} exited (code ${String(exit.code)}, signal ${String(exit.signal)})${restarted ? ', restarting' : ''}`);
    },
  });
  const killAll = (): void => {
    for (const m of cluster.all) if (m.pid !== undefined && m.running) try { process.kill(m.pid, 'SIGKILL'); } catch { /* gone */ }
    net.teardown();
  };
  process.once('exit', killAll);
  const onSignal = (sig: NodeJS.Signals): void => {
    killAll();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (own) {
      log(`starting ${o.members} ${version} members (${net.kind}) in ${dir}`);
      await cluster.start();
    }
    const endpoints = (): Endpoint[] => (own ? cluster.endpoints : o.endpoints.map((e, i) => ({ name: `e${i + 1}`, endpoint: e })));
    executor = new NemesisExecutor(cluster, net, rec, state, dir, clock.clockDir);
    const windows = planSchedule(o.seed, own ? o.nemeses : [], o.timeLimitSeconds * 1000);
    fs.writeFileSync(path.join(dir, 'nemesis-plan.json'), JSON.stringify(windows, null, 1));
    const stopAtNs = rec.nowNs() + o.timeLimitSeconds * 1e9;
    const workloadStartNs = rec.nowNs();
    const stopped = (): boolean => rec.nowNs() >= stopAtNs;
    const workloads = o.workloads.map(makeWorkload);
    const ctxs: WorkloadContext[] = workloads.map((w, i) => ({
      rec, endpoints, state, opTimeoutMs: o.opTimeoutMs, concurrency: o.concurrency, rate: o.rate, stopped, seed: o.seed * 64 + i, log,
    }));
    log(`running ${o.workloads.join(',')} for ${o.timeLimitSeconds} s, nemesis ${o.nemeses.join(',') || 'none'} (${windows.length} windows)`);
    const nem = executor.run(windows, stopped);
    await Promise.all(workloads.map((w, i) => w.run(ctxs[i]!)));
    const workloadSeconds = (rec.nowNs() - workloadStartNs) / 1e9;
    await nem;
    await executor.healAll();
    if (own) {
      for (const m of cluster.members) if (!m.running) cluster.restart(m);
      const healthy = await cluster.waitHealthy(60_000);
      log(`healed; cluster ${healthy ? 'healthy' : 'NOT healthy after 60 s'}; quiet ${o.quietSeconds} s`);
    }
    await sleep(o.quietSeconds * 1000);
    const finalCtx = (c: WorkloadContext): WorkloadContext => ({ ...c, stopped: () => false });
    await Promise.all(workloads.map((w, i) => w.final(finalCtx(ctxs[i]!))));
    await probeMembers(rec, endpoints());
    rec.close();
    if (own) await cluster.stopAll();
    const results = runCheckers(rec.ops, o.workloads);
    const verdict = combineVerdicts(results);
    fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ valid: verdict, results }, null, 1));
    const summary = summarize({ history: rec.ops, results, faults: executor.records, meta, workloadSeconds });
    fs.writeFileSync(path.join(dir, 'summary.txt'), summary);
    return { exitCode: verdict === true ? 0 : verdict === false ? 1 : 2, dir, results, summary };
  } finally {
    await cluster.stopAll();
    net.teardown();
    releasePorts();
    process.removeListener('exit', killAll);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Waits for every member's applied index to agree, then records revision and HashKV of each (op f='member-state'). */
async function probeMembers(rec: Recorder, endpoints: Endpoint[]): Promise<void> {
  const inv = rec.invoke(rec.newProcess(), 'cluster', 'member-state', {});
  let states: MemberState[] = [];
  let converged = false;
  const deadline = Date.now() + 30_000;
  for (let attempt = 0; attempt < convergeAttemptsMax && !converged && Date.now() < deadline; attempt++) {
    states = (await Promise.all(endpoints.map((e) => probeOne(e)))).filter((s): s is MemberState => s !== undefined);
    converged = states.length === endpoints.length && new Set(states.map((s) => s.appliedIndex)).size === 1;
    if (!converged) await sleep(500);
  }
  rec.complete(inv, 'ok', { value: states, extra: { converged } });
}

async function probeOne(e: Endpoint): Promise<MemberState | undefined> {
  const c: Client = clientFor(e.endpoint);
  try {
    const st = await c.status({ timeoutMs: 2000 });
    const h = await c.hashKV(0, { timeoutMs: 5000 });
    const hr = (h as unknown as { hash_revision?: string }).hash_revision;
    return {
      name: e.name,
      revision: Number(st.header?.revision ?? 0),
      appliedIndex: Number(st.raftAppliedIndex),
      hash: Number(h.hash),
      compactRevision: Number(h.compact_revision),
      hashRevision: Number(hr ?? h.header?.revision ?? 0),
    };
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

