// Where members live on the network, and the faults the network can suffer.
//
// Partitions need the sender's identity, and etcd (like keel) dials every
// peer from one peer URL per member, so a proxy on a listener cannot tell who
// connects without parsing each product's peer protocol. Network namespaces
// can: each member gets its own namespace, a veth into one bridge, and its own
// address in 10.77.N.0/24 (N unique per concurrent run; the addresses exist
// only inside namespaces this run creates, so no traffic leaves the machine).
// Clients stay in the root namespace and reach members over the bridge, which
// holds 10.77.N.1. A partition is an nftables rule in the receiving member's
// namespace dropping packets from the peers it must not hear: SYNs and data
// vanish, connections hang until their own timeouts, as on a real network.
// Loss is nftables' random drop. This kernel has no netem qdisc (sch_netem is
// not built), so "delay" is a token-bucket (tbf) bandwidth limit on both ends
// of the veth: queueing delay under load rather than a fixed latency.
//
// Without root (or without `ip netns`), members share 127.0.0.1 on free ports
// and the network faults are unavailable: the runner refuses to schedule them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { netNumbersMax } from '../limits';
import { claimLock, freePort, pidAlive } from './ports';

export interface Address {
  host: string;
  clientPort: number;
  peerPort: number;
}

export interface LinkFault {
  /** Percent of packets dropped on arrival at the member. */
  lossPercent?: number;
  /** tbf rate, e.g. '512kbit', on both directions of the member's link. */
  rate?: string;
}

export interface Network {
  readonly kind: 'loopback' | 'netns';
  /** The address a member in this slot listens on. */
  address(slot: number): Promise<Address>;
  /** The command that runs `file args` inside the slot's network. */
  wrap(slot: number, file: string, args: string[]): { file: string; args: string[] };
  /** Drops all traffic between each pair of slots given (both directions). */
  partition(cut: ReadonlyArray<readonly [number, number]>): void;
  link(slots: readonly number[], fault: LinkFault): void;
  /** Removes every partition and link fault. */
  heal(): void;
  teardown(): void;
}

const netLockDir = path.join(os.tmpdir(), 'keel-jepsen-nets');

export class LoopbackNetwork implements Network {
  readonly kind = 'loopback' as const;
  private readonly addresses = new Map<number, Address>();

  async address(slot: number): Promise<Address> {
    let a = this.addresses.get(slot);
    if (a === undefined) {
      a = { host: '127.0.0.1', clientPort: await freePort(), peerPort: await freePort() };
      this.addresses.set(slot, a);
    }
    return a;
  }

  wrap(_slot: number, file: string, args: string[]): { file: string; args: string[] } {
    return { file, args };
  }

  partition(): void {
    throw new Error('partitions need network namespaces (root and `ip netns`); this run uses loopback');
  }

  link(): void {
    throw new Error('link faults need network namespaces (root and `ip netns`); this run uses loopback');
  }

  heal(): void {}

  teardown(): void {}
}

function sh(file: string, args: string[], input?: string): { ok: boolean; out: string } {
  const r = spawnSync(file, args, { encoding: 'utf8', input, timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function must(file: string, args: string[], input?: string): void {
  const r = sh(file, args, input);
  if (!r.ok) throw new Error(`${file} ${args.join(' ')}: ${r.out}`);
}

/** Why namespaces cannot be used here, or undefined when they can (probes by creating one). */
export function netnsUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['ip', 'nft', 'tc']) {
    if (!sh('/bin/sh', ['-c', `command -v ${tool}`]).ok) return `${tool} not installed`;
  }
  const probe = `kjprobe${process.pid % 100000}`;
  const r = sh('ip', ['netns', 'add', probe]);
  if (!r.ok) return `ip netns add failed: ${r.out}`;
  const n = sh('ip', ['netns', 'exec', probe, 'nft', 'add', 'table', 'inet', 'probe']);
  sh('ip', ['netns', 'del', probe]);
  return n.ok ? undefined : `nft in a namespace failed: ${n.out}`;
}

export class NamespaceNetwork implements Network {
  readonly kind = 'netns' as const;
  private readonly slots = new Set<number>();

  private constructor(readonly net: number) {}

  /** Claims a free 10.77.N.0/24 and creates its bridge. */
  static create(): NamespaceNetwork {
    for (let n = 1; n <= netNumbersMax; n++) {
      if (!claimLock(netLockDir, String(n))) continue;
      removeStale(n);
      const net = new NamespaceNetwork(n);
      must('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
      must('ip', ['addr', 'add', `10.77.${n}.1/24`, 'dev', net.bridge]);
      must('ip', ['link', 'set', net.bridge, 'up']);
      return net;
    }
    throw new Error(`all ${netNumbersMax} jepsen networks are in use`);
  }

  get bridge(): string {
    return `kj${this.net}br`;
  }

  ns(slot: number): string {
    return `kj${this.net}m${slot}`;
  }

  ip(slot: number): string {
    return `10.77.${this.net}.${10 + slot}`;
  }

  async address(slot: number): Promise<Address> {
    if (!this.slots.has(slot)) this.addSlot(slot);
    return { host: this.ip(slot), clientPort: 2379, peerPort: 2380 };
  }

  private addSlot(slot: number): void {
    const ns = this.ns(slot);
    const veth = `kj${this.net}v${slot}`;
    must('ip', ['netns', 'add', ns]);
    must('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    must('ip', ['link', 'set', veth, 'master', this.bridge, 'up']);
    must('ip', ['-n', ns, 'addr', 'add', `${this.ip(slot)}/24`, 'dev', 'eth0']);
    must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    must('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], [
      'table inet keeljepsen {',
      '  chain input { type filter hook input priority 0; policy accept; }',
      '}',
    ].join('\n'));
    this.slots.add(slot);
  }

  wrap(slot: number, file: string, args: string[]): { file: string; args: string[] } {
    return { file: 'ip', args: ['netns', 'exec', this.ns(slot), file, ...args] };
  }

  partition(cut: ReadonlyArray<readonly [number, number]>): void {
    const deaf = new Map<number, Set<string>>();
    for (const [a, b] of cut) {
      if (!deaf.has(a)) deaf.set(a, new Set());
      if (!deaf.has(b)) deaf.set(b, new Set());
      deaf.get(a)?.add(this.ip(b));
      deaf.get(b)?.add(this.ip(a));
    }
    for (const [slot, from] of deaf) {
      if (!this.slots.has(slot)) continue;
      this.nft(slot, `add rule inet keeljepsen input ip saddr { ${[...from].join(', ')} } drop`);
    }
  }

  link(slots: readonly number[], fault: LinkFault): void {
    for (const slot of slots) {
      if (!this.slots.has(slot)) continue;
      if (fault.lossPercent !== undefined && fault.lossPercent > 0) {
        this.nft(slot, `add rule inet keeljepsen input numgen random mod 100 < ${Math.round(fault.lossPercent)} drop`);
      }
      if (fault.rate !== undefined) {
        const tbf = ['root', 'tbf', 'rate', fault.rate, 'burst', '16kbit', 'latency', '400ms'];
        must('ip', ['netns', 'exec', this.ns(slot), 'tc', 'qdisc', 'replace', 'dev', 'eth0', ...tbf]);
        must('tc', ['qdisc', 'replace', 'dev', `kj${this.net}v${slot}`, ...tbf]);
      }
    }
  }

  heal(): void {
    for (const slot of this.slots) {
      this.nft(slot, 'flush chain inet keeljepsen input');
      sh('ip', ['netns', 'exec', this.ns(slot), 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
      sh('tc', ['qdisc', 'del', 'dev', `kj${this.net}v${slot}`, 'root']);
    }
  }

  private nft(slot: number, rule: string): void {
    must('ip', ['netns', 'exec', this.ns(slot), 'nft', rule]);
  }

  teardown(): void {
    removeStale(this.net);
    try {
      fs.unlinkSync(path.join(netLockDir, String(this.net)));
    } catch {
      /* gone */
    }
  }
}

/** Removes the namespaces and bridge of network N (left behind by a run that died). */
function removeStale(n: number): void {
  const list = sh('ip', ['netns', 'list']).out.split('\n');
  for (const line of list) {
    const name = line.split(' ')[0] ?? '';
    if (new RegExp(`^kj${n}m\\d+$`).test(name)) sh('ip', ['netns', 'del', name]);
  }
  sh('ip', ['link', 'del', `kj${n}br`]);
}

export { pidAlive };
