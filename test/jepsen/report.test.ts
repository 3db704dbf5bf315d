// The report: summary.txt and results.json always, report.html for a
// violation — self-contained, and rendered by a real headless Chromium
// (Debian's `chromium` package) whose DOM must hold the offending ops and
// whose screenshot must show them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkLinearizable } from '../../jepsen/checker/linearizable';
import { checkListAppend } from '../../jepsen/checker/list-append';
import type { HistoryOp } from '../../jepsen/history';
import { writeReport } from '../../jepsen/report';
import { colours } from '../../jepsen/report/timeline';
import { isCI, which } from '../helpers/procs';
import { HistoryBuilder } from './builder';
import { opSpecArb, simulateRegister } from './gen';
import { countColour, distinctColours, readPng } from './png';

const chromium = which('chromium') ?? which('chromium-browser');
const noChromium = chromium === undefined ? 'Debian\'s chromium is not installed (apt-get install -y chromium)' : false;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'keel-jepsen-report-'));
}

/** A simulated 5-process register run (fixed seed) with one read made stale inside a fault window. */
function violatingRun(): { history: HistoryOp[]; staleRead: number; faults: Array<{ startNs: number; endNs: number; kind: string; detail?: string }> } {
  const [specs] = fc.sample(fc.array(opSpecArb({ threads: 5, keys: 1, values: 4, infoWeight: 6 }), { minLength: 160, maxLength: 160 }), { seed: 13, numRuns: 1 });
  const history = simulateRegister(specs!, { threads: 5, unique: true, model: 'cas-register' });
  const open = new Map<number, HistoryOp>();
  const writes: Array<{ invoke: HistoryOp; complete: HistoryOp }> = [];
  for (const op of history) {
    if (op.type === 'invoke') open.set(op.process, op);
    else if (op.type === 'ok' && op.f === 'write') writes.push({ invoke: open.get(op.process)!, complete: op });
    if (op.type === 'ok' && op.f === 'read' && op.index > history.length / 2) {
      const before = writes.filter((w) => w.complete.index < open.get(op.process)!.index);
      const old = before.find((w) => before.some((w2) => w.complete.index < w2.invoke.index));
      if (old === undefined) continue;
      op.value = old.invoke.value;
      const at = op.timeNs;
      return { history, staleRead: op.index, faults: [{ startNs: at - 40_000, endNs: at + 20_000, kind: 'pause', detail: 'n2 (SIGSTOP)' }, { startNs: 1000, endNs: 30_000, kind: 'partition', detail: 'n1 | n2 n3' }] };
    }
  }
  throw new Error('the fixed seed gave no read to make stale');
}

test('a valid run writes summary.txt and results.json, and no HTML', () => {
  const h = new HistoryBuilder();
  h.write(0, 1);
  h.read(1, 1);
  const dir = tempDir();
  const results = [checkLinearizable(h.ops, { model: 'cas-register' })];
  const out = writeReport(dir, { history: h.ops, results, faults: [], meta: { name: 'tiny' } });
  assert.equal(out.htmlFile, undefined);
  assert.ok(out.summaryText.startsWith('keel jepsen: VALID\nrun: tiny\n'));
  assert.match(out.summaryText, /operations: 2 by 2 processes — ok 2, fail 0, info 0, never completed 0/);
  assert.match(out.summaryText, /faults: none injected/);
  assert.equal(fs.readFileSync(path.join(dir, 'summary.txt'), 'utf8'), out.summaryText);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as { verdict: unknown; results: unknown[] };
  assert.equal(json.verdict, true);
  assert.equal(json.results.length, 1);
  assert.ok(!fs.existsSync(path.join(dir, 'report.html')));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a violation writes a self-contained report.html that marks the offending ops and shades the faults', () => {
  const { history, staleRead, faults } = violatingRun();
  const results = [checkLinearizable(history, { model: 'cas-register' }), checkListAppend(history, { realtime: true })];
  assert.equal(results[0]!.valid, false);
  const dir = tempDir();
  const out = writeReport(dir, { history, results, faults, meta: { name: 'register under pause', seed: 13 } });
  assert.ok(out.htmlFile !== undefined);
  assert.match(out.summaryText, /^keel jepsen: INVALID/);
  assert.match(out.summaryText, /faults: 2 windows, .* — pause ×1 .*, partition ×1/);
  assert.match(out.summaryText, /anomalies by kind: nonlinearizable \(linearizable\) ×1/);
  const html = fs.readFileSync(out.htmlFile, 'utf8');
  // Nothing to fetch: no script, stylesheet link, import, src/href or url(); no address but SVG's namespace name.
  assert.doesNotMatch(html, /<script|<link|@import|\b(?:src|href)=|url\(/);
  assert.doesNotMatch(html.split('xmlns="http://www.w3.org/2000/svg"').join(''), /https?:\/\//);
  const offending = results[0]!.anomalies[0]!.details!['offending'] as number[];
  assert.ok(offending.includes(staleRead));
  assert.match(html, new RegExp(`<g class="op ok offending" data-invoke="${offending[0]}" data-complete="${offending[1]}"`));
  assert.match(html, /<g class="fault">/);
  assert.match(html, /pause n2 \(SIGSTOP\)/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('report.html renders in headless Chromium: the DOM holds the marked ops, the screenshot shows them', { skip: isCI ? false : noChromium }, () => {
  assert.ok(chromium !== undefined, 'CI must have Debian\'s chromium package installed');
  const { history, faults } = violatingRun();
  const results = [checkLinearizable(history, { model: 'cas-register' })];
  const dir = tempDir();
  const { htmlFile } = writeReport(dir, { history, results, faults, meta: { name: 'register under pause' } });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-chromium-'));
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`];
  const url = `file://${htmlFile!}`;
  // A guard against a hung browser, not a measurement: the test waits for the process to exit.
  const dom = spawnSync(chromium!, [...flags, '--dump-dom', url], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(dom.status, 0, dom.stderr);
  const offending = results[0]!.anomalies[0]!.details!['offending'] as number[];
  assert.match(dom.stdout, new RegExp(`class="op ok offending" data-invoke="${offending[0]}"`));
  assert.ok((dom.stdout.match(/class="op /g) ?? []).length > 20, 'the timeline draws the ops around the violation');
  const shoot = (file: string, png: string): ReturnType<typeof readPng> => {
    const shot = spawnSync(chromium!, [...flags, `--screenshot=${png}`, '--window-size=1240,2400', '--hide-scrollbars', `file://${file}`], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(shot.status, 0, shot.stderr);
    return readPng(fs.readFileSync(png));
  };
  const png = path.join(dir, 'report.png');
  const img = shoot(htmlFile!, png);
  // KEEP_REPORT=file.png keeps the screenshot for a person to look at.
  if (process.env['KEEP_REPORT'] !== undefined) fs.copyFileSync(png, process.env['KEEP_REPORT']);
  assert.equal(img.width, 1240);
  assert.ok(distinctColours(img) > 50, 'the screenshot is not blank');
  assert.ok(countColour(img, colours.ok, 4) > 500, 'green ok bars are visible');
  // The same page without the offending ops' outline: the difference is the mark an engineer sees.
  const control = path.join(dir, 'control.html');
  const marked = `stroke="${colours.offending}" stroke-width="3"`;
  const html = fs.readFileSync(htmlFile!, 'utf8');
  assert.ok(html.includes(marked));
  fs.writeFileSync(control, html.split(marked).join(''));
  const plain = shoot(control, path.join(dir, 'control.png'));
  const purple = countColour(img, colours.offending, 4) - countColour(plain, colours.offending, 4);
  assert.ok(purple > 100, `the offending ops' outline is visible (${purple} pixels)`);
  fs.rmSync(profile, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});
