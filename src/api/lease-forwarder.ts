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
  private unaryClient: grpc.Client | undefined;
  private unaryTarget: string | undefined;

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
    this.unaryClient?.close();
    this.unaryClient = undefined;
  }

  /**
   * A follower's lessor does not count leases down (only the leader expires them), so a
   * follower asks the leader for a lease's remaining TTL, as etcd's followers do.
   */
  timeToLive(leaderUrl: string, id: bigint, keys: boolean): Promise<{ TTL: string; grantedTTL: string; keys: Buffer[] }> {
    const target = leaderUrl.replace(/^https?:\/\//, '');
    if (this.unaryClient === undefined || this.unaryTarget !== target) {
      this.unaryClient?.close();
      const Lease = etcdService('Lease');
      this.unaryClient = new Lease(target, grpc.credentials.createInsecure());
      this.unaryTarget = target;
    }
    const client = this.unaryClient as unknown as {
      LeaseTimeToLive(req: object, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: { TTL: string; grantedTTL: string; keys: Buffer[] }) => void): void;
    };
    return new Promise((resolve, reject) => {
      client.LeaseTimeToLive({ ID: id.toString(), keys }, { deadline: Date.now() + this.timeoutMs }, (e, r) => {
        if (e === null) resolve(r);
        else reject(e.code === grpc.status.DEADLINE_EXCEEDED ? new EtcdError('Timeout') : new EtcdError('NoLeader'));
      });
    });
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
