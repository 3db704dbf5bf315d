// The report of a run: summary.txt (read first), results.json (for tools) and,
// when a checker found a violation, report.html — a self-contained page
// (inline CSS and SVG, no script, no external asset) with a timeline around
// every anomaly.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { limits } from '../../src/util';
import { pairOps, type HistoryOp } from '../history';
import { combineVerdicts, type CheckResult } from '../checker/result';
import { countOps, summaryText, verdictWord, type FaultWindow } from './summary';
import { colours, escapeHtml, overviewSvg, timelineSvg, type OpPair } from './timeline';

export type { FaultWindow } from './summary';
export { countOps, summaryText } from './summary';

export interface ReportInput {
  history: readonly HistoryOp[];
  results: readonly CheckResult[];
  faults: ReadonlyArray<FaultWindow>;
  meta: Record<string, unknown>;
}

export function writeReport(dir: string, input: ReportInput): { summaryText: string; htmlFile: string | undefined } {
  fs.mkdirSync(dir, { recursive: true });
  const text = summaryText(input.history, input.results, input.faults, input.meta);
  fs.writeFileSync(path.join(dir, 'summary.txt'), text);
  const json = { verdict: combineVerdicts(input.results), meta: input.meta, counts: countOps(input.history), faults: input.faults, results: input.results };
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(json, null, 2) + '\n');
  if (!input.results.some((r) => r.valid === false)) return { summaryText: text, htmlFile: undefined };
  const htmlFile = path.join(dir, 'report.html');
  fs.writeFileSync(htmlFile, reportHtml(input));
  return { summaryText: text, htmlFile };
}

function safePairs(history: readonly HistoryOp[]): OpPair[] {
  try {
    return pairOps(history);
  } catch {
    return [];
  }
}

const css = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#eef0f3;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:20px;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:700;margin-left:10px;font-size:14px}
.badge.invalid{background:#d64545}.badge.valid{background:#2f9e62}.badge.unknown{background:#e8a33d;color:#1d2330}
main{padding:18px 28px;max-width:1200px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:0 0 18px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:16px;margin:0 0 10px}
table{border-collapse:collapse}td,th{padding:3px 12px 3px 0;text-align:left;vertical-align:top}th{color:#5b6270;font-weight:600}
.kind{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f1ecfb;color:#5b2dbd;padding:1px 6px;border-radius:4px}
.explanation{margin:6px 0 12px;max-width:1100px}
.legend span{display:inline-block;margin-right:16px}.legend i{display:inline-block;width:14px;height:10px;border-radius:2px;margin-right:5px;vertical-align:middle}
svg text{font:11px system-ui,sans-serif;fill:#1d2330}svg .op-label{fill:#fff;font-weight:600;pointer-events:none}svg .op-label.dark{fill:#5a3f10}
svg .lane{fill:#5b6270}svg .offending-label{fill:#5b2dbd;font-weight:700;font-size:12px}svg .tick{fill:#5b6270}svg .fault-label{fill:#a12f2f;font-weight:600}
svg g.op:hover rect{filter:brightness(1.15);stroke:#1d2330;stroke-width:2}
pre{white-space:pre-wrap;font:12px ui-monospace,Menlo,Consolas,monospace;margin:0}
`;

function legend(): string {
  const item = (c: string, t: string, extra = ''): string => `<span><i style="background:${c};${extra}"></i>${t}</span>`;
  return `<div class="legend">${item(colours.ok, 'ok')}${item(colours.fail, 'fail')}${item(colours.info, 'info (indeterminate)')}${item(colours.pending, 'never completed')}${item('#fff', 'offending operation', `border:3px solid ${colours.offending}`)}${item(colours.fault, 'fault window', 'opacity:.25')}<span>hover a bar for its details</span></div>`;
}

function reportHtml(input: ReportInput): string {
  const pairs = safePairs(input.history);
  const verdict = combineVerdicts(input.results);
  const counts = countOps(input.history);
  const lastNs = input.history.reduce((m, op) => Math.max(m, op.timeNs), 0);
  const badge = verdict === true ? 'valid' : verdict === false ? 'invalid' : 'unknown';
  const title = String(input.meta['name'] ?? input.meta['workload'] ?? 'keel jepsen run');
  const out: string[] = [];
  out.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}: ${verdictWord(verdict)}</title><style>${css}</style></head><body>`);
  out.push(`<header><h1>${escapeHtml(title)}<span class="badge ${badge}">${verdictWord(verdict)}</span></h1></header><main>`);
  out.push(`<section><h2>Run</h2><table>`);
  out.push(row('operations', `${counts.operations} by ${counts.processes} processes: ok ${counts.ok}, fail ${counts.fail}, info ${counts.info}, never completed ${counts.pending}`));
  out.push(row('duration', `${(counts.durationNs / 1e9).toFixed(2)} s, ${counts.okPerSecond.toFixed(1)} ok ops/s`));
  out.push(row('faults', input.faults.length === 0 ? 'none' : input.faults.map((f) => `${f.kind}${f.detail !== undefined ? ` ${f.detail}` : ''} (${(f.startNs / 1e9).toFixed(2)}–${(f.endNs / 1e9).toFixed(2)} s)`).join('; ')));
  for (const [k, v] of Object.entries(input.meta)) out.push(row(k, typeof v === 'string' ? v : JSON.stringify(v)));
  out.push(`</table></section>`);
  out.push(`<section><h2>Checkers</h2><table><tr><th>checker</th><th>verdict</th><th>anomalies</th><th>stats</th></tr>`);
  for (const r of input.results) {
    const v = r.valid === true ? 'valid' : r.valid === false ? 'invalid' : `unknown: ${r.unknownReason ?? ''}`;
    out.push(`<tr><td>${escapeHtml(r.checker)}</td><td>${escapeHtml(v)}</td><td>${r.anomalies.map((a) => `<span class="kind">${escapeHtml(a.kind)}</span>`).join(' ')}</td><td>${escapeHtml(Object.entries(r.stats).map(([k, n]) => `${k} ${n}`).join(', '))}</td></tr>`);
  }
  out.push(`</table></section>`);
  out.push(`<section><h2>The whole run</h2>${overviewSvg(pairs, input.faults, lastNs)}</section>`);
  let drawn = 0;
  for (const r of input.results) {
    for (const a of r.anomalies) {
      if (drawn >= limits.jepsenReportTimelinesMax) break;
      drawn++;
      const key = a.key !== undefined ? ` on key <code>${escapeHtml(a.key)}</code>` : '';
      out.push(`<section class="anomaly" id="anomaly-${drawn}"><h2>${drawn}. <span class="kind">${escapeHtml(a.kind)}</span> found by ${escapeHtml(r.checker)}${key}</h2>`);
      out.push(`<p class="explanation">${escapeHtml(a.explanation)}</p>${legend()}${timelineSvg(pairs, a, input.faults)}</section>`);
    }
  }
  const total = input.results.reduce((s, r) => s + r.anomalies.length, 0);
  if (total > drawn) out.push(`<section><p>${total - drawn} further anomalies are listed in summary.txt and results.json.</p></section>`);
  out.push('</main></body></html>\n');
  return out.join('\n');
}

function row(k: string, v: string): string {
  return `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`;
}
