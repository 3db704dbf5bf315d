// keel's HPACK (src/wire/hpack.ts) against hpack.js, the npm HPACK library
// (60M downloads a month through spdy), on what the wire server does per
// call: decode a grpc-go request header block (the first one on a
// connection, and the all-indexed ones after it) and encode the response
// headers and trailers. Prints CPU ns per operation, best of 5 runs.
//
//   node dist/bench/wire-hpack.js
import { HpackDecoder, HpackEncoder } from '../src/wire';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const hpackJs = require('hpack.js') as {
  compressor: { create(o: { table: { maxSize: number } }): { write(h: Array<{ name: string; value: string }>): void; read(): Buffer | null } };
  decompressor: { create(o: { table: { maxSize: number } }): { write(b: Buffer): void; execute(): void; read(): { name: string; value: string } | null } };
};

const request: Array<[string, string]> = [
  [':method', 'POST'], [':scheme', 'http'], [':path', '/etcdserverpb.KV/Range'], [':authority', '127.0.0.1:2379'],
  ['content-type', 'application/grpc'], ['user-agent', 'grpc-go/1.41.0'], ['te', 'trailers'], ['grpc-timeout', '4999881u'],
];
const response = [':status', '200', 'content-type', 'application/grpc'];
const trailers = ['grpc-status', '0', 'grpc-message', ''];

function time(label: string, iterations: number, fn: () => void): number {
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    // CPU time, not wall time: the machine is shared, and a descheduled turn is not HPACK's cost.
    const c0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, ((c.user + c.system) * 1000) / iterations);
  }
  console.log(`  ${label.padEnd(52)} ${best.toFixed(0).padStart(6)} CPU ns/op`);
  return best;
}

function main(): void {
  const comp = hpackJs.compressor.create({ table: { maxSize: 4096 } });
  comp.write(request.map(([name, value]) => ({ name, value })));
  const first = comp.read() as Buffer;
  comp.write(request.map(([name, value]) => ({ name, value })));
  const steady = comp.read() as Buffer;
  console.log(`request block: first ${first.length} B, then ${steady.length} B (grpc-go's headers, coded by hpack.js)`);

  const n = 200_000;
  const out: string[] = [];
  const ours = new HpackDecoder(4096);
  ours.decode(first, 1 << 20, out);
  const theirs = hpackJs.decompressor.create({ table: { maxSize: 4096 } });
  theirs.write(first);
  theirs.execute();
  while (theirs.read() !== null);
  console.log('decode:');
  const dFirstOurs = time('keel: first block (fresh decoder)', n / 4, () => {
    out.length = 0;
    new HpackDecoder(4096).decode(first, 1 << 20, out);
  });
  const dFirstTheirs = time('hpack.js: first block (fresh decompressor)', n / 4, () => {
    const d = hpackJs.decompressor.create({ table: { maxSize: 4096 } });
    d.write(first);
    d.execute();
    while (d.read() !== null);
  });
  const dOurs = time('keel: indexed block', n, () => {
    out.length = 0;
    ours.decode(steady, 1 << 20, out);
  });
  const dTheirs = time('hpack.js: indexed block', n, () => {
    theirs.write(steady);
    theirs.execute();
    while (theirs.read() !== null);
  });

  console.log('encode (response headers + trailers, steady state):');
  const enc = new HpackEncoder(4096);
  const sink = { buf: Buffer.alloc(256), pos: 0 };
  const eOurs = time('keel', n, () => {
    sink.pos = 0;
    enc.encode(response, sink);
    enc.encode(trailers, sink);
  });
  const c2 = hpackJs.compressor.create({ table: { maxSize: 4096 } });
  const rh = [{ name: ':status', value: '200' }, { name: 'content-type', value: 'application/grpc' }];
  const th = [{ name: 'grpc-status', value: '0' }, { name: 'grpc-message', value: '' }];
  const eTheirs = time('hpack.js', n, () => {
    c2.write(rh);
    c2.read();
    c2.write(th);
    c2.read();
  });
  console.log(`hpack.js / keel: decode first ${(dFirstTheirs / dFirstOurs).toFixed(1)}×, decode indexed ${(dTheirs / dOurs).toFixed(1)}×, encode ${(eTheirs / eOurs).toFixed(1)}×`);
}

main();
