// One SVG timeline around an anomaly: a lane per process, each operation a
// bar from invocation to completion coloured by outcome, fault windows
// shaded behind, the offending operations outlined, every bar with hover
// text. Self-contained markup: no script, no external asset.
import { limits } from '../../src/util';
import type { HistoryOp } from '../history';
import type { Anomaly } from '../checker/result';
import type { FaultWindow } from './summary';

export interface OpPair {
  invoke: HistoryOp;
  complete: HistoryOp | undefined;
}

export const colours = { ok: '#2f9e62', fail: '#d64545', info: '#e8a33d', pending: '#9aa0a6', offending: '#5b2dbd', fault: '#d64545' };

const width = 1160;
const laneHeight = 26;
const left = 110;
const right = 20;
const top = 34;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function endNs(p: OpPair, horizon: number): number {
  return p.complete === undefined || p.complete.type === 'info' ? horizon : p.complete.timeNs;
}

function outcome(p: OpPair): 'ok' | 'fail' | 'info' | 'pending' {
  if (p.complete === undefined || p.complete.type === 'invoke') return 'pending';
  return p.complete.type;
}

/** The offending ops (details.offending, else anomaly.ops) and every op the anomaly names. */
function focusOf(a: Anomaly): { offending: Set<number>; named: Set<number> } {
  const off = a.details?.['offending'];
  const offending = new Set(Array.isArray(off) ? (off as number[]) : a.ops);
  return { offending, named: new Set([...a.ops, ...offending]) };
}

function isIn(p: OpPair, set: ReadonlySet<number>): boolean {
  return set.has(p.invoke.index) || (p.complete !== undefined && set.has(p.complete.index));
}

/** The ops drawn: the named ones, then those overlapping their span, nearest first, up to the limit. */
function chooseOps(pairs: readonly OpPair[], a: Anomaly, named: ReadonlySet<number>): { ops: OpPair[]; t0: number; t1: number } {
  const focus = pairs.filter((p) => isIn(p, named));
  const lastNs = pairs.reduce((m, p) => Math.max(m, p.complete?.timeNs ?? p.invoke.timeNs), 0);
  let t0 = focus.reduce((m, p) => Math.min(m, p.invoke.timeNs), Infinity);
  let t1 = focus.reduce((m, p) => Math.max(m, p.complete?.timeNs ?? p.invoke.timeNs), -Infinity);
  if (!Number.isFinite(t0)) return { ops: [], t0: 0, t1: 1 };
  const pad = Math.max((t1 - t0) * 0.15, 1_000_000);
  t0 = Math.max(0, t0 - pad);
  t1 = Math.min(Math.max(lastNs, t1), t1 + pad);
  const sameKey = (p: OpPair): boolean => a.key === undefined || p.invoke.key === a.key;
  const mid = (t0 + t1) / 2;
  const others = pairs
    .filter((p) => !isIn(p, named) && sameKey(p) && p.invoke.timeNs <= t1 && endNs(p, t1) >= t0)
    .sort((x, y) => Math.abs(x.invoke.timeNs - mid) - Math.abs(y.invoke.timeNs - mid));
  const room = Math.max(0, limits.jepsenReportTimelineOpsMax - focus.length);
  return { ops: [...focus, ...others.slice(0, room)], t0, t1 };
}

function label(p: OpPair): string {
  const v = p.complete?.type === 'ok' && p.invoke.f === 'read' ? p.complete.value : p.invoke.value;
  if (p.invoke.f === 'read') return `r ${short(v)}`;
  if (p.invoke.f === 'write') return `w ${short(v)}`;
  if (p.invoke.f === 'cas' && Array.isArray(v)) return `cas ${short(v[0])}→${short(v[1])}`;
  if (p.invoke.f === 'txn' && Array.isArray(v)) return `txn ${v.length} ops`;
  return p.invoke.f;
}

function short(v: unknown): string {
  const s = JSON.stringify(v ?? null);
  return s.length > 18 ? `${s.slice(0, 16)}…` : s;
}

function hover(p: OpPair): string {
  const c = p.complete;
  const lines = [
    `${p.invoke.f} #${p.invoke.index}${c ? `→${c.index}` : ' (never completed)'} · process ${p.invoke.process} · ${outcome(p)}`,
    p.invoke.key !== undefined ? `key ${JSON.stringify(p.invoke.key)}` : '',
    `invoked ${ms(p.invoke.timeNs)}${c ? `, completed ${ms(c.timeNs)} (${((c.timeNs - p.invoke.timeNs) / 1e6).toFixed(2)} ms)` : ''}`,
    `value at invoke: ${JSON.stringify(p.invoke.value ?? null)}`,
    c?.type === 'ok' ? `result: ${JSON.stringify(c.value ?? null)}` : '',
    c?.error !== undefined ? `error: ${c.error}` : '',
    p.invoke.node !== undefined || c?.node !== undefined ? `node ${c?.node ?? p.invoke.node}` : '',
    c?.revision !== undefined ? `revision ${c.revision}` : '',
  ];
  return lines.filter((l) => l !== '').join('\n');
}

export function ms(ns: number): string {
  return `${(ns / 1e6).toFixed(ns < 1e9 ? 2 : 0)} ms`;
}

/** The SVG for one anomaly. */
export function timelineSvg(pairs: readonly OpPair[], a: Anomaly, faults: readonly FaultWindow[]): string {
  const { offending, named } = focusOf(a);
  const { ops, t0, t1 } = chooseOps(pairs, a, named);
  const focusProcs = new Set(ops.filter((p) => isIn(p, named)).map((p) => p.invoke.process));
  const procs = [...new Set(ops.map((p) => p.invoke.process))].sort((x, y) => Number(focusProcs.has(y)) - Number(focusProcs.has(x)) || x - y).slice(0, limits.jepsenReportLanesMax).sort((x, y) => x - y);
  const lane = new Map(procs.map((p, i) => [p, i]));
  const height = top + procs.length * laneHeight + 44;
  const span = Math.max(1, t1 - t0);
  const x = (t: number): number => left + ((Math.min(Math.max(t, t0), t1) - t0) / span) * (width - left - right);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="timeline of ${escapeHtml(a.kind)}">`);
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  procs.forEach((p, i) => {
    const y = top + i * laneHeight;
    parts.push(`<rect x="${left}" y="${y}" width="${width - left - right}" height="${laneHeight}" fill="${i % 2 === 0 ? '#f6f7f9' : '#ffffff'}"/>`);
    parts.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end" class="lane">process ${p}</text>`);
  });
  for (const f of faults) {
    if (f.endNs < t0 || f.startNs > t1) continue;
    const fx = x(f.startNs);
    const fw = Math.max(2, x(f.endNs) - fx);
    parts.push(`<g class="fault"><rect x="${fx.toFixed(1)}" y="${top - 14}" width="${fw.toFixed(1)}" height="${procs.length * laneHeight + 14}" fill="${colours.fault}" fill-opacity="0.10" stroke="${colours.fault}" stroke-opacity="0.35" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${(fx + 4).toFixed(1)}" y="${top - 4}" class="fault-label">${escapeHtml(f.kind)}${f.detail !== undefined ? ` ${escapeHtml(f.detail)}` : ''}</text><title>${escapeHtml(`${f.kind} ${f.detail ?? ''}\n${ms(f.startNs)} – ${ms(f.endNs)}`)}</title></g>`);
  }
  for (const p of ops) if (isIn(p, offending)) parts.push(offendingBand(p, x, t1, procs.length, a));
  for (const p of ops) {
    const i = lane.get(p.invoke.process);
    if (i === undefined) continue;
    parts.push(bar(p, i, x, t1, offending.has(p.invoke.index) || (p.complete !== undefined && offending.has(p.complete.index)), isIn(p, named)));
  }
  parts.push(axis(t0, t1, x, top + procs.length * laneHeight));
  parts.push('</svg>');
  return parts.join('\n');
}

/** A band across every lane over the offending op's interval, labelled, so the eye finds it first. */
function offendingBand(p: OpPair, x: (t: number) => number, t1: number, lanes: number, a: Anomaly): string {
  const x0 = x(p.invoke.timeNs);
  const w = Math.max(3, x(endNs(p, t1)) - x0);
  const h = lanes * laneHeight;
  const text = `✗ ${label(p)} by process ${p.invoke.process}`;
  const anchor = x0 > width / 2 ? 'end' : 'start';
  const tx = anchor === 'end' ? x0 + w : x0;
  return `<g class="offending-band"><rect x="${x0.toFixed(1)}" y="${top}" width="${w.toFixed(1)}" height="${h}" fill="${colours.offending}" fill-opacity="0.10"/><line x1="${(x0 + w).toFixed(1)}" y1="${top - 2}" x2="${(x0 + w).toFixed(1)}" y2="${top + h}" stroke="${colours.offending}" stroke-opacity="0.6" stroke-dasharray="2 2"/><text x="${tx.toFixed(1)}" y="${top + h + 28}" text-anchor="${anchor}" class="offending-label">${escapeHtml(text)} — ${escapeHtml(a.kind)}</text></g>`;
}

function bar(p: OpPair, laneIndex: number, x: (t: number) => number, t1: number, offending: boolean, named: boolean): string {
  const kind = outcome(p);
  const y = top + laneIndex * laneHeight + 5;
  const x0 = x(p.invoke.timeNs);
  const w = Math.max(3, x(endNs(p, t1)) - x0);
  const open = kind === 'info' || kind === 'pending';
  const stroke = offending ? `stroke="${colours.offending}" stroke-width="3"` : named ? `stroke="${colours.offending}" stroke-width="1.5" stroke-dasharray="3 2"` : open ? `stroke="#7a5a1f" stroke-width="1" stroke-dasharray="5 3"` : '';
  const cls = `op ${kind}${offending ? ' offending' : named ? ' named' : ''}`;
  const complete = p.complete !== undefined ? ` data-complete="${p.complete.index}"` : '';
  const text = w > 34 ? `<text x="${(x0 + 4).toFixed(1)}" y="${y + 12}" class="op-label${open ? ' dark' : ''}">${escapeHtml(label(p))}</text>` : '';
  return `<g class="${cls}" data-invoke="${p.invoke.index}"${complete} data-process="${p.invoke.process}"><title>${escapeHtml(hover(p))}</title><rect x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${laneHeight - 10}" rx="3" fill="${colours[kind]}" fill-opacity="${open ? 0.35 : 1}" ${stroke}/>${text}</g>`;
}

function axis(t0: number, t1: number, x: (t: number) => number, y: number): string {
  const ticks: string[] = [`<line x1="${left}" y1="${y}" x2="${width - right}" y2="${y}" stroke="#888"/>`];
  for (let i = 0; i <= 5; i++) {
    const t = t0 + ((t1 - t0) * i) / 5;
    ticks.push(`<line x1="${x(t).toFixed(1)}" y1="${y}" x2="${x(t).toFixed(1)}" y2="${y + 5}" stroke="#888"/><text x="${x(t).toFixed(1)}" y="${y + 18}" text-anchor="middle" class="tick">${ms(t)}</text>`);
  }
  return ticks.join('');
}

/** The whole run at a glance: completions per time bucket, stacked by outcome, fault windows shaded. */
export function overviewSvg(pairs: readonly OpPair[], faults: readonly FaultWindow[], lastNs: number): string {
  const buckets = 120;
  const h = 90;
  const span = Math.max(1, lastNs);
  const counts = Array.from({ length: buckets }, () => ({ ok: 0, fail: 0, info: 0 }));
  for (const p of pairs) {
    if (p.complete === undefined || p.complete.type === 'invoke') continue;
    const b = Math.min(buckets - 1, Math.floor((p.complete.timeNs / span) * buckets));
    counts[b]![p.complete.type]++;
  }
  const max = Math.max(1, ...counts.map((c) => c.ok + c.fail + c.info));
  const plotW = width - left - right;
  const bw = plotW / buckets;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" class="overview" width="${width}" height="${h + 24}" viewBox="0 0 ${width} ${h + 24}">`, `<rect x="0" y="0" width="${width}" height="${h + 24}" fill="#ffffff"/>`];
  for (const f of faults) {
    const fx = left + (f.startNs / span) * plotW;
    const fw = Math.max(2, ((f.endNs - f.startNs) / span) * plotW);
    parts.push(`<rect x="${fx.toFixed(1)}" y="0" width="${fw.toFixed(1)}" height="${h}" fill="${colours.fault}" fill-opacity="0.12"><title>${escapeHtml(`${f.kind} ${f.detail ?? ''} ${ms(f.startNs)} – ${ms(f.endNs)}`)}</title></rect>`);
  }
  counts.forEach((c, i) => {
    let y = h;
    for (const k of ['ok', 'fail', 'info'] as const) {
      const bh = (c[k] / max) * (h - 6);
      if (bh <= 0) continue;
      y -= bh;
      parts.push(`<rect x="${(left + i * bw).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${bh.toFixed(1)}" fill="${colours[k]}"/>`);
    }
  });
  parts.push(`<text x="${left - 8}" y="${h / 2}" text-anchor="end" class="lane">completions</text>`);
  parts.push(`<text x="${left}" y="${h + 16}" class="tick">0</text><text x="${width - right}" y="${h + 16}" text-anchor="end" class="tick">${ms(lastNs)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
