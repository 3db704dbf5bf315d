// Random and mutated frames thrown at the port (seeded, bounded in count),
// while a grpc-js client keeps calling on its own connection: every one of
// its calls must succeed, and every fuzzed connection must end (closed by
// the server or finished after the client's FIN) without taking the server
// down. A failure prints WIRE_FUZZ_SEED=… to replay it exactly.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { SeededRandom } from '../../src/util';
import { RawClient, T, frame, preface, settings } from './h2-client';
import { echoClient, startTestServer, unary, type TestServer } from './service';

const seed = Number(process.env['WIRE_FUZZ_SEED'] ?? '20261208');
const connections = Number(process.env['WIRE_FUZZ_CONNECTIONS'] ?? '240');
const trace = process.env['WIRE_FUZZ_TRACE'] !== undefined;
const parallel = trace ? 1 : 12;
const framesPerConnectionMax = 24;

function randomBytes(rnd: SeededRandom, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd.int(0, 255);
  return b;
}

/** One random frame: any type (known or not), flags, a small stream id, a payload of random bytes. */
function randomFrame(rnd: SeededRandom): Buffer {
  const type = rnd.int(0, 11);
  const streamId = rnd.bool(0.2) ? 0 : rnd.int(1, 9);
  return frame(type, rnd.int(0, 255), streamId, randomBytes(rnd, rnd.int(0, 40)));
}

/** A valid exchange, then damaged: bytes flipped, cut short, or spliced. */
function mutatedExchange(rnd: SeededRandom, c: RawClient): Buffer {
  const valid = Buffer.concat([c.unary(1, '/test.Echo/Unary', randomBytes(rnd, rnd.int(0, 64))), c.unary(3, '/test.Echo/Bidi', Buffer.from('x')), frame(T.PING, 0, 0, Buffer.alloc(8))]);
  const b = Buffer.from(valid);
  const mutation = rnd.int(0, 3);
  if (mutation === 0) for (let i = rnd.int(1, 6); i > 0; i--) b[rnd.int(0, b.length - 1)] = rnd.int(0, 255);
  if (mutation === 1) return b.subarray(0, rnd.int(0, b.length));
  if (mutation === 2) return Buffer.concat([b.subarray(0, rnd.int(0, b.length)), randomFrame(rnd), b.subarray(rnd.int(0, b.length))]);
  return b;
}

async function fuzzOne(port: number, rnd: SeededRandom): Promise<void> {
  const c = await RawClient.connect(port, { handshake: false });
  const parts: Buffer[] = [];
  if (rnd.bool(0.9)) parts.push(preface);
  if (rnd.bool(0.9)) parts.push(settings(rnd.bool(0.3) ? [[rnd.int(0, 8), rnd.int(0, 0x7fffffff)]] : []));
  const n = rnd.int(1, framesPerConnectionMax);
  for (let i = 0; i < n; i++) parts.push(rnd.bool(0.5) ? randomFrame(rnd) : mutatedExchange(rnd, c));
  // WIRE_FUZZ_TRACE=1: one connection at a time, each one's bytes on stderr before it is sent.
  if (trace) process.stderr.write(`conn ${Buffer.concat(parts).toString('hex')}\n`);
  c.write(Buffer.concat(parts));
  c.socket.end();
  await c.untilClosed();
}

describe('wire: fuzz', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ headTimeoutMs: 2000 });
  });
  after(() => t.close());

  it(`survives ${connections} fuzzed connections while serving another (seed ${seed})`, async (ctx) => {
    const rnd = new SeededRandom(seed);
    const client = echoClient(t.port);
    let calls = 0;
    let fuzzing = true;
    const failures: string[] = [];
    const steady = (async () => {
      while (fuzzing) {
        const r = await unary(client, 'Unary', Buffer.from(`steady ${calls}`));
        if (r.res?.toString() !== `steady ${calls}`) failures.push(`call ${calls}: ${r.err?.message ?? 'wrong answer'}`);
        calls++;
      }
    })();
    try {
      const rnds = Array.from({ length: connections }, () => rnd.fork());
      for (let i = 0; i < connections; i += parallel) await Promise.all(rnds.slice(i, i + parallel).map((r) => fuzzOne(t.port, r)));
    } catch (e) {
      ctx.diagnostic(`WIRE_FUZZ_SEED=${seed}`);
      throw e;
    } finally {
      fuzzing = false;
      await steady;
      client.close();
    }
    assert.deepEqual(failures, [], `WIRE_FUZZ_SEED=${seed}`);
    assert.ok(calls > 0);
    // Plain HTTP/1.1 garbage too: the same port keeps answering.
    for (let i = 0; i < 20; i++) {
      const s = net.connect(t.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.resume(); // read the server's answer, so its FIN is seen
      s.end(Buffer.concat([Buffer.from(['GET / HTTP/1.1\r\n', 'POST /v3/x HTTP/1.1\r\nContent-Length: 3\r\n', '\x16\x03\x01', 'PRI * HTTP/2.0\r\n\r\nXX'][i % 4] as string), randomBytes(rnd, rnd.int(0, 200))]));
      await new Promise((r) => s.once('close', r));
    }
    const fresh = echoClient(t.port);
    const after = await unary(fresh, 'Unary', Buffer.from('after'));
    fresh.close();
    assert.equal(after.res?.toString(), 'after');
  });
});
