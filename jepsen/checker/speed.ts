// How fast checkLinearizable decides register histories of 1,000, 10,000 and
// 100,000 operations: several keys or one hot key, 10 concurrent processes,
// with and without 10% indeterminate operations. The histories are simulated
// (seeded): each op takes effect at a random instant between its invocation
// and completion, so every one is linearizable and the checker must search
// its way to that answer. Wall time depends on the machine's load; the
// process's CPU time is printed beside it.
// Run: node dist/jepsen/checker/speed.js [--quick]
import * as os from 'node:os';
import { SeededRandom } from '../../src/util';
import type { HistoryOp } from '../history';
import { checkLinearizable } from './linearizable';

interface Shape {
  ops: number;
  keys: number;
  processes: number;
  infoFraction: number;
}

interface Pending {
  process: number;
  thread: number;
  f: 'read' | 'write' | 'cas';
  key: number;
  start: number;
  effect: number;
  end: number;
  value: unknown;
  result: unknown;
  outcome: 'ok' | 'fail' | 'info';
}

/** Simulates `shape.ops` operations; returns the history in event order. */
export function simulate(shape: Shape, seed: number): HistoryOp[] {
  const rnd = new SeededRandom(seed);
  const clock = new Array<number>(shape.processes).fill(0);
  const process = Array.from({ length: shape.processes }, (_, i) => i);
  const ops: Pending[] = [];
  for (let i = 0; i < shape.ops; i++) {
    const thread = rnd.intBelow(shape.processes);
    const start = clock[thread]! + 1 + rnd.intBelow(20);
    const effect = start + rnd.intBelow(40);
    const end = effect + 1 + rnd.intBelow(40);
    clock[thread] = end;
    const pick = rnd.intBelow(10);
    const f = pick < 5 ? 'read' : pick < 8 ? 'write' : 'cas';
    const info = rnd.intBelow(1000) < shape.infoFraction * 1000;
    ops.push({ process: process[thread]!, thread, f, key: rnd.intBelow(shape.keys), start, effect, end, value: null, result: undefined, outcome: info ? 'info' : 'ok' });
    if (info) process[thread]! += shape.processes;
  }
  applyEffects(ops, rnd);
  return toHistory(ops);
}

function applyEffects(ops: Pending[], rnd: SeededRandom): void {
  const state = new Map<number, number | null>();
  let counter = 1;
  for (const op of [...ops].sort((a, b) => a.effect - b.effect)) {
    const cur = state.get(op.key) ?? null;
    // Half the indeterminate ops take effect.
    const applies = op.outcome === 'ok' || rnd.intBelow(2) === 0;
    if (op.f === 'read') {
      op.result = cur;
    } else if (op.f === 'write') {
      op.value = counter++;
      if (applies) state.set(op.key, op.value as number);
    } else {
      const expected = rnd.intBelow(2) === 0 ? cur : counter - 1 - rnd.intBelow(3);
      op.value = [expected, counter++];
      if (cur === expected && applies) state.set(op.key, (op.value as number[])[1]!);
      else if (op.outcome === 'ok') op.outcome = 'fail';
    }
  }
}

function toHistory(ops: readonly Pending[]): HistoryOp[] {
  const events: Array<{ t: number; op: Pending; invoke: boolean }> = [];
  for (const op of ops) {
    events.push({ t: op.start, op, invoke: true });
    events.push({ t: op.end, op, invoke: false });
  }
  events.sort((a, b) => a.t - b.t || Number(b.invoke) - Number(a.invoke));
  return events.map((e, index) => {
    const h: HistoryOp = { index, type: e.invoke ? 'invoke' : e.op.outcome, process: e.op.process, f: e.op.f, key: `k${e.op.key}`, timeNs: e.t * 1000 };
    h.value = e.invoke ? e.op.value : e.op.outcome === 'ok' && e.op.f === 'read' ? e.op.result : e.op.value;
    if (!e.invoke && e.op.outcome === 'info') h.error = 'timeout';
    return h;
  });
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const sizes = quick ? [1000, 10_000] : [1000, 10_000, 100_000];
  console.log(`# checkLinearizable speed — ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, Node ${process.version}`);
  console.log('| operations | keys | processes | indeterminate | verdict | configurations | wall ms | cpu ms |');
  console.log('|---:|---:|---:|---:|---|---:|---:|---:|');
  for (const ops of sizes) {
    for (const keys of [10, 1]) {
      for (const infoFraction of [0, 0.1]) {
        const history = simulate({ ops, keys, processes: 10, infoFraction }, 7);
        const started = process.hrtime.bigint();
        const cpu = process.cpuUsage();
        const r = checkLinearizable(history, { model: 'cas-register', timeLimitMs: 300_000 });
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const used = process.cpuUsage(cpu);
        const cpuMs = (used.user + used.system) / 1000;
        const verdict = r.valid === 'unknown' ? `unknown (${r.unknownReason ?? ''})` : String(r.valid);
        console.log(`| ${ops} | ${keys} | 10 | ${infoFraction * 100}% | ${verdict} | ${r.stats['configurations']} | ${ms.toFixed(0)} | ${cpuMs.toFixed(0)} |`);
      }
    }
  }
}

if (require.main === module) main();
