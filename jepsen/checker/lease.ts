// Leases: a lease's keys disappear only by revoke, or once its TTL has run
// out since the last acknowledged keepalive (or the grant) was sent, and then
// all together; once gone they never come back. Times are the runner's
// monotonic clock: a keepalive's renewal happened after its invocation, so
// invocation + TTL is the earliest moment the server may expire it.
import type { HistoryOp } from '../history';
import { pairOps } from '../history';
import { workloadOf } from '../recorder';
import type { Anomaly, CheckResult } from './result';

interface LeaseLife {
  id: string;
  /** Earliest moment (ns) the lease may expire, from acknowledged grant/keepalives. */
  aliveUntilNs: number;
  /** Keys put with the lease and acknowledged, and when the put completed. */
  keys: Set<string>;
  putDoneNs: number;
  /** Earliest invocation of any revoke of the lease. */
  revokeNs: number;
  reads: Array<{ inv: HistoryOp; ok: HistoryOp; present: string[] }>;
  zeroTtl: Array<{ inv: HistoryOp; ok: HistoryOp }>;
}

const nsPerSecond = 1e9;

export function checkLease(history: readonly HistoryOp[]): CheckResult {
  const started = Date.now();
  const lives = collect(history.filter((op) => workloadOf(op) === 'lease'));
  const anomalies: Anomaly[] = [];
  let reads = 0;
  for (const l of lives.values()) reads += checkOne(l, anomalies);
  return { checker: 'lease', valid: anomalies.length === 0, anomalies, stats: { leases: lives.size, reads, ms: Date.now() - started } };
}

function leaseOf(op: HistoryOp): string | undefined {
  const v = op.extra?.['lease'];
  return typeof v === 'string' ? v : undefined;
}

function collect(ops: readonly HistoryOp[]): Map<string, LeaseLife> {
  const lives = new Map<string, LeaseLife>();
  const life = (id: string): LeaseLife => {
    let l = lives.get(id);
    if (l === undefined) {
      l = { id, aliveUntilNs: 0, keys: new Set(), putDoneNs: Number.POSITIVE_INFINITY, revokeNs: Number.POSITIVE_INFINITY, reads: [], zeroTtl: [] };
      lives.set(id, l);
    }
    return l;
  };
  for (const { invoke, complete } of pairOps(ops)) {
    if (invoke.f === 'grant') {
      if (complete?.type !== 'ok') continue;
      const v = complete.value as { id: string; ttl: number };
      const l = life(v.id);
      l.aliveUntilNs = Math.max(l.aliveUntilNs, invoke.timeNs + v.ttl * nsPerSecond);
      continue;
    }
    const id = leaseOf(invoke);
    if (id === undefined) continue;
    const l = life(id);
    if (invoke.f === 'revoke') l.revokeNs = Math.min(l.revokeNs, invoke.timeNs);
    if (complete?.type !== 'ok') continue;
    if (invoke.f === 'put') {
      for (const k of complete.value as string[]) l.keys.add(k);
      l.putDoneNs = complete.timeNs;
    } else if (invoke.f === 'keepalive') {
      const ttl = Number(complete.value);
      if (ttl > 0) l.aliveUntilNs = Math.max(l.aliveUntilNs, invoke.timeNs + ttl * nsPerSecond);
      else l.zeroTtl.push({ inv: invoke, ok: complete });
    } else if (invoke.f === 'read') {
      l.reads.push({ inv: invoke, ok: complete, present: complete.value as string[] });
    }
  }
  return lives;
}

function checkOne(l: LeaseLife, out: Anomaly[]): number {
  let goneAt: HistoryOp | undefined;
  let n = 0;
  for (const r of l.reads) {
    if (r.inv.timeNs < l.putDoneNs || l.keys.size === 0) continue;
    n++;
    const present = r.present.filter((k) => l.keys.has(k));
    if (present.length > 0 && present.length < l.keys.size) {
      out.push({ kind: 'lease-partial-expiry', ops: [r.ok.index], explanation: `lease ${l.id}: a read saw ${present.length} of its ${l.keys.size} keys; a lease's keys go all together` });
    }
    if (present.length === 0) {
      if (r.ok.timeNs < l.aliveUntilNs && r.ok.timeNs < l.revokeNs) {
        out.push({ kind: 'lease-early-expiry', ops: [r.ok.index], explanation: `lease ${l.id}: its keys were gone ${((l.aliveUntilNs - r.ok.timeNs) / 1e6).toFixed(0)} ms before its TTL could have run out since the last acknowledged keepalive, and nobody revoked it` });
      }
      if (goneAt === undefined || r.ok.timeNs < goneAt.timeNs) goneAt = r.ok;
    } else if (goneAt !== undefined && r.inv.timeNs > goneAt.timeNs) {
      out.push({ kind: 'lease-keys-returned', ops: [goneAt.index, r.ok.index], explanation: `lease ${l.id}: its keys were gone, then a later read saw them again` });
    }
  }
  for (const z of l.zeroTtl) {
    if (z.ok.timeNs < l.aliveUntilNs && z.ok.timeNs < l.revokeNs) {
      out.push({ kind: 'lease-early-expiry', ops: [z.ok.index], explanation: `lease ${l.id}: a keepalive answered TTL 0 (lease gone) ${((l.aliveUntilNs - z.ok.timeNs) / 1e6).toFixed(0)} ms before its TTL could have run out, and nobody revoked it` });
    }
  }
  return n;
}
