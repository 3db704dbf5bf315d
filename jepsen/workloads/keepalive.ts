// LeaseKeepAlive over its bidirectional stream: one request, its answer.
import type { Client, LeaseKeepAliveResponse } from '../../src/client';
import { ClientError } from '../../src/client';
import * as grpc from '@grpc/grpc-js';

/** Sends one keepalive; resolves with the TTL answered (0: the lease is gone), rejects on timeout or stream error. */
export async function keepAliveOnce(c: Client, id: bigint, timeoutMs: number): Promise<number> {
  const s = await c.duplex('Lease', 'LeaseKeepAlive', { timeoutMs });
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => done(new ClientError(grpc.status.DEADLINE_EXCEEDED, 'context deadline exceeded')), timeoutMs);
    const done = (e: Error | undefined, ttl?: number): void => {
      clearTimeout(timer);
      s.removeAllListeners('data');
      s.on('error', () => undefined);
      s.cancel();
      if (e !== undefined) reject(e);
      else resolve(ttl ?? 0);
    };
    s.on('data', (r: LeaseKeepAliveResponse) => done(undefined, Number(r.TTL)));
    s.on('error', (e: grpc.ServiceError) => done(new ClientError(e.code ?? grpc.status.UNAVAILABLE, e.details ?? e.message)));
    s.write({ ID: id.toString() });
  });
}
