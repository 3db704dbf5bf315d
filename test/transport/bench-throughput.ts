// Measurements behind the transport's codec and framing choices (not a test):
//   node dist/test/transport/bench-throughput.js [seconds] [loopback]
// 1. codec: hand-written encode+decode vs msgpackr (records off, bigint IDs)
//    for the hot messages; 2. loopback: MsgApp with 10 entries of 256 B
//    from one transport to another, messages/s and MB/s at the receiver.
import { Packr } from 'msgpackr';
import { message, type Message } from '../../src/raft';
import { decodeMessage, encodeMessageToBuffer } from '../../src/transport';
import { app, closeAll, entries, heartbeat, startNode, turn, waitActive } from './helpers';

/** Calls of fn per second over one burst of ms. */
function burst(ms: number, fn: () => void): number {
  const start = performance.now();
  const deadline = start + ms;
  let n = 0;
  // Bounded by the deadline; checked every 200 calls to keep the clock out of the loop.
  while (performance.now() < deadline) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
  }
  return n / ((performance.now() - start) / 1000);
}

/**
 * Best burst of each candidate, the candidates interleaved: on a shared,
 * loaded host the best burst is the one least disturbed by other work.
 */
function compare(seconds: number, candidates: Array<[string, () => void]>): void {
  const rounds = 8;
  const best = candidates.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    candidates.forEach(([, fn], i) => { best[i] = Math.max(best[i] ?? 0, burst((seconds * 1000) / rounds / candidates.length, fn)); });
  }
  candidates.forEach(([label], i) => {
    console.log(`  ${label.padEnd(30)} ${Math.round(best[i] ?? 0).toLocaleString('en-US').padStart(12)} /s`);
  });
}

function codecBench(seconds: number): void {
  const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });
  const samples: Array<[string, Message]> = [
    ['MsgApp 10×256 B', app(1n, 0xfeedfacecafebeefn, 1000, entries(10, 256, 1001))],
    ['MsgAppResp', message({ type: 'MsgAppResp', from: 0xfeedfacecafebeefn, to: 1n, term: 3, index: 1010 })],
    ['MsgHeartbeat', heartbeat(1n, 0xfeedfacecafebeefn, 77)],
  ];
  for (const [name, m] of samples) {
    console.log(`${name}: ${encodeMessageToBuffer(m).length} B hand-written, ${packr.pack(m).length} B msgpackr`);
    compare(seconds, [
      ['hand-written encode+decode', () => {
        const b = encodeMessageToBuffer(m);
        decodeMessage(b, 0, b.length);
      }],
      ['msgpackr pack+unpack', () => { packr.unpack(packr.pack(m)); }],
    ]);
  }
}

async function loopbackBench(seconds: number): Promise<void> {
  let received = 0;
  const a = await startNode(1n, { keep: false });
  const b = await startNode(2n, { keep: false, onMessage: () => { received++; } });
  try {
    a.t.addPeer(2n, [b.url]);
    await waitActive(a, b);
    const ents = entries(10, 256);
    const bytesPerMsg = encodeMessageToBuffer(app(1n, 2n, 1, ents)).length + 5;
    const start = performance.now();
    const deadline = start + seconds * 1000;
    let index = 0;
    // One batch per turn, like a Ready loop; the queue bound decides what is sent (drops are counted).
    while (performance.now() < deadline) {
      const s = a.t.peerStats(2n);
      const room = Math.min(1000, 4096 - (s?.queuedMsgs ?? 0));
      const batch: Message[] = [];
      for (let i = 0; i < room; i++) batch.push(app(1n, 2n, ++index, ents));
      a.t.send(batch);
      await turn();
    }
    const elapsed = (performance.now() - start) / 1000;
    const perSecond = received / elapsed;
    console.log(`loopback MsgApp 10×256 B: ${Math.round(perSecond).toLocaleString('en-US')} msg/s, `
      + `${(perSecond * bytesPerMsg / 1e6).toFixed(1)} MB/s (${received} received, ${a.t.peerStats(2n)?.droppedMsgs ?? 0} dropped, ${elapsed.toFixed(1)} s)`);
  } finally {
    await closeAll([a, b]);
  }
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? '2');
  if (process.argv[3] !== 'loopback') codecBench(Math.max(0.5, seconds / 4));
  await loopbackBench(seconds);
}

// The test runner loads every file under test/; only a direct run measures.
if (process.env['NODE_TEST_CONTEXT'] === undefined && require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
