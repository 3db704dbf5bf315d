// The raft entry payload (src/server/requests.ts): msgpackr encoding of the
// InternalRequest a member proposes for a put, and its decoding at apply —
// from a Buffer (the member's own proposal) and from a plain Uint8Array view
// (an entry that arrived over the peer transport).
import { decodeRequest, encodeRequest, type InternalRequest } from '../../src/server';
import { noiseBytes, sampleKey, sink, type MicroSuite } from './harness';

function putRequest(id: bigint): InternalRequest {
  return {
    id,
    body: { op: 'put', req: { key: sampleKey(42), value: noiseBytes(256), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } },
  };
}

export function requestsSuite(): MicroSuite {
  return {
    id: 'requests',
    title: 'Raft entry payload (src/server/requests.ts msgpackr; a put of a 24-byte key and a 256-byte value)',
    cases: [
      {
        name: 'encodeRequest(put)',
        setup: () => {
          const r = putRequest(0x4d2a000000000001n);
          return () => {
            r.id++;
            sink(encodeRequest(r));
          };
        },
      },
      {
        name: 'decodeRequest(put) from a Buffer',
        setup: () => {
          const b = Buffer.from(encodeRequest(putRequest(0x4d2a000000000001n)));
          return () => sink(decodeRequest(b));
        },
      },
      {
        name: 'decodeRequest(put) from a Uint8Array (entry from a peer)',
        setup: () => {
          const b = Buffer.from(encodeRequest(putRequest(0x4d2a000000000001n)));
          const view = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
          return () => sink(decodeRequest(view));
        },
      },
    ],
  };
}
