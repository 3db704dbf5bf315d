// Child process of the raft log crash test: opens the log in argv[2] and
// writes random plans as fast as it can until it is killed. Before each write
// it appends "try <digest>" (the log's fingerprint once the write is done) to
// the trace file argv[4], and after it "ack <digest>", so the parent knows
// which states a reopen may show. The trace is written with writeSync to a
// file: a line whose write() returned survives SIGKILL, whereas stdout to a
// pipe may queue in the process when the pipe is full and die with it.
import { openSync, writeSync } from 'node:fs';
import { DurableRaftStorage } from '../../src/storage';
import { Rng } from '../helpers/random';
import { applyToModel, applyToStorage, bootstrapConfState, digest, modelFrom, plan, type OpKind } from './raft-model';

async function main(): Promise<void> {
  const dir = process.argv[2];
  const seed = Number(process.argv[3] ?? '1');
  const tracePath = process.argv[4];
  if (dir === undefined || tracePath === undefined) throw new Error('usage: raft-crash-child <dir> <seed> <trace file>');
  const trace = openSync(tracePath, 'w');
  const line = (s: string): void => {
    writeSync(trace, s + '\n');
  };
  const rng = new Rng(seed);
  const s = await DurableRaftStorage.open(dir, bootstrapConfState);
  const model = modelFrom(s);
  line(`open ${digest(s)}`);
  // Tells the parent to start its kill timer.
  process.stdout.write('ready\n');
  for (;;) {
    const kind = rng.weighted<OpKind>([[8, 'save'], [1, 'recv'], [2, 'create']]);
    const p = plan(model, { kind, a: rng.u32(), b: rng.u32(), c: rng.u32(), d: rng.u32(), e: rng.u32() }, 40);
    if (p.t === 'none') continue;
    applyToModel(model, p);
    const want = digest(model.m);
    line(`try ${want}`);
    await applyToStorage(s, p);
    line(`ack ${want}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`crash child failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
