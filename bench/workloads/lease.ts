// lease-keepalive: each client grants one lease (TTL --lease-ttl, 100 s as
// etcd's benchmark) and opens its own LeaseKeepAlive stream, untimed; then
// every operation is one keepalive request on that stream and its answer.
// etcd's benchmark uses clientv3's KeepAliveOnce, which opens a stream per
// keepalive; a long-lived stream is what real clients (and kube-apiserver's)
// do, so this measures the keepalive itself rather than stream setup.
import type * as grpc from '@grpc/grpc-js';
import { codecFor, toBigint, type Client } from '../../src/client';
import { abandonedOp, errorText, forEachLimited, type Done, type Driver, type LoopControl } from './loop';
import type { Options } from './options';

const setupConcurrencyMax = 256;
const revokeTimeoutMs = 3_000;

interface Lane { id: bigint; request: Buffer; stream: grpc.ClientDuplexStream<Buffer, Buffer> | undefined; pending: Done | undefined; broken: string | undefined }

/** Grants one lease per client (untimed setup, as etcd's), `setupConcurrencyMax` at a time. */
export async function grantLeases(conns: Client[], count: number, ttlSeconds: number, ctl: LoopControl): Promise<bigint[]> {
  const ids = new Array<bigint>(count).fill(0n);
  await forEachLimited(Array.from({ length: count }, (_, i) => i), setupConcurrencyMax, async (c) => {
    const r = await (conns[c % conns.length] as Client).leaseGrant(ttlSeconds, 0n, ctl.callOptions)
      .catch((e: unknown) => { throw new Error(`lease grant: ${errorText(e)}`); });
    if (toBigint(r.ID) === 0n || (r.error ?? '') !== '') throw new Error(`lease grant failed: ${r.error ?? 'no ID'}`);
    ids[c] = toBigint(r.ID);
  });
  return ids;
}

/** Revokes (untimed, best effort) what a run granted: etcd's benchmark leaves its leases to expire. */
export async function revokeLeases(conns: Client[], ids: bigint[]): Promise<void> {
  await forEachLimited(ids, setupConcurrencyMax, async (id, i) => {
    await (conns[i % conns.length] as Client).leaseRevoke(id, { timeoutMs: revokeTimeoutMs }).catch(() => undefined);
  });
}

class KeepAliveDriver implements Driver {
  readonly series = ['keepalive'] as const;
  private closing = false;
  private lost = 0;

  constructor(private readonly conns: Client[], private readonly lanes: Lane[]) {}

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
    const ttl = Number((codecFor('Lease', 'LeaseKeepAlive').decode(b) as { TTL?: string }).TTL ?? 0);
    done?.(ttl > 0 ? undefined : `lease ${lane.id} not found (keepalive answered TTL ${ttl})`);
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
    await revokeLeases(this.conns, this.lanes.map((l) => l.id));
  }
}

export async function makeKeepAliveDriver(o: Options, conns: Client[], clients: number, ctl: LoopControl): Promise<Driver> {
  const keepAlive = codecFor('Lease', 'LeaseKeepAlive');
  const ids = await grantLeases(conns, clients, o.leaseTtl, ctl);
  const lanes: Lane[] = ids.map((id) => ({ id, request: keepAlive.encode({ ID: id.toString() }), stream: undefined, pending: undefined, broken: undefined }));
  const driver = new KeepAliveDriver(conns, lanes);
  await Promise.all(lanes.map(async (lane, c) => {
    const stream = await (conns[c % conns.length] as Client).duplexRaw('Lease', 'LeaseKeepAlive');
    lane.stream = stream;
    stream.on('data', (b: Buffer) => driver.onData(lane, b));
    stream.on('error', (e: unknown) => driver.onEnd(lane, errorText(e)));
    stream.on('end', () => driver.onEnd(lane, 'keepalive stream ended by the server'));
  }));
  return driver;
}
