// Applies the schedule to the live cluster: each window's faults start at its
// start, heal at its end, and are written to nemesis.jsonl as {startNs,
// endNs, kind, detail} with the members actually hit. healAll() at the end of
// the run undoes whatever is still in force.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SeededRandom } from '../../src/util';
import { clientFor, sleep, type Cluster } from '../cluster/cluster';
import type { MemberProcess } from '../cluster/member';
import type { Network } from '../cluster/net';
import type { Recorder } from '../recorder';
import type { RunState } from '../workloads/common';
import type { PlannedFault, PlannedWindow } from './schedule';

export interface FaultRecord {
  startNs: number;
  endNs: number;
  kind: string;
  detail: Record<string, unknown>;
}

interface Active {
  fault: PlannedFault;
  startNs: number;
  detail: Record<string, unknown>;
  heal: () => Promise<void>;
}

export class NemesisExecutor {
  readonly records: FaultRecord[] = [];
  private readonly file: string;
  private active: Active[] = [];

  constructor(private readonly cluster: Cluster, private readonly net: Network, private readonly rec: Recorder, private readonly state: RunState, dir: string, private readonly clockDir: string | undefined) {
    this.file = path.join(dir, 'nemesis.jsonl');
    fs.writeFileSync(this.file, '');
  }

  log(r: FaultRecord): void {
    this.records.push(r);
    fs.appendFileSync(this.file, JSON.stringify(r) + '\n');
  }

  /** Runs every window in order; returns when the last one healed or `stopped` says so. */
  async run(windows: readonly PlannedWindow[], stopped: () => boolean): Promise<void> {
    for (const w of windows) {
      if (!(await this.until(w.startMs, stopped))) return;
      for (const f of w.faults) await this.apply(f);
      if (!(await this.until(w.endMs, stopped))) return;
      await this.healAll();
    }
  }

  private async until(ms: number, stopped: () => boolean): Promise<boolean> {
    for (;;) {
      if (stopped()) return false;
      const left = ms - this.rec.nowNs() / 1e6;
      if (left <= 0) return true;
      await sleep(Math.min(left, 200));
    }
  }

  private async apply(f: PlannedFault): Promise<void> {
    const startNs = this.rec.nowNs();
    const detail: Record<string, unknown> = { ...f.detail };
    try {
      const heal = await this.start(f, new SeededRandom(f.pickSeed), detail);
      this.active.push({ fault: f, startNs, detail, heal });
    } catch (e) {
      detail['error'] = e instanceof Error ? e.message : String(e);
      this.log({ startNs, endNs: this.rec.nowNs(), kind: f.kind, detail });
    }
  }

  async healAll(): Promise<void> {
    const list = this.active.reverse();
    this.active = [];
    for (const a of list) {
      try {
        await a.heal();
      } catch (e) {
        a.detail['healError'] = e instanceof Error ? e.message : String(e);
      }
      this.log({ startNs: a.startNs, endNs: this.rec.nowNs(), kind: a.fault.kind, detail: a.detail });
    }
  }

  private running(): MemberProcess[] {
    return this.cluster.members.filter((m) => m.running);
  }

  private async targets(role: string, rng: SeededRandom): Promise<MemberProcess[]> {
    const all = this.running();
    const shuffled = shuffle(all, rng);
    if (role === 'all') return all;
    if (role === 'leader') {
      const l = await this.cluster.leader();
      return l === undefined ? shuffled.slice(0, 1) : [l];
    }
    if (role === 'minority') return shuffled.slice(0, Math.max(1, Math.floor((this.cluster.members.length - 1) / 2)));
    return shuffled.slice(0, 1);
  }

  private async start(f: PlannedFault, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    switch (f.kind) {
      case 'kill': return this.kill(String(f.detail['target']), rng, detail);
      case 'pause': return this.pause(String(f.detail['target']), rng, detail);
      case 'partition': return this.partition(String(f.detail['shape']), rng, detail);
      case 'netem': return this.netem(f.detail, rng, detail);
      case 'clock': return this.clock(f.detail, rng, detail);
      case 'member': return this.member(String(f.detail['action']), rng, detail);
      case 'compaction': return this.compaction(f.detail, rng, detail);
      case 'failpoint': return this.failpoint(f.detail, rng, detail);
    }
  }

  private async kill(role: string, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    const ms = await this.targets(role, rng);
    detail['members'] = ms.map((m) => m.name);
    await Promise.all(ms.map((m) => m.kill9()));
    return async () => {
      for (const m of ms) this.cluster.restart(m);
    };
  }

  private async pause(role: string, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    const ms = await this.targets(role, rng);
    detail['members'] = ms.map((m) => m.name);
    ms.forEach((m) => m.pause());
    return async () => ms.forEach((m) => m.resume());
  }

  private async partition(shape: string, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    const ms = shuffle(this.cluster.members, rng);
    const leader = shape === 'isolated-leader' ? await this.cluster.leader() : undefined;
    const cut = cutFor(shape, ms, leader);
    detail['cut'] = cut.map(([a, b]) => `${a.name}-${b.name}`);
    this.net.partition(cut.map(([a, b]) => [a.cfg.slot, b.cfg.slot] as const));
    return async () => this.net.heal();
  }

  private async netem(d: Record<string, string | number>, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    const ms = await this.targets(String(d['target']), rng);
    detail['members'] = ms.map((m) => m.name);
    const mode = String(d['mode']);
    this.net.link(ms.map((m) => m.cfg.slot), {
      ...(mode.includes('loss') ? { lossPercent: Number(d['lossPercent']) } : {}),
      ...(mode.includes('slow') ? { rate: String(d['rate']) } : {}),
    });
    return async () => this.net.heal();
  }

  private async clock(d: Record<string, string | number>, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    if (this.clockDir === undefined) throw new Error('clock skew needs keel members started under libfaketime (keel target, faketime installed)');
    const ms = await this.targets(String(d['target']), rng);
    detail['members'] = ms.map((m) => m.name);
    const offset = Number(d['offsetSeconds']);
    const dir = this.clockDir;
    for (const m of ms) fs.writeFileSync(path.join(dir, m.name), `${offset >= 0 ? '+' : ''}${offset}s\n`);
    return async () => {
      for (const m of ms) fs.writeFileSync(path.join(dir, m.name), '+0\n');
    };
  }

  private async member(action: string, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    const leader = await this.cluster.leader();
    const others = shuffle(this.cluster.members.filter((m) => m !== leader), rng);
    const victim = others[0];
    if (victim === undefined) throw new Error('no follower to change');
    if (action === 'replace') {
      // A member dies for good; the operator removes it and adds a fresh one.
      await victim.kill9();
      await this.cluster.removeMember(victim);
      const added = await this.cluster.addMember(false);
      detail['removed'] = victim.name;
      detail['added'] = added.name;
    } else {
      const added = await this.cluster.addMember(true);
      detail['learner'] = added.name;
      detail['promoted'] = await this.promoteWhenReady(added);
      if (detail['promoted'] === true) {
        await this.cluster.removeMember(victim);
        detail['removed'] = victim.name;
      }
    }
    return async () => undefined;
  }

  private async promoteWhenReady(m: MemberProcess): Promise<boolean> {
    for (let i = 0; i < 40; i++) {
      try {
        await this.cluster.promote(m);
        return true;
      } catch {
        await sleep(250);
      }
    }
    return false;
  }

  private async compaction(d: Record<string, string | number>, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    let stop = false;
    const counts = { compactions: 0, defrags: 0, errors: 0 };
    const storm = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const ms = this.running();
        const m = ms[rng.intBelow(Math.max(1, ms.length))];
        if (m !== undefined) await this.compactOnce(m, rng, Number(d['defragPercent']), counts);
        await sleep(Number(d['intervalMs']));
      }
    })();
    return async () => {
      stop = true;
      await storm;
      Object.assign(detail, counts);
    };
  }

  private async compactOnce(m: MemberProcess, rng: SeededRandom, defragPercent: number, counts: { compactions: number; defrags: number; errors: number }): Promise<void> {
    const c = clientFor(m.endpoint);
    try {
      const at = Math.max(1, this.state.maxRevision - rng.int(0, 20));
      if (at > this.state.compactRevision) {
        await c.compact(at, false, { timeoutMs: 3000 });
        this.state.compactRevision = Math.max(this.state.compactRevision, at);
        counts.compactions++;
      }
      if (rng.int(1, 100) <= defragPercent) {
        await c.defragment({ timeoutMs: 10_000 });
        counts.defrags++;
      }
    } catch {
      counts.errors++;
    } finally {
      c.close();
    }
  }

  private async failpoint(d: Record<string, string | number>, rng: SeededRandom, detail: Record<string, unknown>): Promise<() => Promise<void>> {
    if (this.cluster.opts.target !== 'keel') throw new Error('failpoints are keel\'s (KEEL_FAILPOINTS); etcd needs a gofail build');
    const [m] = await this.targets('one', rng);
    if (m === undefined) throw new Error('no running member');
    detail['members'] = [m.name];
    m.env = { ...m.env, KEEL_FAILPOINTS: String(d['failpoints']), KEEL_FAILPOINT_PROBABILITY: String(d['probability']) };
    await m.kill9();
    this.cluster.restart(m);
    return async () => {
      const { KEEL_FAILPOINTS: _a, KEEL_FAILPOINT_PROBABILITY: _b, ...rest } = m.env;
      m.env = rest;
      await m.kill9();
      this.cluster.restart(m);
    };
  }
}

function shuffle<T>(items: readonly T[], rng: SeededRandom): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.intBelow(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

type Pair = [MemberProcess, MemberProcess];

/** Which links a partition shape cuts, for members already shuffled by the fault's seed. */
export function cutFor(shape: string, ms: MemberProcess[], leader: MemberProcess | undefined): Pair[] {
  const across = (a: MemberProcess[], b: MemberProcess[]): Pair[] => a.flatMap((x) => b.map((y) => [x, y] as Pair));
  const n = ms.length;
  if (shape === 'isolated-leader') {
    const l = leader ?? ms[0]!;
    return across([l], ms.filter((m) => m !== l));
  }
  if (shape === 'majority-ring') {
    // Every member sees a majority (itself and its nearest ring neighbours), no two the same one.
    const reach = Math.floor(n / 2) / 2;
    const cut: Pair[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const d = Math.min(j - i, n - (j - i));
        if (d > Math.max(1, Math.floor(reach))) cut.push([ms[i]!, ms[j]!]);
      }
    }
    return cut.length > 0 ? cut : [[ms[0]!, ms[n - 1]!]];
  }
  if (shape === 'bridge') {
    // Two halves that only one member (the bridge) can talk to both of.
    const rest = ms.slice(1);
    const half = Math.floor(rest.length / 2);
    return across(rest.slice(0, half), rest.slice(half));
  }
  const minority = Math.floor(n / 2);
  return across(ms.slice(0, minority), ms.slice(minority));
}
