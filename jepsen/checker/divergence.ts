// Member divergence: after the heal every member must be at the same
// revision, and members at the same revision and compact revision must have
// the same HashKV. The runner records what it read from each member once
// their applied indexes agreed, as an op f='member-state' (etcd #18667 made
// members' revisions differ for good).
import type { HistoryOp } from '../history';
import type { Anomaly, CheckResult } from './result';

export interface MemberState {
  name: string;
  revision: number;
  appliedIndex: number;
  hash: number;
  compactRevision: number;
  hashRevision: number;
}

export function checkDivergence(history: readonly HistoryOp[]): CheckResult {
  const probe = [...history].reverse().find((op) => op.f === 'member-state' && op.type === 'ok');
  if (probe === undefined) {
    return { checker: 'divergence', valid: 'unknown', unknownReason: 'no member-state probe in the history (the healed cluster did not answer)', anomalies: [], stats: {} };
  }
  const members = (probe.value ?? []) as MemberState[];
  if (probe.extra?.['converged'] === false) {
    const seen = members.map((m) => `${m.name}: revision ${m.revision}, applied ${m.appliedIndex}`).join('; ');
    return { checker: 'divergence', valid: 'unknown', unknownReason: `the members' applied indexes never agreed after the heal (${seen})`, anomalies: [], stats: { members: members.length } };
  }
  const anomalies: Anomaly[] = [];
  const revisions = new Set(members.map((m) => m.revision));
  if (revisions.size > 1) {
    anomalies.push({ kind: 'divergence', ops: [probe.index], explanation: `after the heal the members' revisions differ: ${members.map((m) => `${m.name}=${m.revision}`).join(', ')}` });
  }
  const groups = new Map<string, MemberState[]>();
  for (const m of members) {
    const k = `${m.hashRevision}/${m.compactRevision}`;
    groups.set(k, [...(groups.get(k) ?? []), m]);
  }
  for (const [k, list] of groups) {
    if (new Set(list.map((m) => m.hash)).size > 1) {
      anomalies.push({ kind: 'divergence', ops: [probe.index], explanation: `HashKV at revision/compact ${k} differs: ${list.map((m) => `${m.name}=${m.hash}`).join(', ')}` });
    }
  }
  return { checker: 'divergence', valid: anomalies.length === 0, anomalies, stats: { members: members.length } };
}
