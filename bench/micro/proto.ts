// Protobuf coding of the busiest client messages, with the very functions the
// gRPC server calls: a real server is built by createClientServer (never
// bound to a port) and each method's serialize/deserialize is taken from its
// handler table, so the KV methods include the request-size wrapper the
// server installs. Responses are built from domain values with api/convert
// as the handlers do (header included), then serialized.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createClientServer } from '../../src/api';
import { convert as c } from '../../src/api';
import { EventType, type Event, type KeyValue, type WatchOutput } from '../../src/mvcc';
import { etcdService, loaderOptions, protoRoot } from '../../src/proto';
import type { Member } from '../../src/server';
import { silentLogger } from '../../src/server';
import { noiseBytes, sampleKey, sink, type MicroSuite } from './harness';

interface Coder {
  serialize: (value: unknown) => Buffer;
  deserialize: (bytes: Buffer) => unknown;
}

/** A Member that answers only what building the services touches. */
function stubMember(): Member {
  const config = { maxRequestBytes: 1.5 * 1024 * 1024, maxTxnOps: 128, electionTimeoutMs: 1000 };
  return new Proxy({}, {
    get: (_t, prop) => (prop === 'config' ? config : () => undefined),
  }) as unknown as Member;
}

let coders: Map<string, Coder> | undefined;
let source = '';

/** The server's handler table: path → {serialize, deserialize}. Falls back to the service definitions if grpc-js changes shape. */
function serverCoders(): Map<string, Coder> {
  if (coders !== undefined) return coders;
  try {
    const server = createClientServer({ fastUnary: true, member: stubMember(), progressNotifyIntervalMs: 0, log: silentLogger, fatal: () => undefined });
    const handlers = (server as unknown as { handlers?: Map<string, Coder> }).handlers;
    server.forceShutdown();
    if (handlers instanceof Map && handlers.size > 0) {
      coders = handlers;
      source = 'handlers of a grpc.Server built by createClientServer (unbound)';
      return coders;
    }
  } catch (e) {
    process.stderr.write(`micro: could not build the client server (${String(e)}); using the service definitions\n`);
  }
  const m = new Map<string, Coder>();
  for (const name of ['KV', 'Watch'] as const) {
    for (const def of Object.values(etcdService(name).service)) {
      m.set(def.path, { serialize: def.responseSerialize as Coder['serialize'], deserialize: def.requestDeserialize as Coder['deserialize'] });
    }
  }
  coders = m;
  source = 'service definitions (requestDeserialize/responseSerialize), without the size wrapper';
  return coders;
}

export function protoCoderSource(): string {
  serverCoders();
  return source;
}

function coder(path: string): Coder {
  const k = serverCoders().get(path);
  if (k === undefined) throw new Error(`no handler for ${path}`);
  return k;
}

/** What a client sends: the definition's client-side requestSerialize. */
function clientEncode(service: 'KV' | 'Watch', method: string, req: object): Buffer {
  const def = etcdService(service).service[method];
  if (def === undefined) throw new Error(`no method ${service}.${method}`);
  return def.requestSerialize(req);
}

const valueBytes = 256;
const value = noiseBytes(valueBytes);
const headerFields: c.HeaderFields = { clusterId: 0xcdf818194e3a8c32n, memberId: 0x8e9e05c52164694dn, raftTerm: 7n };

function sampleKv(i: number): KeyValue {
  return { key: sampleKey(i), value, createRevision: 1_000_000 + i, modRevision: 1_234_567 + i, version: 3, lease: 0n };
}

// Mirrors src/api/watch-service.ts (eventToPb, responseToPb: module-private there).
function eventToPb(ev: Event): object {
  const out: Record<string, unknown> = { type: ev.type === EventType.Put ? 0 : 1, kv: c.kvToPb(ev.kv) };
  if (ev.prevKv !== undefined) out['prev_kv'] = c.kvToPb(ev.prevKv);
  return out;
}

function watchResponseToPb(header: c.PbHeader, out: WatchOutput): object {
  const r: Record<string, unknown> = { header, watch_id: out.watchId, events: out.events.map(eventToPb) };
  if (out.created === true) r['created'] = true;
  if (out.canceled === true) r['canceled'] = true;
  return r;
}

function watchOutput(events: number): WatchOutput {
  const evs: Event[] = [];
  // kube-apiserver always asks prev_kv: every event carries the new and the previous value.
  for (let i = 0; i < events; i++) evs.push({ type: EventType.Put, kv: sampleKv(i), prevKv: { ...sampleKv(i), modRevision: 1_000_100 + i, version: 2 } });
  return { watchId: 3, revision: 1_234_600, events: evs };
}

function rangeCase(kvCount: number): () => () => unknown {
  return () => {
    const enc = coder('/etcdserverpb.KV/Range').serialize;
    const kvs = Array.from({ length: kvCount }, (_, i) => sampleKv(i));
    let rev = 1_234_600;
    return () => sink(enc(c.rangeToPb(c.header(headerFields, rev++), { revision: rev, kvs, more: false, count: kvCount })));
  };
}

function watchCase(events: number): () => () => unknown {
  return () => {
    const enc = coder('/etcdserverpb.Watch/Watch').serialize;
    const out = watchOutput(events);
    return () => sink(enc(watchResponseToPb(c.header(headerFields, out.revision++), out)));
  };
}

function decodeCase(path: string, bytes: () => Buffer, convert?: (req: never) => unknown): () => () => unknown {
  return () => {
    const dec = coder(path).deserialize;
    const buf = bytes();
    if (convert === undefined) return () => sink(dec(buf));
    return () => sink(convert(dec(buf) as never));
  };
}

/** KV's deserializers as they would be with proto-loader's defaults: false (absent fields stay undefined). */
function kvWithoutDefaults(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(['etcd/api/etcdserverpb/rpc.proto'], { ...loaderOptions, defaults: false, includeDirs: [protoRoot] });
  const pkg = grpc.loadPackageDefinition(def)['etcdserverpb'] as grpc.GrpcObject;
  return (pkg['KV'] as grpc.ServiceClientConstructor).service;
}

function noDefaultsDecodeCase(method: 'Put' | 'Range', bytes: () => Buffer): () => () => unknown {
  return () => {
    const dec = kvWithoutDefaults()[method]?.requestDeserialize;
    if (dec === undefined) throw new Error(`no KV.${method}`);
    const buf = bytes();
    return () => sink(dec(buf));
  };
}

/** 64-bit IDs as {low, high}: protobufjs takes them as bits instead of parsing a decimal string (Long.fromString). */
function idBits(v: bigint): { low: number; high: number; unsigned: boolean } {
  return { low: Number(v & 0xffffffffn) | 0, high: Number(v >> 32n) | 0, unsigned: true };
}

const putRequestBytes = (): Buffer => clientEncode('KV', 'Put', { key: sampleKey(42), value });
const rangeRequestBytes = (): Buffer => clientEncode('KV', 'Range', { key: sampleKey(42) });

/** kube-apiserver's update: MOD(key) == rev → put, else range (what it sends for every write). */
const txnRequestBytes = (): Buffer => clientEncode('KV', 'Txn', {
  compare: [{ result: 'EQUAL', target: 'MOD', key: sampleKey(42), mod_revision: '1234567' }],
  success: [{ request_put: { key: sampleKey(42), value } }],
  failure: [{ request_range: { key: sampleKey(42) } }],
});

export function protoSuite(): MicroSuite {
  return {
    id: 'proto',
    title: `gRPC protobuf coding (server's own serialize/deserialize; 24-byte keys, ${valueBytes}-byte values)`,
    cases: [
      { name: 'PutRequest decode', setup: decodeCase('/etcdserverpb.KV/Put', putRequestBytes) },
      { name: 'PutRequest decode + putFromPb', setup: decodeCase('/etcdserverpb.KV/Put', putRequestBytes, c.putFromPb) },
      {
        name: 'PutResponse encode (header + serialize)',
        setup: () => {
          const enc = coder('/etcdserverpb.KV/Put').serialize;
          let rev = 1_234_600;
          return () => sink(enc(c.putToPb(c.header(headerFields, rev++), { revision: rev, prevKv: undefined })));
        },
      },
      {
        name: 'ref: PutResponse encode, header IDs as {low, high} instead of decimal strings',
        setup: () => {
          const enc = coder('/etcdserverpb.KV/Put').serialize;
          const clusterId = idBits(headerFields.clusterId);
          const memberId = idBits(headerFields.memberId);
          const raftTerm = Number(headerFields.raftTerm);
          let rev = 1_234_600;
          return () => sink(enc({ header: { cluster_id: clusterId, member_id: memberId, revision: rev++, raft_term: raftTerm } }));
        },
      },
      { name: 'ref: PutRequest decode with proto-loader defaults: false', setup: noDefaultsDecodeCase('Put', putRequestBytes) },
      { name: 'RangeRequest decode', setup: decodeCase('/etcdserverpb.KV/Range', rangeRequestBytes) },
      { name: 'ref: RangeRequest decode with proto-loader defaults: false', setup: noDefaultsDecodeCase('Range', rangeRequestBytes) },
      { name: 'RangeResponse encode, 1 kv', setup: rangeCase(1) },
      { name: 'RangeResponse encode, 100 kvs', setup: rangeCase(100), items: { count: 100, unit: 'kv' } },
      { name: 'WatchResponse encode, 1 event (+prev_kv)', setup: watchCase(1) },
      { name: 'WatchResponse encode, 10 events (+prev_kv)', setup: watchCase(10), items: { count: 10, unit: 'event' } },
      { name: 'TxnRequest decode (kube update: 1 compare, put / range)', setup: decodeCase('/etcdserverpb.KV/Txn', txnRequestBytes) },
      { name: 'TxnRequest decode + txnFromPb', setup: decodeCase('/etcdserverpb.KV/Txn', txnRequestBytes, c.txnFromPb) },
    ],
  };
}
