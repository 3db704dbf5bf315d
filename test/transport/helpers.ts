// Shared pieces of the transport tests: a member's transport with its
// callbacks recorded, message builders, and polling waits.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { message, type Entry, type Message } from '../../src/raft';
import { Transport, type TransportLimits, type TransportOptions } from '../../src/transport';

export interface LogLine {
  readonly level: 'info' | 'warn';
  readonly msg: string;
  readonly f: object | undefined;
}

export interface Node {
  readonly id: bigint;
  t: Transport;
  url: string;
  readonly received: Message[];
  readonly unreachable: bigint[];
  readonly snapshotStatus: Array<{ peer: bigint; ok: boolean }>;
  readonly logs: LogLine[];
}

export interface NodeOptions {
  readonly clusterId?: bigint;
  readonly listenUrl?: string;
  readonly tls?: TransportOptions['tls'];
  readonly limits?: Partial<TransportLimits>;
  /** Keep received messages (default true); false only counts them. */
  readonly keep?: boolean;
  readonly onMessage?: (m: Message) => void;
}

/** Fast reconnects so restart tests stay short. */
export const testLimits: Partial<TransportLimits> = { backoffInitialMs: 20, backoffMaxMs: 200 };

export async function startNode(id: bigint, o: NodeOptions = {}, existing?: Node): Promise<Node> {
  const node: Node = existing ?? { id, t: undefined as unknown as Transport, url: '', received: [], unreachable: [], snapshotStatus: [], logs: [] };
  const keep = o.keep ?? true;
  const opts: TransportOptions = {
    memberId: id,
    clusterId: o.clusterId ?? 0xc1c1n,
    listenUrls: [o.listenUrl ?? 'http://127.0.0.1:0'],
    onMessage: (m) => {
      if (keep) node.received.push(m);
      o.onMessage?.(m);
    },
    onUnreachable: (p) => { node.unreachable.push(p); },
    onSnapshotStatus: (peer, ok) => { node.snapshotStatus.push({ peer, ok }); },
    log: {
      info: (msg, f) => { node.logs.push({ level: 'info', msg, f }); },
      warn: (msg, f) => { node.logs.push({ level: 'warn', msg, f }); },
    },
    limits: { ...testLimits, ...o.limits },
  };
  if (o.tls !== undefined) opts.tls = o.tls;
  node.t = await Transport.listen(opts);
  node.url = node.t.boundUrls()[0] as string;
  return node;
}

export function connectAll(nodes: readonly Node[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.addPeer(b.id, [b.url]);
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Polls every 5 ms; the deadline bounds the loop.
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function waitActive(a: Node, b: Node): Promise<void> {
  await waitFor(`${a.id} → ${b.id} active`, () => a.t.activeSince(b.id) !== undefined);
}

export function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export function entries(count: number, bytes: number, firstIndex = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const data = new Uint8Array(bytes);
    for (let j = 0; j < bytes; j++) data[j] = (firstIndex + i + j) & 0xff;
    out.push({ term: 3, index: firstIndex + i, type: 'normal', data });
  }
  return out;
}

export function app(from: bigint, to: bigint, index: number, ents: readonly Entry[] = []): Message {
  return message({ type: 'MsgApp', from, to, term: 3, logTerm: 3, index, commit: index, entries: ents });
}

export function heartbeat(from: bigint, to: bigint, index: number): Message {
  return message({ type: 'MsgHeartbeat', from, to, term: 3, index, commit: index });
}

export async function closeAll(nodes: readonly Node[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.close()));
}

v8.setFlagsFromString('--expose-gc');
/** A full collection, so memory samples show what is live rather than garbage awaiting GC. */
export const gc = vm.runInNewContext('gc') as () => void;

/** arrayBuffers (Buffer and Uint8Array backing stores) after a full collection. */
export function liveArrayBuffers(): number {
  gc();
  return process.memoryUsage().arrayBuffers;
}

/** Like liveArrayBuffers, settled: backing stores of earlier tests are released across turns. */
export async function settledArrayBuffers(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  return liveArrayBuffers();
}
