// `keel-jepsen run` flags.
import * as path from 'node:path';
import { concurrencyMax, timeLimitSecondsMax } from '../limits';
import { nemesisKinds, type NemesisKind } from '../nemesis/schedule';

export const workloadNames = ['register', 'append', 'watch', 'lease', 'lock', 'kube', 'txn-rev'] as const;
export type WorkloadName = (typeof workloadNames)[number];

export interface RunOptions {
  seed: number;
  members: 3 | 5;
  timeLimitSeconds: number;
  workloads: WorkloadName[];
  nemeses: NemesisKind[];
  concurrency: number;
  rate: number;
  target: 'keel' | 'etcd';
  etcdVersion: '3.4' | '3.5';
  endpoints: string[];
  out: string | undefined;
  net: 'auto' | 'netns' | 'loopback';
  opTimeoutMs: number;
  quietSeconds: number;
}

export const runHelp = `Usage: keel-jepsen run [flags]

Starts a cluster (keel through bin/keel.js, or etcd as the control), runs
workloads against it while nemeses inject faults, heals, reads, checks.
Exit 0: every checker valid; 1: an anomaly; 2: unknown.

  --seed N               seed of the schedule and the generators (default: time)
  --members 3|5          members to start (default 3)
  --time-limit SECONDS   how long the workloads run (default 60)
  --workload LIST        ${workloadNames.join(',')} (default register)
  --nemesis LIST         ${nemesisKinds.join(',')}, or none (default none)
                         failpoint: needs keel failpoints (KEEL_FAILPOINTS; inert until keel has them)
                         partition, netem: need root and ip netns (members in namespaces)
                         clock: keel members only, under libfaketime (Debian's faketime)
  --concurrency N        workers per workload (default 6)
  --rate OPS             operations per second per workload (default 50)
  --target keel|etcd     what to start (default keel)
  --etcd-version 3.4|3.5 with --target etcd: /usr/bin/etcd or etcd 3.5 from /work/shared/tools/etcd35.sh (default 3.5)
  --endpoints LIST       use a running cluster (host:port,...); no nemesis then
  --net auto|netns|loopback  where members live (default auto: netns when available)
  --op-timeout MS        client deadline; a timeout is indeterminate (default 3000)
  --quiet SECONDS        quiet period after the heal before the final reads (default 5)
  --out DIR              run directory (default jepsen/runs/<timestamp>-<seed>)
`;

export class UsageError extends Error {}

function list<T extends string>(raw: string, allowed: readonly T[], what: string): T[] {
  if (raw === 'none' || raw === '') return [];
  const out: T[] = [];
  for (const item of raw.split(',')) {
    if (!(allowed as readonly string[]).includes(item)) throw new UsageError(`unknown ${what} "${item}" (one of ${allowed.join(', ')})`);
    out.push(item as T);
  }
  return out;
}

function int(raw: string, flag: string, lo: number, hi: number): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new UsageError(`${flag} must be an integer in [${lo}, ${hi}], got "${raw}"`);
  return n;
}

export function parseRunOptions(argv: readonly string[], repoRoot: string): RunOptions {
  const o: RunOptions = {
    seed: Date.now() % 1_000_000_007, members: 3, timeLimitSeconds: 60, workloads: ['register'], nemeses: [],
    concurrency: 6, rate: 50, target: 'keel', etcdVersion: '3.5', endpoints: [], out: undefined, net: 'auto',
    opTimeoutMs: 3000, quietSeconds: 5,
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string => {
      if (eq > 0) return raw.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag.replace(/^-+/, '--')) {
      case '--seed': o.seed = int(value(), flag, 0, Number.MAX_SAFE_INTEGER); break;
      case '--members': o.members = int(value(), flag, 3, 5) === 5 ? 5 : 3; break;
      case '--time-limit': o.timeLimitSeconds = int(value(), flag, 5, timeLimitSecondsMax); break;
      case '--workload': o.workloads = list(value(), workloadNames, 'workload'); break;
      case '--nemesis': o.nemeses = list(value(), nemesisKinds, 'nemesis'); break;
      case '--concurrency': o.concurrency = int(value(), flag, 1, concurrencyMax); break;
      case '--rate': o.rate = int(value(), flag, 1, 100_000); break;
      case '--target': o.target = list(value(), ['keel', 'etcd'] as const, 'target')[0] ?? 'keel'; break;
      case '--etcd-version': o.etcdVersion = list(value(), ['3.4', '3.5'] as const, 'etcd version')[0] ?? '3.5'; break;
      case '--endpoints': o.endpoints = value().split(',').filter((e) => e !== ''); break;
      case '--net': o.net = list(value(), ['auto', 'netns', 'loopback'] as const, 'net')[0] ?? 'auto'; break;
      case '--op-timeout': o.opTimeoutMs = int(value(), flag, 100, 600_000); break;
      case '--quiet': o.quietSeconds = int(value(), flag, 0, 3600); break;
      case '--out': o.out = path.resolve(value()); break;
      default: throw new UsageError(`unknown flag ${raw}`);
    }
  }
  if (o.members !== 3 && o.members !== 5) throw new UsageError('--members must be 3 or 5');
  if (o.workloads.length === 0) throw new UsageError('--workload needs at least one workload');
  if (o.endpoints.length > 0 && o.nemeses.length > 0) throw new UsageError('--endpoints runs against a cluster this run does not own: no --nemesis');
  if (o.out === undefined) {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
    o.out = path.join(repoRoot, 'jepsen', 'runs', `${stamp}-${o.seed}`);
  }
  return o;
}
