// bench:compare — the same workloads against a 3-member keel cluster and a
// 3-member etcd cluster (3.5 when installed, else Debian's 3.4; or both), all
// on loopback, in one run, alternating, then a markdown section appended to
// bench/RESULTS.md: keel/etcd ratios of requests/s, p50 and p99, server CPU
// per request (summed over the members), and each side's peak RSS.
//
//   npm run bench:compare                       # ~5–6 minutes: 2 rounds + Go loadgen cross-check
//   npm run bench:compare -- --quick            # ~2 minutes: 1 round, shorter runs
//   npm run bench:compare -- --profile          # keel's leader under --cpu-prof, put 100 clients: "where the time goes"
//   node dist/bench/compare-cluster.js --summarize-profile FILE.cpuprofile [--keel-root DIR]
//   flags: --rounds N --budget S --etcd 3.5|3.4|3.4,3.5 --no-loadgen --loadgen PATH --keel-root DIR
//          --no-append --results FILE --wait-idle S --profile-seconds S --note TEXT
//
// Members are started as an operator would (bench/procs.ts), all at once. The
// load is bench/load.ts in its own process, with the three endpoints leader
// first: its connections go round-robin over them as etcd's benchmark tool
// does. txn-put is load.ts's txn-put with --random-keys --txn-guard:
// If(mod_revision(k) > -1) Then(put k v) on a random key, exactly the Go
// loadgen's txn-put. The Go load generator (/work/shared/tools/loadgen, etcd's
// clientv3) is the cross-check that the Node client is not the limit. Every
// run is bounded by count and by time (--duration-max, plus a kill timer).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '../src/client';
import {
  clusterTable, detailTable, kvWorkloads, nodeLoadArgs, prefillArgs, rangeKeySpace, runRounds, valSize, workload,
  loadgenArgs, type Results, type RoundsOutcome, type Workload,
} from './compare';
import { cli as loadCli, type Report } from './load';
import {
  cleanup, cpuMark, cpuSeconds, etcdBins, etcdSpec, exitedBlocks, installSignalHandlers, keelSpec, lastJsonLine, leaderNow,
  makeTempDir, notMeasured, otherCores, repoRoot, runChild, runMain, settleLeader, sleep, startCluster, startTargets, state, statusKiB,
  stopPid, threadCpu, waitIdle, type Cluster, type ClusterSpec, type Member, type Unavailable,
} from './procs';
import { renderProfileSummary, summarizeProfile } from './profile';
import { appendSection, details, fenced, fmtInt, fmtMs, machineLine, otherWorkLine, parseFlags, shellQuote, stamp } from './stats';

const rssSampleIntervalMs = 1_000;
const idleMeasureMs = 3_000;
const leaderMovesMax = 40;

function log(s: string): void {
  process.stderr.write(`compare-cluster: ${s}\n`);
}

interface Config {
  mode: 'compare' | 'profile' | 'summarize';
  quick: boolean;
  rounds: number;
  budgetSeconds: number;
  durationMaxS: number;
  loadgen: string | undefined;
  etcds: string[];
  keelRoot: string;
  append: boolean;
  resultsFile: string;
  waitIdleSeconds: number;
  profileSeconds: number;
  profileFile: string | undefined;
  profileWorkload: string;
  note: string | undefined;
}

const usage = `usage: compare-cluster [--quick] [--rounds N] [--budget S] [--etcd 3.5|3.4|3.4,3.5] [--no-loadgen]
       [--loadgen PATH] [--keel-root DIR] [--no-append] [--results FILE] [--wait-idle S] [--note TEXT]
       compare-cluster --profile [--profile-seconds S] [--profile-workload put-100|put-1|range-l-100|range-s-100|txn-put-100]
                       [--keel-root DIR] [--no-append]
       compare-cluster --summarize-profile FILE.cpuprofile [--keel-root DIR]`;

function parseConfig(argv: string[]): Config {
  const f = parseFlags(argv, {
    '--quick': 'bool', '--rounds': 'int', '--budget': 'int', '--etcd': 'str', '--no-loadgen': 'bool', '--loadgen': 'str', '--keel-root': 'str',
    '--no-append': 'bool', '--results': 'str', '--wait-idle': 'int', '--profile': 'bool', '--profile-seconds': 'int', '--profile-workload': 'str',
    '--summarize-profile': 'str', '--note': 'str',
  }, usage);
  const quick = f.has('--quick');
  const str = (k: string): string | undefined => f.get(k);
  const num = (k: string, d: number): number => Number(f.get(k) ?? d);
  const c: Config = {
    mode: f.has('--summarize-profile') ? 'summarize' : f.has('--profile') ? 'profile' : 'compare', quick, rounds: num('--rounds', quick ? 1 : 2),
    budgetSeconds: num('--budget', quick ? 80 : 250), durationMaxS: quick ? 6 : 12,
    loadgen: f.has('--no-loadgen') ? undefined : path.resolve(str('--loadgen') ?? '/tmp/loadgen'),
    etcds: (str('--etcd') ?? '').split(',').map((x) => x.trim()).filter((x) => x !== ''), keelRoot: path.resolve(str('--keel-root') ?? repoRoot),
    append: !f.has('--no-append'), resultsFile: path.resolve(str('--results') ?? path.join(repoRoot, 'bench', 'RESULTS.md')),
    waitIdleSeconds: num('--wait-idle', 0), profileSeconds: num('--profile-seconds', 20), profileWorkload: str('--profile-workload') ?? 'put-100',
    profileFile: f.has('--summarize-profile') ? path.resolve(str('--summarize-profile') as string) : undefined, note: str('--note'),
  };
  for (const e of c.etcds) if (etcdBins[e] === undefined) throw new Error(`--etcd: unknown version ${e} (3.4 or 3.5)`);
  if (c.etcds.length === 0) c.etcds = fs.existsSync(etcdBins['3.5'] as string) ? ['3.5'] : ['3.4'];
  if (c.loadgen !== undefined && !fs.existsSync(c.loadgen)) {
    log(`${c.loadgen} not found: no Go cross-check (build it: bash /work/shared/tools/loadgen/build.sh ${c.loadgen})`);
    c.loadgen = undefined;
  }
  if (!workloads(false).some((w) => w.id === c.profileWorkload)) throw new Error(`--profile-workload: unknown workload ${c.profileWorkload}`);
  if (!fs.existsSync(path.join(c.keelRoot, 'bin', 'keel.js'))) throw new Error(`${c.keelRoot}/bin/keel.js not found`);
  return c;
}

function workloads(quick: boolean): Workload[] {
  const scale = quick ? 0.5 : 1;
  const puts = quick ? 60 : 120;
  return [
    ...kvWorkloads(scale),
    workload('txn-put-100', 'txn-put, 100 clients / 10 conns', ['txn-put', '--random-keys', '--txn-guard'], 'txn-put', 100, 10, Math.round(20_000 * scale)),
    // 1,000 watchers on one key over 10 streams, puts paced at 20/s: the cells are put→event latency over every delivery (rps = events delivered per second).
    {
      id: 'watch-1000', title: 'watch: put→event, 1,000 watchers on one key, 20 puts/s (rps = events/s)', loadgenOp: undefined,
      clients: 1, conns: 10, total: puts * 1000,
      loadArgs: ['watch', '--conns', '10', '--streams', '10', '--watch-per-stream', '100', '--watched-key-total', '1',
        '--put-total', String(puts), '--put-rate', '20', '--val-size', String(valSize)],
    },
  ];
}

/** Writes the keys loadgen's range ops read ("%08d" of 0..999, values of 256 'v's), as loadgen's own seed would, but 20 at a time. */
async function seedLoadgenKeys(endpoints: string): Promise<void> {
  const client = new Client({ endpoints: endpoints.split(',') });
  const value = Buffer.from('v'.repeat(valSize));
  let next = 0;
  let failures = 0;
  let lastError = '';
  const lane = async (): Promise<void> => {
    while (next < rangeKeySpace && failures <= 20) {
      await client.put({ key: Buffer.from(String(next++).padStart(8, '0')), value }, { timeoutMs: 60_000 })
        .catch((e: unknown) => { failures++; lastError = String(e); });
    }
  };
  await Promise.all(Array.from({ length: 20 }, lane));
  client.close();
  if (failures > 0) throw new Error(`loadgen seed: ${failures} puts failed (${lastError})`);
}

const loadgenSeedText = 'put "%08d" of 0..999 = 256 × "v" (20 in flight, from compare-cluster), as loadgen\'s own range seed writes them';

// ---- the comparison ------------------------------------------------------------------

/** Samples each cluster's summed VmRSS every second until stop(), which reads VmHWM (the kernel's own peak) and says both. */
function rssSampler(clusters: Cluster[]): { stop(): string } {
  const peak = new Map<string, number>();
  const sample = (): void => { for (const c of clusters) peak.set(c.name, Math.max(peak.get(c.name) ?? 0, sumKiB(c, 'VmRSS'))); };
  const atStart = new Map(clusters.map((c) => [c.name, sumKiB(c, 'VmRSS')]));
  sample();
  const timer = setInterval(sample, rssSampleIntervalMs);
  timer.unref();
  const each = (f: (c: Cluster) => number): string => clusters.map((c) => `${c.name} ${fmtInt(f(c) / 1024)} MiB`).join(', ');
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return `- Peak RSS, sum of the 3 members' VmHWM: ${each((c) => sumKiB(c, 'VmHWM'))} (highest sampled sum of VmRSS: ${each((c) => peak.get(c.name) ?? NaN)}; `
        + `right after start-up: ${each((c) => atStart.get(c.name) ?? NaN)})`;
    },
  };
}

const sumKiB = (c: Cluster, field: string): number => c.members.reduce((s, m) => s + statusKiB(m.pid, field), 0);

async function idleCpuPercent(c: Cluster): Promise<number> {
  const before = c.members.reduce((s, m) => s + cpuSeconds(m.pid), 0);
  await sleep(idleMeasureMs);
  return (100 * (c.members.reduce((s, m) => s + cpuSeconds(m.pid), 0) - before)) / (idleMeasureMs / 1000);
}

/** Error-level lines the members logged (first few), so crashes and odd states show in the report. */
function errorLines(c: Cluster): string[] {
  const out: string[] = [];
  for (const m of c.members) {
    let text = '';
    try { text = fs.readFileSync(m.logFile, 'utf8'); } catch { continue; }
    // JSON loggers (keel, etcd 3.5) by level; capnslog (etcd 3.4) by its E/C letter; Go and Node crashes by their banners.
    const lines = text.split('\n').filter((l) => /"level":"(error|dpanic|panic|fatal)"|^\S+ \S+ [EC] \| |^panic:|^fatal error:|Uncaught|AssertionError/.test(l));
    for (const l of lines.slice(0, 5)) out.push(`${m.name}: ${l.slice(0, 300)}`);
    if (lines.length > 5) out.push(`${m.name}: … ${lines.length - 5} more`);
  }
  return out;
}

interface CompareInput extends RoundsOutcome {
  cfg: Config; startedAt: Date; clusters: Cluster[]; unavailable: Unavailable[]; ws: Workload[];
  /** The lines about the run (machine load, leaders, RSS, idle CPU, rounds) and what went wrong (members that exited, error log lines). */
  facts: string[]; trouble: string[];
}

async function compareMain(cfg: Config): Promise<void> {
  if (cfg.waitIdleSeconds > 0) await waitIdle(cfg.waitIdleSeconds, log);
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const ws = workloads(cfg.quick);
  const { targets: clusters, unavailable } = await startTargets([['keel', () => keelSpec(3, cfg.keelRoot)], ...cfg.etcds.map((v): [string, () => ClusterSpec] => [`etcd-${v}`, () => etcdSpec(3, v)])], new Set(), log);
  if (!clusters.some((c) => c.name === 'keel') || clusters.length < 2) throw new Error(`need keel and an etcd: ${unavailable.map((u) => `${u.name}: ${u.reason}`).join('; ')}`);
  const allPids = clusters.flatMap((c) => c.members.map((m) => m.pid));
  const rss = rssSampler(clusters);

  // Untimed setup, both sides at once: the range key spaces of load.ts and of loadgen.
  const setupStart = Date.now();
  await Promise.all(clusters.map(async (c) => {
    await runChild(process.execPath, prefillArgs(c.endpoints, 3, 60), 90_000).catch((e: unknown) => log(`prefill ${c.name}: ${String(e)}`));
    if (cfg.loadgen !== undefined) await seedLoadgenKeys(c.endpoints).catch((e: unknown) => log(`loadgen seed ${c.name}: ${String(e)}`));
  }));
  log(`setup (prefill${cfg.loadgen !== undefined ? ' and loadgen seed' : ''}) took ${((Date.now() - setupStart) / 1000).toFixed(1)} s`);
  const idle = await Promise.all(clusters.map(idleCpuPercent));

  const measureStart = cpuMark(allPids);
  const outcome = await runRounds({
    clusters, ws, rounds: cfg.rounds, budgetSeconds: cfg.budgetSeconds, durationMaxS: cfg.durationMaxS, overheadS: 1.5, loadgen: cfg.loadgen,
    // Sized from the Node client's best rate on this side, so it should end within its cap (loadgen is usually the faster client).
    loadgenTotal: (w, rps, capS) => {
      const best = Math.max(...rps.filter(Number.isFinite));
      return Number.isFinite(best) ? Math.min(w.total, Math.max(300, Math.round(best * capS))) : Math.min(w.total, 1000);
    },
    loadgenTimeoutS: (_w, capS) => 2 * capS + 15,
  }, log);
  if (state.interrupted) return;
  const otherDuring = otherCores(measureStart, cpuMark(allPids));
  const each = (f: (c: Cluster, i: number) => string, sep = ', '): string => clusters.map(f).join(sep);
  const leaders = await Promise.all(clusters.map(leaderNow));
  const facts = [
    otherWorkLine(otherDuring, loadBefore, os.loadavg(), 'shared machine: requests/s and latencies are depressed by an unknown amount, more for '
      + 'single-threaded processes (keel members, the Node client) than for multi-threaded Go ones; server CPU per request is the fairer comparison'),
    `- Servers: ${each((c) => `${c.name} = ${c.version}`, '; ')}`, ...notMeasured(unavailable),
    `- Leader at start: ${each((c) => `${c.name} ${c.leader} (term ${c.term})`)}; at the end: ${each((c, i) => `${c.name}: ${leaders[i] ?? '?'}`, ' — ')}`,
    rss.stop(),
    `- Idle cluster CPU (3 s after setup, 3 members): ${each((c, i) => `${c.name} ${(idle[i] ?? NaN).toFixed(1)} % of a core`)} — the side not under load keeps costing this while the other is measured`,
    `- Rounds: ${cfg.rounds}; each Node run capped by --duration-max, its share of a ${cfg.budgetSeconds} s budget (caps used: `
    + `${outcome.caps.length > 0 ? `${Math.min(...outcome.caps)}–${Math.max(...outcome.caps)}` : '–'} s, at most ${cfg.durationMaxS}); `
    + `took ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s in all${outcome.skippedRuns > 0 ? `; ${outcome.skippedRuns} runs skipped (time budget)` : ''}`,
  ];
  const trouble = [...exitedBlocks(clusters), ...clusters.flatMap((c) => {
    const errs = errorLines(c);
    return errs.length === 0 ? [] : ['', ...details(`${c.name}: error lines in the members' logs (${errs.length})`, fenced(errs.join('\n')))];
  })];
  await cleanup();
  const section = renderCompare({ ...outcome, cfg, startedAt, clusters, unavailable, ws, facts, trouble });
  process.stdout.write(`${section}\n`);
  if (cfg.append) appendSection(cfg.resultsFile, section, log);
}

const relative = (args: string[]): string => args.map((a) => (path.isAbsolute(a) ? path.relative(repoRoot, a) : a)).join(' ');

function resultTables(results: Results, ws: Workload[], names: string[], summaryText: string): string[] {
  return [clusterTable(results, ws, names), '', ...details(summaryText, [detailTable(results, ws, names, 3)])];
}

function renderCompare(s: CompareInput): string {
  const names = s.clusters.map((c) => c.name);
  const args = process.argv.slice(2).map(shellQuote);
  const out: string[] = [`## ${stamp(s.startedAt)} UTC — bench:compare${s.cfg.quick ? ' --quick' : ''} (3-member clusters)`, ''];
  out.push('Three members per side on loopback, started together with the same flags (below); keel and etcd clusters both up '
    + 'for the whole run, taking turns (order rotated per workload and round). Cells: **requests/s / p50 ms / p99 ms**, '
    + 'median over rounds. Ratios are keel ÷ etcd: above 1.00× keel does more requests/s; below 1.00× keel has the lower '
    + 'latency. Server CPU µs/req is user + system CPU of all three members (from /proc) per completed request: '
    + 'below 1.00× keel is cheaper. Clients go to the members round-robin per connection, leader first (so the '
    + 'one-client put goes to the leader; with 10 connections 4 go to the leader and 3 to each follower). '
    + '8-byte keys, 256-byte values; puts and txn-puts over 10,000 keys; ranges read one key of 1,000 written beforehand. '
    + 'txn-put is If(mod_revision(k) > -1) Then(put k v), as loadgen does it. ⏱ = a run hit its time cap before its count '
    + '(its rate is still valid); ⚠errors = see the details.', '');
  if (s.cfg.note !== undefined) out.push(`- Note: ${s.cfg.note}`);
  out.push(`- Machine: ${machineLine()}`);
  out.push(...s.facts, '');
  out.push('Node client (`dist/bench/load.js`, grpc-js, one process; txn-put is `txn-put --random-keys --txn-guard`):', '');
  out.push(...resultTables(s.results, s.ws, names, 'per-round rps, CPU per request per side and per member, client CPU, other work, errors'));
  const crossWs = s.ws.filter((w) => w.loadgenOp !== undefined);
  if (s.cross.rows.size > 0) {
    out.push('', 'Cross-check with the Go load generator (`loadgen`, etcd clientv3 3.4 balancer: every connection round-robins '
      + 'requests over all three endpoints; one run each, its count sized from the Node client\'s rate to fill about the run\'s cap):', '');
    out.push(...resultTables(s.cross, crossWs, names, 'loadgen details'));
  }
  out.push(...s.trouble);
  const cmds = [`npm run bench:compare${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`];
  for (const c of s.clusters) for (const m of [...c.members].sort((a, b) => a.name.localeCompare(b.name))) cmds.push(`# ${c.name} ${m.name}: ${m.command}`);
  cmds.push('# EPS = the three client endpoints, leader first (host:port,host:port,host:port)');
  cmds.push(`# prefill (untimed, per side): node ${relative(prefillArgs('EPS', 3, 60))}`);
  for (const w of s.ws) cmds.push(`node ${relative(nodeLoadArgs(w, 'EPS', 'CAP'))}`);
  if (s.cross.rows.size > 0) {
    const lg = s.cfg.loadgen ?? 'loadgen';
    cmds.push(`# loadgen (bash /work/shared/tools/loadgen/build.sh ${lg}); seed, untimed, per side: ${loadgenSeedText}`);
    cmds.push('# -total: the smaller of the one below and what the Node client\'s rate on that side fills the run\'s cap with');
    for (const w of crossWs) cmds.push(`${lg} ${loadgenArgs(w, 'EPS', 'NAME', w.total).join(' ')}`);
  }
  out.push('', ...details('exact commands', fenced(cmds.join('\n'))));
  return out.join('\n');
}

// ---- profile: where keel's leader spends its time ---------------------------------------

async function moveLeaderTo(c: Cluster, target: Member): Promise<void> {
  if (c.members[0] === target) return;
  const client = new Client({ endpoints: [(c.members[0] as Member).endpoint] });
  try {
    await client.moveLeader(BigInt(target.id), { timeoutMs: 3_000 });
  } finally {
    client.close();
  }
  for (let i = 0; i < leaderMovesMax && c.members[0] !== target; i++) {
    await settleLeader(c).catch(() => undefined);
    if (c.members[0] !== target) await sleep(500);
  }
  if (c.members[0] !== target) throw new Error(`leadership did not move to ${target.name}`);
}

function threadCpuText(before: ReturnType<typeof threadCpu>, after: ReturnType<typeof threadCpu>, requests: number): string {
  const rows = [...after].map(([name, a]): [string, number, number] => {
    const b = before.get(name) ?? { user: 0, system: 0 };
    return [name, a.user - b.user, a.system - b.system];
  }).filter((r) => r[1] + r[2] > 0).sort((x, y) => y[1] + y[2] - (x[1] + x[2]));
  return rows.map(([n, u, sy]) => `${n} ${fmtInt(((u + sy) * 1e6) / Math.max(1, requests))} µs/req (user ${u.toFixed(2)} s, system ${sy.toFixed(2)} s)`).join('; ');
}

async function profileMain(cfg: Config): Promise<void> {
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const profDir = makeTempDir('prof');
  const profFlags = ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  const c = await startCluster(keelSpec(3, cfg.keelRoot, (i) => (i === 0 ? profFlags : [])), log);
  const profiled = c.members.find((m) => m.name === 'm1') as Member;
  const electedLeader = c.leader;
  log(`keel up: leader ${c.leader}; profiling m1 (pid ${profiled.pid})`);
  if (c.leader !== 'm1') {
    log(`moving leadership ${c.leader} -> m1 (Maintenance.MoveLeader)`);
    await moveLeaderTo(c, profiled);
  }
  const w = workloads(false).find((x) => x.id === cfg.profileWorkload) as Workload;
  if (w.id.startsWith('range')) await runChild(process.execPath, prefillArgs(c.endpoints, 3, 60), 90_000);
  const run: Workload = { ...w, total: 5_000_000, loadArgs: w.loadArgs.map((a, i, all) => (all[i - 1] === '--total' ? '5000000' : a)) };
  const pids = c.members.map((m) => m.pid);
  const cpu0 = pids.map(cpuSeconds);
  const threads0 = threadCpu(profiled.pid);
  const m0 = cpuMark(pids);
  const t0Us = Number(process.hrtime.bigint() / 1000n);
  const r = lastJsonLine<Report>(await runChild(process.execPath, nodeLoadArgs(run, c.endpoints, cfg.profileSeconds), (cfg.profileSeconds + 30) * 1000));
  const t1Us = Number(process.hrtime.bigint() / 1000n);
  const other = otherCores(m0, cpuMark(pids));
  const per = pids.map((p, i) => (r.ok > 0 ? ((cpuSeconds(p) - (cpu0[i] ?? NaN)) * 1e6) / r.ok : NaN));
  const threads = threadCpuText(threads0, threadCpu(profiled.pid), r.ok);
  const leaderAfter = await leaderNow(c);
  const hwm = pids.map((p) => statusKiB(p, 'VmHWM') / 1024);
  await Promise.all(pids.map(stopPid));
  const files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  const mine = files.filter((f) => f.includes(`.${profiled.pid}.`));
  const pick = (mine.length > 0 ? mine : files).map((f) => path.join(profDir, f)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
  if (pick === undefined) throw new Error(`no .cpuprofile written in ${profDir} (did m1 exit cleanly?)`);
  const kept = path.join(os.tmpdir(), `keel-leader-${w.id}-${startedAt.toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  fs.copyFileSync(pick, kept);
  // V8's profile clock and process.hrtime are both CLOCK_MONOTONIC on Linux, so the load window maps directly.
  const summary = summarizeProfile(kept, cfg.keelRoot, [t0Us, t1Us]);
  await cleanup();

  const la = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  const lines = [`## ${stamp(startedAt)} UTC — bench:compare --profile: where keel's leader spends its time (${w.title})`, ''];
  if (cfg.note !== undefined) lines.push(`- Note: ${cfg.note}`);
  lines.push(`- Machine: ${machineLine()}; other work while profiling: ${other.toFixed(2)} of ${os.availableParallelism()} cores `
    + `(load average before: ${la(loadBefore)}; after: ${la(os.loadavg())})`);
  lines.push(`- Server: ${c.version}; 3 members, m1 under \`node ${profFlags[0]} --cpu-prof-dir=DIR bin/keel.js …\`, made leader `
    + `${electedLeader === 'm1' ? 'by the election' : `by Maintenance.MoveLeader (${electedLeader} was elected)`}; leader at the end: ${leaderAfter}`);
  lines.push(`- Load: ${r.ok} requests in ${r.seconds.toFixed(1)} s = ${fmtInt(r.rps)} rps, p50 ${fmtMs(r.p50_ms)} ms, p99 ${fmtMs(r.p99_ms)} ms, `
    + `${r.errors} errors; CPU µs/request: leader ${fmtInt(per[0] ?? NaN)}, followers ${fmtInt(per[1] ?? NaN)} and `
    + `${fmtInt(per[2] ?? NaN)} (the leader's includes the profiler's own overhead); VmHWM ${hwm.map((x) => fmtInt(x)).join(' / ')} MiB`);
  lines.push(`- The leader's CPU by thread (from /proc/PID/task, per request): ${threads}`);
  lines.push(`- Profile: ${kept} (open in Chrome DevTools or speedscope; not kept in the repo). Summarize again with `
    + '`node dist/bench/compare-cluster.js --summarize-profile FILE`.', '', renderProfileSummary(summary), '');
  const cmds = [`npm run bench:compare -- ${process.argv.slice(2).map(shellQuote).join(' ')}`];
  for (const m of [...c.members].sort((a, b) => a.name.localeCompare(b.name))) cmds.push(`# ${m.name}: ${m.command}`);
  cmds.push(`node ${relative(nodeLoadArgs(run, 'EPS', cfg.profileSeconds))}`);
  lines.push(...details('exact commands', fenced(cmds.join('\n'))));
  const section = lines.join('\n');
  process.stdout.write(`${section}\n`);
  if (cfg.append) appendSection(cfg.resultsFile, section, log);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // Kept so the commands recorded in RESULTS.md still run: the old txn-put child is load.ts's txn-put now.
  if (argv[0] === '--txn-load') { await loadCli(['txn-put', '--random-keys', '--txn-guard', ...argv.slice(argv[1] === 'put' ? 2 : 1)]); return; }
  const cfg = parseConfig(argv);
  if (cfg.mode === 'summarize') {
    process.stdout.write(`${renderProfileSummary(summarizeProfile(cfg.profileFile as string, cfg.keelRoot))}\n`);
    return;
  }
  installSignalHandlers('compare-cluster');
  if (cfg.mode === 'profile') await profileMain(cfg);
  else await compareMain(cfg);
}

if (require.main === module) runMain('compare-cluster', main);
