// lease-keepalive: each client grants one lease (TTL --lease-ttl, 100 s as
// etcd's benchmark) and opens its own LeaseKeepAlive stream, untimed; then
// every operation is one keepalive request on that stream and its answer.
// etcd's benchmark uses clientv3's KeepAliveOnce, which opens a stream per
// keepalive; a long-lived stream is what real clients (and kube-apiserver's)
// do, so this measures the keepalive itself rather than stream setup.
import * as grpc from '@grpc/grpc-js';
import { keepAliveTtl } from '../pb-lite';
import { call, errorKind, errorText, forEachLimited, identity, method, setupConcurrencyMax } from './common';
import { abandonedOp, type Done, type Driver, type LoopControl } from './loop';
import type { Options } from './options';

interface Lane {
  id: string;
  request: Buffer;
  stream: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  pending: Done | undefined;
  broken: string | undefined;
}

const revokeTimeoutMs = 3_000;

class KeepAliveDriver implements Driver {
  readonly series = ['keepalive'] as const;
  private closing = false;
  private lost = 0;

  constructor(private readonly conns: grpc.Client[], private readonly lanes: Lane[]) {}

  issue(client: number, _g: number, done: Done): void {
    const lane = this.lanes[client] as Lane;
    if (lane.broken !== undefined || lane.stream === undefined) {
      const why = lane.broken ?? 'keepalive stream closed';
      queueMicrotask(() => done(why));
      return;
    }
    lane.pending = done;
    lane.stream.write(lane.request);
  }

  counters(): Record<string, number> {
    return { leases: this.lanes.length, streams_lost: this.lost };
  }

  onData(lane: Lane, b: Buffer): void {
    const done = lane.pending;
    lane.pending = undefined;
    if (done === undefined) return;
    const ttl = keepAliveTtl(b);
    done(ttl > 0 ? undefined : `lease ${lane.id} not found (keepalive answered TTL ${ttl})`);
  }

  onEnd(lane: Lane, why: string): void {
    if (this.closing) return;
    if (lane.broken === undefined) this.lost++;
    lane.broken = why;
    lane.stream = undefined;
    const done = lane.pending;
    lane.pending = undefined;
    done?.(why);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const lane of this.lanes) {
      lane.pending?.(abandonedOp);
      lane.pending = undefined;
      lane.stream?.cancel();
    }
    // Tidy up (untimed, best effort): etcd's benchmark leaves its leases to expire.
    const revoke = method('Lease', 'LeaseRevoke');
    const deadline = new Date(Date.now() + revokeTimeoutMs);
    await forEachLimited(this.lanes, setupConcurrencyMax, async (lane, i) => {
      await call(this.conns[i % this.conns.length] as grpc.Client, revoke, { ID: lane.id }, deadline).catch(() => undefined);
    });
  }
}

export async function makeKeepAliveDriver(o: Options, conns: grpc.Client[], clients: number, ctl: LoopControl): Promise<Driver> {
  const grant = method('Lease', 'LeaseGrant');
  const keepAlive = method('Lease', 'LeaseKeepAlive');
  const lanes: Lane[] = [];
  await forEachLimited(Array.from({ length: clients }, (_, i) => i), setupConcurrencyMax, async (c) => {
    const r = await call<{ ID?: string; error?: string }>(conns[c % conns.length] as grpc.Client, grant, { TTL: String(o.leaseTtl) }, ctl.deadline)
      .catch((e: unknown) => { throw new Error(`lease grant: ${errorText(e)}`); });
    if (r.ID === undefined || r.ID === '0' || (r.error ?? '') !== '') throw new Error(`lease grant failed: ${r.error ?? 'no ID'}`);
    lanes[c] = { id: r.ID, request: keepAlive.requestSerialize({ ID: r.ID }), stream: undefined, pending: undefined, broken: undefined };
  });
  const driver = new KeepAliveDriver(conns, lanes);
  lanes.forEach((lane, c) => {
    const stream = (conns[c % conns.length] as grpc.Client).makeBidiStreamRequest(keepAlive.path, identity, identity, new grpc.Metadata());
    lane.stream = stream;
    stream.on('data', (b: Buffer) => driver.onData(lane, b));
    stream.on('error', (e: grpc.ServiceError) => driver.onEnd(lane, errorKind(e)));
    stream.on('end', () => driver.onEnd(lane, 'keepalive stream ended by the server'));
  });
  return driver;
}
