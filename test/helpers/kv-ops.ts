// Seeded generator of etcd KV operation sequences for the differential test.
// Keys come from a 12-key alphabet so operations overlap and any result set
// sorted by a non-key target has at most 12 entries (Go's sort.Sort is an
// insertion sort, hence stable, only up to 12 elements). Revisions in
// requests are chosen from what the reference has answered so far (current
// and compacted revision), so generation interleaves with execution; the
// reference is deterministic, so a seed replays exactly.
import type {
  Compare,
  CompactionRequest,
  DeleteRangeRequest,
  EtcdClient,
  LeaseGrantRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  RpcResult,
  TxnRequest,
} from './client';
import { Rng } from './random';

export type Op =
  | { kind: 'range'; req: RangeRequest }
  | { kind: 'put'; req: PutRequest }
  | { kind: 'deleteRange'; req: DeleteRangeRequest }
  | { kind: 'txn'; req: TxnRequest }
  | { kind: 'compact'; req: CompactionRequest }
  | { kind: 'leaseGrant'; req: LeaseGrantRequest }
  | { kind: 'leaseRevoke'; req: { ID: string } }
  /** Restart both servers on their data dirs (SIGTERM, or kill -9), then compare every key. Run by the test, not by execute(). */
  | { kind: 'restart'; req: { kill9: boolean } };

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Every key a write may touch: exactly 12. */
export const writeKeys: readonly Buffer[] = ['\x00', 'a', 'a/1', 'a/2', 'a\xff', 'b', 'b/1', 'c', 'foo', 'z', '\xff', '\xff\xff'].map(bytes);
/** Reads and range bounds may also use keys that never exist. */
const readOnlyKeys: readonly Buffer[] = ['a/', 'a0', 'b0', '0', 'fo', 'zz', '\x00\x00', '\xff\x00'].map(bytes);
const readKeys: readonly Buffer[] = [...writeKeys, ...readOnlyKeys];
const values: readonly Buffer[] = ['', 'v', 'v1', 'v2', 'w', '\x00', 'zzz', 'v1\xff'].map(bytes);
/** Lease IDs chosen by the test so both servers agree on them. */
const leaseIds: readonly string[] = ['1001', '1002', '7587864000000000001'];
const unknownLeaseId = '4242';
/** int64 values beyond double precision or at the limits: a server must not round them. */
const int64Extremes: readonly string[] = ['9223372036854775807', '-9223372036854775808', '9007199254740993', '-9007199254740993', '4294967297'];

/** etcd's clientv3.GetPrefixRangeEnd: increment the last byte below 0xff, else "\0". */
export function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return bytes('\x00');
}

export class OpGenerator {
  private readonly rng: Rng;
  /** Current revision as last reported by the reference. */
  private lastRev = 1;
  /** Highest revision the reference accepted for compaction (0: none). */
  private compactRev = 0;
  private readonly liveLeases = new Set<string>();
  /** About a third of sequences use leases (granted with explicit IDs). */
  readonly useLeases: boolean;

  /** About one sequence in six restarts its servers once or twice. */
  readonly useRestarts: boolean;

  /** leases=false: never touch the Lease service; restarts=false: never restart. */
  constructor(seed: number, opts: { leases?: boolean; restarts?: boolean } = {}) {
    this.rng = new Rng(seed);
    this.useLeases = this.rng.bool(0.35) && opts.leases !== false;
    this.useRestarts = this.rng.bool(0.16) && opts.restarts !== false;
  }

  /** Feeds the reference's answer back so later revisions are meaningful. */
  observe(op: Op, result: RpcResult<unknown>): void {
    if (!result.ok) return;
    const header = (result.value as { header?: { revision?: string } | null }).header;
    if (header?.revision !== undefined) {
      const rev = Number(header.revision);
      if (rev > 0) this.lastRev = rev;
    }
    if (op.kind === 'compact') this.compactRev = Math.max(this.compactRev, Number(op.req.revision));
    if (op.kind === 'leaseGrant' && op.req.ID !== undefined) this.liveLeases.add(String(op.req.ID));
    if (op.kind === 'leaseRevoke') this.liveLeases.delete(op.req.ID);
  }

  next(): Op {
    const r = this.rng;
    return r.weighted<() => Op>([
      [33, () => ({ kind: 'range', req: this.range() })],
      [24, () => ({ kind: 'put', req: this.put() })],
      [8, () => ({ kind: 'deleteRange', req: this.deleteRange() })],
      [23, () => ({ kind: 'txn', req: this.txn(0) })],
      [3, () => ({ kind: 'compact', req: this.compact() })],
      [this.useLeases ? 5 : 0, () => this.leaseOp()],
      [3, () => this.invalid()],
      [this.useRestarts ? 2 : 0, () => ({ kind: 'restart', req: { kill9: r.bool() } })],
    ])();
  }

  // --- building blocks -----------------------------------------------------

  private writeKey(): Buffer {
    return this.rng.pick(writeKeys);
  }

  private readKey(): Buffer {
    return this.rng.bool(0.8) ? this.rng.pick(writeKeys) : this.rng.pick(readKeys);
  }

  private value(): Buffer {
    return this.rng.pick(values);
  }

  /** A revision for reads: 0, past, current, future, compacted, negative, int64 extremes. */
  private readRev(): string {
    const r = this.rng;
    const last = this.lastRev;
    const compacted = this.compactRev;
    return r.weighted<() => string>([
      [50, () => '0'],
      [20, () => String(r.int(1, last))],
      [6, () => String(last)],
      [6, () => String(last + r.int(1, 3))],
      [compacted > 1 ? 7 : 0, () => String(r.int(1, compacted - 1))],
      [compacted > 0 ? 5 : 0, () => String(compacted)],
      [2, () => String(-r.int(1, 3))],
      [1, () => r.pick(int64Extremes)],
    ])();
  }

  /** A revision used as a filter bound or compare operand; rarely an int64 extreme. */
  private someRev(): string {
    const r = this.rng;
    if (r.bool(0.03)) return r.pick(int64Extremes);
    return String(r.weighted<() => number>([[15, () => 0], [70, () => r.int(1, this.lastRev)], [10, () => this.lastRev + 1], [5, () => this.lastRev]])());
  }

  /** range_end forms: none (one key), prefix, "\0" (from key), explicit (maybe below key), key itself, key+"\0". */
  private rangeEnd(key: Buffer, pNone = 0.4): Buffer | undefined {
    const r = this.rng;
    if (r.bool(pNone)) return undefined;
    return r.weighted<() => Buffer>([
      [35, () => prefixEnd(key)],
      [15, () => bytes('\x00')],
      [35, () => r.pick(readKeys)],
      [5, () => Buffer.from(key)],
      [7, () => Buffer.concat([key, bytes('\x00')])],
      [3, () => bytes('\xff')],
    ])();
  }

  private withRange<T extends { key: Buffer | string | Uint8Array; range_end?: Buffer | string | Uint8Array }>(req: T, pNone = 0.4): T {
    const r = this.rng;
    if (r.bool(0.05)) {
      req.key = bytes('\x00');
      req.range_end = bytes('\x00'); // every key
      return req;
    }
    const end = this.rangeEnd(req.key as Buffer, pNone);
    if (end !== undefined) req.range_end = end;
    return req;
  }

  range(): RangeRequest {
    const r = this.rng;
    const req: RangeRequest = this.withRange({ key: this.readKey() });
    const limit = r.weighted<() => string>([[55, () => '0'], [35, () => String(r.int(1, 5))], [3, () => '-1'], [7, () => String(r.int(6, 20))], [1, () => r.pick(int64Extremes)]])();
    if (limit !== '0' || r.bool(0.1)) req.limit = limit;
    const rev = this.readRev();
    if (rev !== '0' || r.bool(0.1)) req.revision = rev;
    if (r.bool(0.45)) {
      req.sort_order = r.weighted([[30, 0], [35, 1], [35, 2]]);
      req.sort_target = r.int(0, 4);
    }
    if (r.bool(0.2)) req.serializable = true;
    if (r.bool(0.15)) req.keys_only = true;
    if (r.bool(0.12)) req.count_only = true;
    if (r.bool(0.08)) req.min_mod_revision = this.someRev();
    if (r.bool(0.08)) req.max_mod_revision = this.someRev();
    if (r.bool(0.08)) req.min_create_revision = this.someRev();
    if (r.bool(0.08)) req.max_create_revision = this.someRev();
    return req;
  }

  private leaseForPut(): string | undefined {
    const r = this.rng;
    if (!this.useLeases || r.bool(0.6)) return undefined;
    const live = [...this.liveLeases];
    if (live.length === 0 && r.bool(0.6)) return undefined;
    return r.weighted<() => string>([
      [live.length > 0 ? 70 : 0, () => r.pick(live)],
      [20, () => r.pick(leaseIds)],
      [10, () => unknownLeaseId],
    ])();
  }

  put(key: Buffer = this.writeKey()): PutRequest {
    const r = this.rng;
    const req: PutRequest = { key };
    if (r.bool(0.92)) req.value = this.value();
    const lease = this.leaseForPut();
    if (lease !== undefined) req.lease = lease;
    if (r.bool(0.4)) req.prev_kv = true;
    if (r.bool(0.1)) {
      req.ignore_value = true;
      if (r.bool(0.7)) delete req.value; // a value with ignore_value is an error: keep it sometimes
    }
    if (r.bool(0.08)) {
      req.ignore_lease = true;
      if (r.bool(0.7)) delete req.lease;
    }
    return req;
  }

  deleteRange(key: Buffer = this.readKey(), single = false): DeleteRangeRequest {
    const req: DeleteRangeRequest = single ? { key } : this.withRange({ key }, 0.5);
    if (this.rng.bool(0.5)) req.prev_kv = true;
    return req;
  }

  compact(): CompactionRequest {
    const r = this.rng;
    const last = this.lastRev;
    const c = this.compactRev;
    const rev = r.weighted<() => number>([
      [55, () => r.int(Math.min(c + 1, last), last)],
      [10, () => last],
      [c > 0 ? 10 : 0, () => c],
      [c > 1 ? 5 : 0, () => r.int(1, c - 1)],
      [10, () => last + r.int(1, 2)],
      [5, () => 0],
      [5, () => -1],
    ])();
    const req: CompactionRequest = { revision: String(rev) };
    if (r.bool(0.5)) req.physical = true;
    return req;
  }

  private compare(): Compare {
    const r = this.rng;
    const target = r.int(0, 4);
    const c: Compare = { key: r.bool(0.01) ? Buffer.alloc(0) : this.readKey(), target, result: r.int(0, 3) };
    const end = this.rangeEnd(c.key as Buffer, 0.75);
    if (end !== undefined) c.range_end = end;
    // Usually the operand matches the target; sometimes another union member (or none) is sent.
    const operand = r.bool(0.94) ? target : r.weighted([[80, r.int(0, 4)], [20, -1]]);
    switch (operand) {
      case 0:
        c.version = r.bool(0.04) ? r.pick(int64Extremes) : String(r.int(0, 4));
        break;
      case 1:
        c.create_revision = this.someRev();
        break;
      case 2:
        c.mod_revision = this.someRev();
        break;
      case 3:
        c.value = this.value();
        break;
      case 4:
        c.lease = r.pick(['0', ...leaseIds]);
        break;
      default:
        break;
    }
    return c;
  }

  /**
   * A txn. "Clean" txns avoid duplicate keys (so they usually apply), the
   * rest mix ops freely to exercise etcd's duplicate-key rules.
   */
  txn(depth: number, used?: Set<string>): TxnRequest {
    const r = this.rng;
    const clean = used ?? (r.bool(0.7) ? new Set<string>() : undefined);
    const req: TxnRequest = {};
    const nCompare = r.weighted([[20, 0], [40, 1], [25, 2], [15, 3]]);
    if (nCompare > 0 || r.bool(0.5)) req.compare = Array.from({ length: nCompare }, () => this.compare());
    req.success = this.txnOps(depth, clean);
    req.failure = this.txnOps(depth, clean);
    return req;
  }

  private txnOps(depth: number, used: Set<string> | undefined): RequestOp[] {
    const r = this.rng;
    const n = r.weighted([[10, 0], [30, 1], [30, 2], [20, 3], [10, 4]]);
    const ops: RequestOp[] = [];
    for (let i = 0; i < n; i++) ops.push(this.txnOp(depth, used));
    return ops;
  }

  private freeKey(used: Set<string>): Buffer | undefined {
    const free = writeKeys.filter((k) => !used.has(k.toString('latin1')));
    if (free.length === 0) return undefined;
    const k = this.rng.pick(free);
    used.add(k.toString('latin1'));
    return k;
  }

  private txnOp(depth: number, used: Set<string> | undefined): RequestOp {
    const r = this.rng;
    const kind = r.weighted([[35, 'range'], [35, 'put'], [18, 'delete'], [depth < 2 ? 10 : 0, 'txn'], [used === undefined ? 2 : 0, 'empty']] as const);
    switch (kind) {
      case 'range':
        return { request_range: this.range() };
      case 'put': {
        if (used === undefined) return { request_put: this.put() };
        const k = this.freeKey(used);
        return k === undefined ? { request_range: this.range() } : { request_put: this.put(k) };
      }
      case 'delete': {
        if (used === undefined) return { request_delete_range: this.deleteRange() };
        const k = this.freeKey(used);
        return k === undefined ? { request_range: this.range() } : { request_delete_range: this.deleteRange(k, true) };
      }
      case 'txn':
        return { request_txn: this.txn(depth + 1, used) };
      case 'empty':
        return {};
    }
  }

  private leaseOp(): Op {
    const r = this.rng;
    if (r.bool(0.6)) {
      const req: LeaseGrantRequest = { TTL: String(r.pick([600, 3600])), ID: r.pick(leaseIds) };
      return { kind: 'leaseGrant', req };
    }
    const live = [...this.liveLeases];
    const id = live.length > 0 && r.bool(0.8) ? r.pick(live) : r.pick([...leaseIds, unknownLeaseId]);
    return { kind: 'leaseRevoke', req: { ID: id } };
  }

  /** Requests etcd refuses before or during apply. */
  private invalid(): Op {
    const r = this.rng;
    const empty = Buffer.alloc(0);
    const ranges = (n: number): RequestOp[] => Array.from({ length: n }, () => ({ request_range: { key: this.readKey() } }));
    return r.weighted<() => Op>([
      [10, () => ({ kind: 'range', req: { ...this.range(), key: empty } })],
      [10, () => ({ kind: 'put', req: { key: empty, value: this.value() } })],
      [8, () => ({ kind: 'deleteRange', req: { key: empty } })],
      [8, () => ({ kind: 'put', req: { key: this.writeKey(), value: bytes('x'), ignore_value: true } })],
      [8, () => ({ kind: 'put', req: { key: this.writeKey(), lease: r.pick(leaseIds), ignore_lease: true } })],
      [8, () => ({ kind: 'put', req: { key: this.writeKey(), value: this.value(), lease: unknownLeaseId } })],
      [8, () => ({ kind: 'put', req: { key: this.writeKey(), ignore_value: true, prev_kv: r.bool() } })],
      [6, () => ({ kind: 'txn', req: { success: ranges(129) } })],
      [4, () => ({ kind: 'txn', req: { failure: ranges(129) } })],
      [4, () => ({ kind: 'txn', req: { compare: Array.from({ length: 129 }, () => this.compare()) } })],
      [4, () => ({ kind: 'txn', req: { success: ranges(128), compare: [this.compare()] } })],
      [4, () => ({ kind: 'txn', req: { success: [...ranges(100), { request_txn: { success: ranges(29) } }] } })],
      [6, () => ({ kind: 'txn', req: { success: [{}] } })],
      [6, () => ({ kind: 'txn', req: { compare: [{ key: empty, target: 0, result: 0, version: '0' }] } })],
      [6, () => ({ kind: 'txn', req: { success: [{ request_put: { key: empty } }] } })],
      [6, () => ({ kind: 'txn', req: { failure: [{ request_delete_range: { key: empty } }, { request_put: { key: bytes('a') } }] } })],
      [4, () => ({ kind: 'txn', req: { success: [{ request_put: { key: bytes('a') } }, { request_put: { key: bytes('a') } }] } })],
      [4, () => ({ kind: 'txn', req: { success: [{ request_delete_range: { key: bytes('a'), range_end: bytes('c') } }, { request_put: { key: bytes('b') } }] } })],
      [4, () => ({ kind: 'txn', req: { success: [{ request_put: { key: bytes('b') } }, { request_txn: { success: [{ request_put: { key: bytes('b') } }] } }] } })],
      [4, () => ({ kind: 'txn', req: { success: [{ request_txn: { success: [{ request_put: { key: bytes('b') } }], failure: [{ request_put: { key: bytes('b') } }] } }] } })],
      [3, () => ({ kind: 'txn', req: { success: [{ request_delete_range: { key: bytes('a'), range_end: bytes('\x00') } }, { request_put: { key: bytes('b') } }] } })],
      // etcd limits the marshalled raft request (put plus its header) to --max-request-bytes (1.5 MiB):
      // with a 1-3 byte key, values up to about 1.5 MiB - 26 bytes pass. Sizes keep a few bytes of margin.
      [2, () => ({ kind: 'put', req: { key: this.writeKey(), value: Buffer.alloc(1_600_000, 0x61) } })],
      [3, () => ({ kind: 'put', req: { key: this.writeKey(), value: Buffer.alloc(1_572_864 - r.pick([8, 14, 20, 36, 48]), 0x62) } })],
      [1, () => ({ kind: 'txn', req: { success: [{ request_put: { key: this.writeKey(), value: Buffer.alloc(1_572_864 - 48, 0x63) } }] } })],
      // Above max-request-bytes + 512 KiB gRPC itself refuses the message.
      [1, () => ({ kind: 'put', req: { key: this.writeKey(), value: Buffer.alloc(2_200_000, 0x64) } })],
      // Enum values etcd does not define in compares (3.4 evaluates them; unknown sort enums crash etcd 3.4, so none here).
      [2, () => ({ kind: 'txn', req: { compare: [{ ...this.compare(), result: r.int(4, 9) }], success: [{ request_range: { key: this.readKey() } }] } })],
      [2, () => ({ kind: 'txn', req: { compare: [{ ...this.compare(), target: r.int(5, 9) }], failure: [{ request_range: { key: this.readKey() } }] } })],
    ])();
  }
}

/** Sends one generated op; gRPC errors come back as results, never as rejections. */
export function execute(client: EtcdClient, op: Op): Promise<RpcResult<unknown>> {
  switch (op.kind) {
    case 'range':
      return client.range(op.req);
    case 'put':
      return client.put(op.req);
    case 'deleteRange':
      return client.deleteRange(op.req);
    case 'txn':
      return client.txn(op.req);
    case 'compact':
      return client.compact(op.req);
    case 'leaseGrant':
      return client.leaseGrant(op.req);
    case 'leaseRevoke':
      return client.leaseRevoke(op.req.ID);
    case 'restart':
      return Promise.reject(new Error('restart is performed by the test runner, not sent to a server'));
  }
}
