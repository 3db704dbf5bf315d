// Shared pieces of keel-bench: bounds, connections, method lookup, error
// kinds and etcd benchmark's key shape. Imports nothing else of keel-bench.
import * as grpc from '@grpc/grpc-js';
import { etcdService, type ServiceName } from '../../src/proto';

// Bounds: every loop, queue and buffer in keel-bench has one.
export const totalMax = 50_000_000;
export const clientsMax = 10_000;
export const connsMax = 1_000;
export const workersMax = 64;
export const streamsMax = 10_000;
export const watchersMax = 1_000_000;
export const eventSamplesMax = 20_000_000;
export const txnOpsMax = 1_000;
export const prefillKeysMax = 100_000;
export const cachedRequestsMax = 1 << 17;
export const errorKindsMax = 20;
export const stmAttemptsMax = 10_000;
export const connectTimeoutMs = 10_000;
export const stopGraceMs = 2_000;
export const latencyInitialSamples = 1 << 16;
export const setupConcurrencyMax = 256;

export type Method = grpc.MethodDefinition<object, object>;

export const identity = (b: Buffer): Buffer => b;

export function method(service: ServiceName, name: string): Method {
  const m = etcdService(service).service[name];
  if (m === undefined) throw new Error(`${service}.${name} missing from the proto`);
  return m as Method;
}

const KV = etcdService('KV');

export function connect(endpoint: string): grpc.Client {
  // A local subchannel pool gives every client its own TCP connection; the
  // default global pool would fold all --conns into one. Any grpc.Client can
  // call any method path, so this one also carries Watch, Lease and Maintenance.
  return new KV(endpoint, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
}

export function waitReady(clients: grpc.Client[], durationMaxSeconds: number): Promise<void> {
  const deadline = Date.now() + Math.min(connectTimeoutMs, Math.max(2_000, durationMaxSeconds * 1000));
  return Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => {
    c.waitForReady(deadline, (err) => (err ? reject(new Error(`connect ${c.getChannel().getTarget()}: ${err.message}`)) : resolve()));
  }))).then(() => undefined);
}

export function errorKind(err: grpc.ServiceError): string {
  const code = grpc.status[err.code] ?? String(err.code);
  // One kind per message, not per occurrence: grpc-js appends timings and addresses after a comma.
  const details = String(err.details ?? err.message).split(',')[0] ?? '';
  return `${code}: ${details.replace(/\b\d+(\.\d+)?\b/g, 'N').slice(0, 120)}`;
}

export function countError(errors: Record<string, number>, kind: string): void {
  if (errors[kind] === undefined && Object.keys(errors).length >= errorKindsMax) kind = 'other';
  errors[kind] = (errors[kind] ?? 0) + 1;
}

export function mergeErrors(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) {
    const kind = into[k] === undefined && Object.keys(into).length >= errorKindsMax ? 'other' : k;
    into[kind] = (into[kind] ?? 0) + n;
  }
}

/** Bytes of Go's binary.PutVarint(n) for n >= 0 (zigzag: 2n as uvarint). */
export function varintBytes(n: number): number {
  let u = n * 2;
  let bytes = 1;
  while (u >= 128) { u = Math.floor(u / 128); bytes++; }
  return bytes;
}

/** The key etcd's benchmark uses: key-size zero bytes with PutVarint(n) at the front. */
export function benchKey(n: number, keySize: number): Buffer {
  const key = Buffer.alloc(keySize);
  let u = n * 2;
  let i = 0;
  while (u >= 128) { key[i++] = (u % 128) | 0x80; u = Math.floor(u / 128); }
  key[i] = u;
  return key;
}

/** The smallest key after every key with this prefix (etcd's GetPrefixRangeEnd); "\0" when there is none. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Calls `f` on items with at most `limit` in flight; rejects on the first failure. */
export async function forEachLimited<T>(items: T[], limit: number, f: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await f(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** One unary call with raw bytes in and out. */
export function unary(conn: grpc.Client, m: Method, request: Buffer, deadline: Date): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    conn.makeUnaryRequest(m.path, identity, identity, request, new grpc.Metadata(), { deadline }, (err, response) => {
      if (err) reject(err);
      else if (response === undefined) reject(new Error(`${m.path}: empty response`));
      else resolve(response);
    });
  });
}

/** One unary call with protobufjs objects in and out (setup and checks, not the hot path). */
export async function call<T>(conn: grpc.Client, m: Method, request: object, deadline: Date): Promise<T> {
  return m.responseDeserialize(await unary(conn, m, m.requestSerialize(request), deadline)) as T;
}

export function errorText(e: unknown): string {
  if (e !== null && typeof e === 'object' && 'code' in e && 'details' in e) return errorKind(e as grpc.ServiceError);
  return e instanceof Error ? e.message : String(e);
}
