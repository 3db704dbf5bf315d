// The cluster under test: its members (started, crashed, replaced), who leads,
// and clients bound to one member each. With --endpoints it wraps a cluster
// somebody else runs: no processes, so no nemesis.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, toBigint, type CallOptions, type DeleteRangeRequest, type DeleteRangeResponse, type PutRequest, type PutResponse, type RangeRequest, type RangeResponse, type TxnRequest, type TxnResponse } from '../../src/client';
import { crashRestartsMax, membersMax } from '../limits';
import { dataDirFor, MemberProcess, type Exit, type Target } from './member';
import type { Network } from './net';

export interface Endpoint {
  name: string;
  endpoint: string;
}

export interface ClusterOptions {
  dir: string;
  target: Target;
  bin: string;
  members: number;
  net: Network;
  /** Environment every member starts with (faketime's preload and control file). */
  baseEnv: (name: string) => Record<string, string>;
  /** Called when a member dies without being asked to (recorded as a crash), and whether it was restarted. */
  onCrash: (name: string, exit: Exit, restarted: boolean, logTail: string) => void;
}

const bytesFields = new Set(['key', 'range_end', 'value']);

/** proto-loader reads a string in a bytes field as base64: the harness's keys and values are text, so they go as UTF-8 bytes. */
export function utf8Bytes<T>(req: T): T {
  if (Array.isArray(req)) return req.map((x: unknown) => utf8Bytes(x)) as T;
  if (req === null || typeof req !== 'object' || Buffer.isBuffer(req)) return req;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req as Record<string, unknown>)) {
    out[k] = typeof v === 'string' && bytesFields.has(k) ? Buffer.from(v, 'utf8') : utf8Bytes(v);
  }
  return out as T;
}

/** The typed client, with text keys and values sent as UTF-8. */
export class TextClient extends Client {
  override range(req: RangeRequest, o?: CallOptions): Promise<RangeResponse> {
    return super.range(utf8Bytes(req), o);
  }
  override put(req: PutRequest, o?: CallOptions): Promise<PutResponse> {
    return super.put(utf8Bytes(req), o);
  }
  override deleteRange(req: DeleteRangeRequest, o?: CallOptions): Promise<DeleteRangeResponse> {
    return super.deleteRange(utf8Bytes(req), o);
  }
  override txn(req: TxnRequest, o?: CallOptions): Promise<TxnResponse> {
    return super.txn(utf8Bytes(req), o);
  }
}

/** Clients get short keepalives so a dead connection is noticed within an operation's timeout. */
export function clientFor(endpoint: string): Client {
  return new TextClient({ endpoints: [endpoint], dialTimeoutMs: 2000, keepaliveTimeMs: 1000, keepaliveTimeoutMs: 2000 });
}

export class Cluster {
  readonly all: MemberProcess[] = [];
  private readonly generations = new Map<string, number>();
  private nextSlot = 0;
  private stopping = false;

  constructor(readonly opts: ClusterOptions) {}

  /** Members that belong to the cluster now (not removed). */
  get members(): MemberProcess[] {
    return this.all.filter((m) => !m.removed);
  }

  get endpoints(): Endpoint[] {
    return this.members.map((m) => ({ name: m.name, endpoint: m.endpoint }));
  }

  initialCluster(extra: MemberProcess[] = []): string {
    return [...this.members, ...extra].map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  private async newMember(): Promise<MemberProcess> {
    if (this.all.length >= membersMax) throw new Error(`a run starts at most ${membersMax} members`);
    const slot = this.nextSlot++;
    const name = `n${slot + 1}`;
    const generation = (this.generations.get(name) ?? 0) + 1;
    this.generations.set(name, generation);
    const m = new MemberProcess({
      name,
      slot,
      address: await this.opts.net.address(slot),
      dataDir: dataDirFor(this.opts.dir, name, generation),
      logFile: path.join(this.opts.dir, `${name}.log`),
      target: this.opts.target,
      bin: this.opts.bin,
      clusterToken: 'keel-jepsen',
    }, this.opts.net);
    m.env = { ...this.opts.baseEnv(name) };
    m.onUnexpectedExit = (mm, exit) => this.crashed(mm, exit);
    return m;
  }

  private crashed(m: MemberProcess, exit: Exit): void {
    m.crashes++;
    const restart = !this.stopping && !m.removed && m.crashes <= crashRestartsMax;
    this.opts.onCrash(m.name, exit, restart, m.logTail.slice(-4000));
    if (restart) setTimeout(() => this.restart(m), 500).unref();
  }

  async start(): Promise<void> {
    const fresh: MemberProcess[] = [];
    for (let i = 0; i < this.opts.members; i++) fresh.push(await this.newMember());
    this.all.push(...fresh);
    const ic = this.initialCluster();
    for (const m of fresh) m.start(ic, 'new');
    await this.waitHealthy(60_000);
  }

  /** Starts a stopped member again on its data dir, with its current env. */
  restart(m: MemberProcess): void {
    if (m.running || m.removed || this.stopping) return;
    m.start(this.initialCluster(), 'existing');
  }

  byName(name: string): MemberProcess | undefined {
    return this.all.find((m) => m.name === name);
  }

  /** Every member's Status (undefined where it did not answer within the timeout). */
  async statuses(timeoutMs = 1000): Promise<Array<{ m: MemberProcess; id: bigint; leader: bigint; revision: number; applied: number } | undefined>> {
    return Promise.all(this.members.map(async (m) => {
      if (!m.running || m.paused) return undefined;
      const c = clientFor(m.endpoint);
      try {
        const s = await c.status({ timeoutMs });
        return {
          m,
          id: toBigint(s.header?.member_id),
          leader: toBigint(s.leader),
          revision: Number(s.header?.revision ?? 0),
          applied: Number(s.raftAppliedIndex),
        };
      } catch {
        return undefined;
      } finally {
        c.close();
      }
    }));
  }

  /** The member that a running member names as leader, if any answers. */
  async leader(): Promise<MemberProcess | undefined> {
    const st = await this.statuses();
    for (const s of st) {
      if (s === undefined || s.leader === 0n) continue;
      const l = st.find((x) => x !== undefined && x.id === s.leader);
      if (l !== undefined) return l.m;
    }
    return undefined;
  }

  /** Waits (bounded) until every member answers Status and agrees on a leader. */
  async waitHealthy(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const st = await this.statuses();
      const leaders = new Set(st.map((s) => s?.leader));
      if (st.every((s) => s !== undefined && s.leader !== 0n) && leaders.size === 1) return true;
      await sleep(250);
    }
    return false;
  }

  /** MemberAdd through a running member, then starts the new member with state existing. */
  async addMember(learner: boolean): Promise<MemberProcess> {
    const m = await this.newMember();
    const via = this.members.find((x) => x.running && !x.paused);
    if (via === undefined) throw new Error('no running member to add through');
    const c = clientFor(via.endpoint);
    try {
      await c.memberAdd([m.peerUrl], learner, { timeoutMs: 5000 });
    } finally {
      c.close();
    }
    this.all.push(m);
    m.start(this.initialCluster(), 'existing');
    return m;
  }

  async memberId(m: MemberProcess): Promise<bigint | undefined> {
    const via = this.members.find((x) => x.running && !x.paused);
    if (via === undefined) return undefined;
    const c = clientFor(via.endpoint);
    try {
      const list = await c.memberList({ timeoutMs: 3000 });
      const found = list.members.find((x) => x.name === m.name || x.peerURLs.includes(m.peerUrl));
      return found === undefined ? undefined : toBigint(found.ID);
    } finally {
      c.close();
    }
  }

  async promote(m: MemberProcess): Promise<void> {
    const id = await this.memberId(m);
    if (id === undefined) throw new Error(`${m.name} is not in the member list`);
    const via = this.members.find((x) => x.running && !x.paused && x !== m);
    if (via === undefined) throw new Error('no running member to promote through');
    const c = clientFor(via.endpoint);
    try {
      await c.memberPromote(id, { timeoutMs: 5000 });
    } finally {
      c.close();
    }
  }

  /** MemberRemove through another member, then stops the removed one. */
  async removeMember(m: MemberProcess): Promise<void> {
    const id = await this.memberId(m);
    if (id === undefined) throw new Error(`${m.name} is not in the member list`);
    const via = this.members.find((x) => x.running && !x.paused && x !== m);
    if (via === undefined) throw new Error('no running member to remove through');
    const c = clientFor(via.endpoint);
    try {
      await c.memberRemove(id, { timeoutMs: 5000 });
    } finally {
      c.close();
    }
    m.removed = true;
    await m.kill9();
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.all.map((m) => m.stop()));
  }

  removeDataDirs(): void {
    for (const m of this.all) fs.rmSync(m.cfg.dataDir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
