// Child process of the WAL crash tests: opens the WAL in argv[2] and writes
// random plans (test/storage/raft-model.ts) until it is killed, or until
// argv[5] writes are done (then it closes the WAL and exits 0). Before each
// write it appends "try <digest>" to the trace file argv[4], after it
// "ack <digest>" (writeSync to a file survives SIGKILL; a pipe may not).
// Like cmd/, it is a door to the process: KEEL_FAILPOINTS and
// KEEL_FAILPOINT_PROBABILITY install failpoints that SIGKILL it.
import { openSync, writeSync } from 'node:fs';
import { installFailpoints } from '../../src/util';
import { WalStorage } from '../../src/wal';
import { Rng } from '../helpers/random';
import { crashWalOptions } from './wal-helpers';
import { applyToModel, applyToStorage, bootstrapConfState, digest, modelFrom, plan, type OpKind } from '../storage/raft-model';


async function main(): Promise<void> {
  const [dir, seedArg, tracePath, maxArg] = process.argv.slice(2);
  if (dir === undefined || tracePath === undefined) throw new Error('usage: wal-crash-child <dir> <seed> <trace file> [max writes]');
  installFailpoints({
    spec: process.env['KEEL_FAILPOINTS'] ?? '',
    probability: process.env['KEEL_FAILPOINT_PROBABILITY'],
    random: Math.random,
    kill: () => process.kill(process.pid, 'SIGKILL'),
  });
  const trace = openSync(tracePath, 'w');
  const line = (s: string): void => {
    writeSync(trace, s + '\n');
  };
  const rng = new Rng(Number(seedArg ?? '1'));
  const max = maxArg === undefined ? Infinity : Number(maxArg);
  const s = await WalStorage.open(dir, bootstrapConfState, crashWalOptions);
  const model = modelFrom(s);
  line(`open ${digest(s)}`);
  process.stdout.write('ready\n');
  for (let n = 0; n < max; ) {
    const kind = rng.weighted<OpKind>([[8, 'save'], [1, 'recv'], [2, 'create']]);
    const p = plan(model, { kind, a: rng.u32(), b: rng.u32(), c: rng.u32(), d: rng.u32(), e: rng.u32() }, 40);
    if (p.t === 'none') continue;
    applyToModel(model, p);
    const want = digest(model.m);
    line(`try ${want}`);
    await applyToStorage(s, p);
    line(`ack ${want}`);
    n++;
  }
  await s.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`wal crash child failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
