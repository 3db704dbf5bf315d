// A follower does not renew leases (only the leader expires them): it relays
// keepalives to the leader's client URL over one LeaseKeepAlive stream and
// hands each answer back in order, as etcd's followers relay to their leader.
import * as grpc from '@grpc/grpc-js';
import { etcdService } from '../proto';
import { EtcdError, limits } from '../util';

interface Pending { resolve: (ttl: number) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }

export class KeepAliveForwarder {
  private client: grpc.Client | undefined;
  private stream: grpc.ClientDuplexStream<object, { TTL: string }> | undefined;
  private target: string | undefined;
  private readonly pending: Pending[] = [];

  constructor(private readonly timeoutMs: number) {}

  renew(leaderUrl: string, id: bigint): Promise<number> {
    if (this.pending.length >= limits.forwardedKeepAlivesMax) return Promise.reject(new EtcdError('TooManyRequests'));
    const stream = this.streamTo(leaderUrl);
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => this.reset(new EtcdError('Timeout')), this.timeoutMs);
      this.pending.push({ resolve, reject, timer });
      stream.write({ ID: id.toString() });
    });
  }

  close(): void {
    this.reset(new EtcdError('Stopped'));
  }

  private streamTo(url: string): grpc.ClientDuplexStream<object, { TTL: string }> {
    const target = url.replace(/^https?:\/\//, '');
    if (this.stream !== undefined && this.target === target) return this.stream;
    this.reset(new EtcdError('NotLeader'));
    const Lease = etcdService('Lease');
    this.client = new Lease(target, grpc.credentials.createInsecure());
    const stream = (this.client as unknown as { LeaseKeepAlive(): grpc.ClientDuplexStream<object, { TTL: string }> }).LeaseKeepAlive();
    stream.on('data', (r: { TTL: string }) => {
      const p = this.pending.shift();
      if (p === undefined) return;
      clearTimeout(p.timer);
      p.resolve(Number(r.TTL));
    });
    const fail = (): void => { if (this.stream === stream) this.reset(new EtcdError('NoLeader')); };
    stream.on('error', fail);
    stream.on('end', fail);
    this.stream = stream;
    this.target = target;
    return stream;
  }

  private reset(e: unknown): void {
    const stream = this.stream;
    this.stream = undefined;
    this.target = undefined;
    stream?.cancel();
    this.client?.close();
    this.client = undefined;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(e);
    }
  }
}
