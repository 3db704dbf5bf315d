// The test service the wire tests register: echo, errors, streams of every
// kind, metadata and deadlines, on raw Buffers (no protobuf needed).
import * as grpc from '@grpc/grpc-js';
import { GrpcError, WireServer, type ServerCall, type WireServerOptions } from '../../src/wire';

export interface TestServer {
  server: WireServer;
  port: number;
  /** Calls that saw their cancellation (deadline or reset). */
  cancelledCalls: string[];
  /** Handler invocations of Unary. */
  unaryCalls: { n: number };
  /** Pending Hold calls: resolve one to answer it. */
  held: Array<(b: Buffer) => void>;
  /** Handler invocations of Slow. */
  slowCalls: { n: number };
  close(): Promise<void>;
}

/** Waits until the call is cancelled; never answers by itself. */
function untilCancelled(call: ServerCall): Promise<Buffer> {
  return new Promise((_resolve, reject) => call.onCancel(() => reject(new GrpcError(1, 'cancelled'))));
}

export async function startTestServer(options: WireServerOptions = {}): Promise<TestServer> {
  const server = new WireServer(options);
  const cancelledCalls: string[] = [];
  const unaryCalls = { n: 0 };
  const slowCalls = { n: 0 };
  const held: Array<(b: Buffer) => void> = [];
  server.addService('test.Echo', {
    Unary: {
      kind: 'unary',
      handler: (req, call) => {
        unaryCalls.n++;
        const text = req.toString('utf8');
        if (text.startsWith('error:')) {
          const second = text.indexOf(':', 6);
          throw new GrpcError(Number(text.slice(6, second)), text.slice(second + 1), ['x-detail', 'yes']);
        }
        if (text === 'token') return Buffer.from(call.metadata.get('token') ?? '<none>');
        if (text === 'throw') throw new Error('plain failure');
        if (text === 'deadline') return Buffer.from(String(call.deadlineMs !== undefined));
        if (text === 'async') return Promise.resolve(Buffer.from('later'));
        return req;
      },
    },
    Slow: {
      kind: 'unary',
      handler: (_req, call) => {
        slowCalls.n++;
        call.onCancel(() => cancelledCalls.push('Slow'));
        return untilCancelled(call);
      },
    },
    Hold: { kind: 'unary', handler: () => new Promise<Buffer>((resolve) => held.push(resolve)) },
    ServerStream: {
      kind: 'serverStream',
      handler: async (req, call) => {
        const { count, size } = JSON.parse(req.toString()) as { count: number; size: number };
        for (let i = 0; i < count; i++) {
          const m = Buffer.alloc(size, i % 251);
          m.writeUInt32BE(i, 0);
          if (!call.write(m)) await call.drained();
          if (call.cancelled) return;
        }
      },
    },
    ClientStream: {
      kind: 'clientStream',
      handler: async (call) => {
        let n = 0;
        let bytes = 0;
        for await (const m of call) {
          n++;
          bytes += m.length;
        }
        return Buffer.from(JSON.stringify({ n, bytes }));
      },
    },
    Bidi: {
      kind: 'bidi',
      handler: async (call) => {
        for await (const m of call) {
          if (m.toString() === 'fail') throw new GrpcError(9, 'bidi failed: 100% on purpose');
          if (!call.write(Buffer.concat([Buffer.from('echo:'), m]))) await call.drained();
        }
      },
    },
  });
  server.http.route('/health', (_req, res) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end('{"health":"true","reason":""}');
  });
  server.http.route('/stream', async (_req, res) => {
    for (let i = 0; i < 3; i++) res.write(`part ${i}\n`);
    res.end();
  });
  server.http.prefix('/v3/', (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, path: req.path, body: req.body.toString(), version: req.httpVersion }));
  });
  const listener = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    server,
    port: listener.port,
    cancelledCalls,
    unaryCalls,
    slowCalls,
    held,
    close: () => server.close(2000),
  };
}

const identity = (b: Buffer): Buffer => b;
function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path: `/test.Echo/${name}`, requestStream, responseStream, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
}

export const EchoClient = grpc.makeGenericClientConstructor(
  {
    Unary: method('Unary', false, false),
    Slow: method('Slow', false, false),
    Missing: { ...method('Missing', false, false) },
    ServerStream: method('ServerStream', false, true),
    ClientStream: method('ClientStream', true, false),
    Bidi: method('Bidi', true, true),
  },
  'Echo',
);

export type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function echoClient(port: number, options: grpc.ClientOptions = {}): AnyClient {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as unknown as AnyClient;
}

export function unary(client: AnyClient, name: string, req: Buffer, md = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<{ res?: Buffer; err?: grpc.ServiceError; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = (client[name] as (...a: unknown[]) => grpc.ClientUnaryCall)(req, md, options, (err: grpc.ServiceError | null, res?: Buffer) => {
      const r: { res?: Buffer; err?: grpc.ServiceError; trailers?: grpc.Metadata } = {};
      if (err !== null) r.err = err;
      if (res !== undefined) r.res = res;
      if (trailers !== undefined) r.trailers = trailers;
      // The status event may come after the callback: give it the same turn's chance by resolving on status when possible.
      setImmediate(() => resolve({ ...r, ...(trailers !== undefined ? { trailers } : {}) }));
    });
    call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
  });
}
