// Child process of the raft log crash test: opens the log in argv[2] and
// writes random plans as fast as it can until it is killed. Before each write
// it prints "try <digest>" (the log's fingerprint once the write is done) and
// after it "ack <digest>", so the parent knows which states a reopen may show.
// Stdout to a pipe is synchronous on Linux: a printed line was printed.
import { DurableRaftStorage } from '../../src/storage';
import { Rng } from '../helpers/random';
import { applyToModel, applyToStorage, bootstrapConfState, digest, modelFrom, plan, type OpKind } from './raft-model';

async function main(): Promise<void> {
  const dir = process.argv[2];
  const seed = Number(process.argv[3] ?? '1');
  if (dir === undefined) throw new Error('usage: raft-crash-child <dir> <seed>');
  const rng = new Rng(seed);
  const s = await DurableRaftStorage.open(dir, bootstrapConfState);
  const model = modelFrom(s);
  process.stdout.write(`open ${digest(s)}\n`);
  for (;;) {
    const kind = rng.weighted<OpKind>([[8, 'save'], [1, 'recv'], [2, 'create']]);
    const p = plan(model, { kind, a: rng.u32(), b: rng.u32(), c: rng.u32(), d: rng.u32(), e: rng.u32() }, 40);
    if (p.t === 'none') continue;
    applyToModel(model, p);
    const want = digest(model.m);
    process.stdout.write(`try ${want}\n`);
    await applyToStorage(s, p);
    process.stdout.write(`ack ${want}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`crash child failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
