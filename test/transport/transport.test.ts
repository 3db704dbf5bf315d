// Transports on real loopback sockets: exchange in all directions, order,
// reconnect after a restart, large snapshots with bounded memory, queue and
// socket-buffer bounds against slow or absent peers, cluster-ID refusal.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { message, type Message } from '../../src/raft';
import { encodeHelloAck } from '../../src/transport';
import {
  app, closeAll, connectAll, entries, heartbeat, liveArrayBuffers, settledArrayBuffers, startNode, turn, waitActive, waitFor, type Node,
} from './helpers';

test('three transports exchange messages in every direction', async () => {
  const nodes = [await startNode(1n), await startNode(2n), await startNode(0xffff_ffff_ffff_fff0n)];
  try {
    connectAll(nodes);
    for (const a of nodes) for (const b of nodes) if (a !== b) await waitActive(a, b);
    const sent = new Map<bigint, Message[]>();
    for (const a of nodes) {
      const batch: Message[] = [];
      for (const b of nodes) {
        if (a === b) continue;
        for (let i = 1; i <= 50; i++) batch.push(i % 2 === 0 ? app(a.id, b.id, i, entries(2, 16, i)) : heartbeat(a.id, b.id, i));
        batch.push(message({ type: 'MsgVote', from: a.id, to: b.id, term: 9, context: new Uint8Array([7]) }));
      }
      for (const m of batch) sent.set(m.to, [...(sent.get(m.to) ?? []), m]);
      a.t.send(batch);
    }
    await waitFor('all messages', () => nodes.every((n) => n.received.length === 102));
    for (const n of nodes) {
      const want = sent.get(n.id) ?? [];
      for (const from of nodes) {
        if (from === n) continue;
        assert.deepStrictEqual(n.received.filter((m) => m.from === from.id), want.filter((m) => m.from === from.id));
      }
      assert.deepEqual(n.unreachable, []);
    }
  } finally {
    await closeAll(nodes);
  }
});

test('order is preserved per peer across many turns', async () => {
  const [a, b] = [await startNode(1n), await startNode(2n, { keep: false })];
  let last = 0;
  let count = 0;
  let outOfOrder = 0;
  const sink = await startNode(3n, {
    keep: false,
    onMessage: (m) => {
      if (m.index <= last) outOfOrder++;
      last = m.index;
      count++;
    },
  });
  try {
    a.t.addPeer(sink.id, [sink.url]);
    await waitActive(a, sink);
    const total = 20_000;
    const ents = entries(2, 64);
    // Paced by turns so the queue never fills: every message must arrive, in order.
    for (let i = 1; i <= total; i += 500) {
      const batch: Message[] = [];
      for (let j = i; j < i + 500; j++) batch.push(j % 3 === 0 ? app(a.id, sink.id, j, ents) : heartbeat(a.id, sink.id, j));
      a.t.send(batch);
      await turn();
    }
    await waitFor('all 20k messages', () => count === total);
    assert.equal(outOfOrder, 0);
    assert.equal(a.t.peerStats(sink.id)?.droppedMsgs, 0);
  } finally {
    await closeAll([a, b, sink]);
  }
});

test('reconnects after the peer restarts on the same port; unreachable while down', async () => {
  const a = await startNode(1n);
  let b = await startNode(2n);
  try {
    connectAll([a, b]);
    await waitActive(a, b);
    a.t.send([heartbeat(1n, 2n, 1)]);
    await waitFor('first heartbeat', () => b.received.length === 1);
    const firstActive = a.t.activeSince(2n);
    assert.ok(firstActive !== undefined);

    const url = b.url;
    await b.t.close();
    await waitFor('A sees B down', () => a.t.activeSince(2n) === undefined);
    for (let i = 0; i < 20; i++) {
      a.t.send([heartbeat(1n, 2n, 100 + i)]);
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor('unreachable reported', () => a.unreachable.includes(2n));
    assert.ok((a.t.peerStats(2n)?.droppedMsgs ?? 0) > 0);
    assert.ok(a.logs.some((l) => l.level === 'warn' && l.msg === 'peer became inactive (connection lost)'));

    b = await startNode(2n, { listenUrl: url });
    b.t.addPeer(1n, [a.url]);
    await waitActive(a, b);
    assert.ok((a.t.activeSince(2n) ?? 0) >= firstActive);
    a.t.send([heartbeat(1n, 2n, 1000)]);
    b.t.send([heartbeat(2n, 1n, 2000)]);
    await waitFor('messages flow again', () => b.received.some((m) => m.index === 1000) && a.received.some((m) => m.index === 2000));
  } finally {
    await closeAll([a, b]);
  }
});

test('a 20 MB snapshot arrives intact with bounded memory; heartbeats keep flowing', async (t) => {
  const a = await startNode(1n);
  let snap: Message | null = null;
  let heartbeatsDuring = 0;
  const b2 = await startNode(3n, {
    keep: false,
    onMessage: (m) => {
      if (m.type === 'MsgSnap') snap = m;
      else if (snap === null) heartbeatsDuring++;
    },
  });
  try {
    a.t.addPeer(3n, [b2.url]);
    await waitActive(a, b2);
    const size = 20 * 1024 * 1024;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4) data[i] = (i * 2654435761) >>> 24;
    const base = await settledArrayBuffers();
    let peak = base;
    let peakSocket = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, liveArrayBuffers());
      peakSocket = Math.max(peakSocket, a.t.peerStats(3n)?.snapshotBufferedBytes ?? 0);
    }, 10);
    const m = message({
      type: 'MsgSnap', from: 1n, to: 3n, term: 4,
      snapshot: { metadata: { index: 1234, term: 4, confState: { voters: [1n, 3n], learners: [] } }, data },
    });
    // The heartbeat queued behind the MsgSnap travels on the stream connection and must not wait for it.
    a.t.send([m, heartbeat(1n, 3n, 1)]);
    const pump = setInterval(() => a.t.send([heartbeat(1n, 3n, 1)]), 1);
    try {
      await waitFor('snapshot status', () => a.snapshotStatus.length > 0, 20_000);
    } finally {
      clearInterval(pump);
      clearInterval(sampler);
    }
    assert.deepEqual(a.snapshotStatus, [{ peer: 3n, ok: true }]);
    const got = snap as Message | null;
    assert.ok(got !== null && got.snapshot !== null);
    assert.deepStrictEqual(got.snapshot.metadata, m.snapshot?.metadata);
    assert.ok(Buffer.from(got.snapshot.data).equals(Buffer.from(data)));
    assert.equal(got.term, 4);
    // The receiver holds exactly one copy (chunks land in it directly); socket buffers add little.
    const extra = peak - base;
    assert.ok(extra < size + 8 * 1024 * 1024, `snapshot transfer used ${extra} bytes beyond the data`);
    assert.ok(peakSocket <= 2 * 256 * 1024, `snapshot socket buffered ${peakSocket} bytes`);
    t.diagnostic(`live array buffers peaked ${((peak - base) / 1048576).toFixed(1)} MiB above base for a 20 MiB snapshot; `
      + `sender socket buffer peaked ${peakSocket} B; ${heartbeatsDuring} heartbeats arrived during the transfer`);
    assert.ok(heartbeatsDuring > 0, 'a heartbeat was held up behind the snapshot');
    assert.equal(b2.t.stats().snapshotsReceiving, 0);
  } finally {
    await closeAll([a, b2]);
  }
});

test('snapshot edge cases: empty data delivered; peer down and too large reported as failures', async () => {
  const a = await startNode(1n);
  const small = await startNode(2n, { limits: { snapshotBytesMax: 1024 } });
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as net.AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  try {
    a.t.addPeer(2n, [small.url]);
    a.t.addPeer(9n, [`http://127.0.0.1:${deadPort}`]);
    const snap = (to: bigint): Message => message({
      type: 'MsgSnap', from: 1n, to, term: 1,
      snapshot: { metadata: { index: 5, term: 1, confState: { voters: [1n, to], learners: [] } }, data: new Uint8Array(4096) },
    });
    a.t.send([snap(2n), snap(9n)]);
    await waitFor('both statuses', () => a.snapshotStatus.length === 2);
    assert.deepEqual(new Set(a.snapshotStatus.map((s) => `${s.peer}:${s.ok}`)), new Set(['2:false', '9:false']));
    assert.ok(a.unreachable.includes(2n) && a.unreachable.includes(9n));
    assert.equal(small.received.length, 0);
    assert.ok(small.logs.some((l) => l.msg.startsWith('refused incoming snapshot')));
    assert.equal(small.t.stats().snapshotsReceiving, 0);

    const empty = message({
      type: 'MsgSnap', from: 1n, to: 2n, term: 1,
      snapshot: { metadata: { index: 6, term: 1, confState: { voters: [1n, 2n], learners: [] } }, data: new Uint8Array(0) },
    });
    a.t.send([empty]);
    await waitFor('empty snapshot status', () => a.snapshotStatus.length === 3);
    assert.deepEqual(a.snapshotStatus[2], { peer: 2n, ok: true });
    assert.deepStrictEqual(small.received, [empty]);
  } finally {
    await closeAll([a, small]);
  }
});

/** A peer that completes the handshake and then never reads: the slowest possible peer. */
async function stuckPeer(clusterId: bigint, memberId: bigint): Promise<{ url: string; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.once('data', () => {
      s.write(encodeHelloAck({ status: 'ok', clusterId, memberId }));
      s.pause();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('a slow peer never grows memory past the queue and socket bounds; drops are counted', async (t) => {
  const limits = { peerQueueMsgsMax: 256, peerQueueBytesMax: 512 * 1024, socketBufferBytesMax: 1024 * 1024, writeBatchBytesMax: 64 * 1024 };
  const a = await startNode(1n, { limits });
  const slow = await stuckPeer(0xc1c1n, 2n);
  try {
    a.t.addPeer(2n, [slow.url]);
    await waitFor('active', () => a.t.activeSince(2n) !== undefined);
    const ents = entries(10, 256);
    const base = await settledArrayBuffers();
    let sent = 0;
    let maxQueued = 0;
    let maxSocket = 0;
    for (let round = 0; round < 60; round++) {
      const batch: Message[] = [];
      for (let i = 0; i < 500; i++) batch.push(app(1n, 2n, ++sent, ents));
      a.t.send(batch);
      await turn();
      const s = a.t.peerStats(2n);
      assert.ok(s !== undefined);
      maxQueued = Math.max(maxQueued, s.queuedBytes);
      maxSocket = Math.max(maxSocket, s.socketBufferedBytes);
      assert.ok(s.queuedMsgs <= limits.peerQueueMsgsMax);
    }
    const s = a.t.peerStats(2n);
    assert.ok(s !== undefined);
    const grown = liveArrayBuffers() - base;
    assert.ok(maxQueued <= limits.peerQueueBytesMax, `queue held ${maxQueued} bytes`);
    assert.ok(maxSocket <= limits.socketBufferBytesMax + limits.writeBatchBytesMax, `socket held ${maxSocket} bytes`);
    assert.ok(s.droppedMsgs > 25_000, `only ${s.droppedMsgs} of ${sent} dropped`);
    assert.equal(s.droppedMsgs + s.sentMsgs + s.queuedMsgs, sent);
    const bound = limits.peerQueueBytesMax + limits.socketBufferBytesMax + limits.writeBatchBytesMax + 1024 * 1024;
    assert.ok(grown < bound, `array buffers grew by ${grown} bytes (bound ${bound}) for ${sent * 2700} bytes sent`);
    assert.ok(a.unreachable.includes(2n));
    t.diagnostic(`${sent} sent, ${s.sentMsgs} written, ${s.droppedMsgs} dropped; queue peaked ${maxQueued} B, socket buffer ${maxSocket} B; `
      + `live array buffers grew ${grown} B`);
  } finally {
    await a.t.close();
    await slow.close();
  }
});

test('a stalled connection is dropped and redialed', async () => {
  const a = await startNode(1n, { limits: { writeStallMs: 200, stallCheckIntervalMs: 50, socketBufferBytesMax: 64 * 1024 } });
  const slow = await stuckPeer(0xc1c1n, 2n);
  try {
    a.t.addPeer(2n, [slow.url]);
    await waitFor('active', () => a.t.activeSince(2n) !== undefined);
    const ents = entries(10, 1024);
    // Enough to fill the kernel buffers on both sides and leave bytes stuck in the socket.
    for (let round = 0; round < 200 && a.t.activeSince(2n) !== undefined; round++) {
      a.t.send(Array.from({ length: 50 }, (_, i) => app(1n, 2n, round * 50 + i, ents)));
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor('stall detected', () => a.logs.some((l) => l.msg === 'peer became inactive (connection lost)'));
    assert.ok(a.logs.some((l) => JSON.stringify(l.f).includes('no write progress')));
    await waitFor('redialed', () => a.logs.filter((l) => l.msg === 'peer became active').length >= 2);
  } finally {
    await a.t.close();
    await slow.close();
  }
});

test('sending to an absent peer drops at once and reports unreachable', async () => {
  const a = await startNode(1n);
  try {
    a.t.addPeer(2n, ['http://127.0.0.1:1']);
    await waitFor('first dial fails', () => a.unreachable.includes(2n));
    const before = await settledArrayBuffers();
    const ents = entries(10, 256);
    for (let round = 0; round < 20; round++) {
      a.t.send(Array.from({ length: 500 }, (_, i) => app(1n, 2n, i, ents)));
      await turn();
    }
    const s = a.t.peerStats(2n);
    assert.ok(s !== undefined);
    assert.ok(s.queuedMsgs <= 500);
    assert.ok(s.droppedMsgs >= 9_500);
    assert.ok(liveArrayBuffers() - before < 4 * 1024 * 1024);
    assert.ok(a.logs.some((l) => l.msg === 'failed to connect to peer'));
    a.t.send([heartbeat(1n, 77n, 1)]);
    assert.equal(a.t.stats().droppedUnknownPeerMsgs, 1);
  } finally {
    await a.t.close();
  }
});

test('a connection from another cluster is refused with a clear log line on both sides', async () => {
  const a = await startNode(1n, { clusterId: 0xaaaan });
  const b = await startNode(2n, { clusterId: 0xbbbbn });
  try {
    a.t.addPeer(2n, [b.url]);
    await waitFor('refusal logged', () => b.logs.some((l) => l.msg === 'rejected peer connection: cluster ID mismatch')
      && a.logs.some((l) => l.msg === 'peer refused connection: cluster ID mismatch'));
    const line = b.logs.find((l) => l.msg === 'rejected peer connection: cluster ID mismatch');
    assert.deepEqual(
      [(line?.f as Record<string, unknown>)['local-cluster-id'], (line?.f as Record<string, unknown>)['remote-peer-cluster-id']],
      ['bbbb', 'aaaa'],
    );
    a.t.send([heartbeat(1n, 2n, 1)]);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.t.activeSince(2n), undefined);
    assert.equal(b.received.length, 0);
    assert.ok(a.unreachable.includes(2n));
  } finally {
    await closeAll([a, b]);
  }
});

test('garbage and silent connections are dropped', async () => {
  const a = await startNode(1n, { limits: { handshakeTimeoutMs: 200 } });
  try {
    const port = Number(new URL(a.url).port);
    const closed = (write: string | null): Promise<void> => new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { if (write !== null) s.write(write); });
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    await Promise.all([closed('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), closed(null)]);
    assert.ok(a.logs.some((l) => JSON.stringify(l.f).includes('exceeds')));
    assert.ok(a.logs.some((l) => JSON.stringify(l.f).includes('handshake timed out')));
    assert.equal(a.received.length, 0);
  } finally {
    await a.t.close();
  }
});

test('peers can be updated and removed; close leaves nothing running', async () => {
  const a = await startNode(1n);
  const b = await startNode(2n);
  const c = await startNode(2n);
  try {
    a.t.addPeer(2n, [b.url]);
    a.t.addPeer(2n, [b.url]);
    a.t.addPeer(1n, [a.url]);
    await waitActive(a, b);
    assert.equal(a.logs.filter((l) => l.msg === 'added remote peer').length, 1);
    a.t.updatePeer(2n, [c.url]);
    await waitFor('moved to c', () => a.t.activeSince(2n) !== undefined && a.logs.filter((l) => l.msg === 'peer became active').length === 2);
    a.t.send([heartbeat(1n, 2n, 5)]);
    await waitFor('c receives', () => c.received.length === 1);
    assert.equal(b.received.length, 0);
    a.t.removePeer(2n);
    assert.equal(a.t.activeSince(2n), undefined);
    a.t.send([heartbeat(1n, 2n, 6)]);
    assert.equal(a.t.stats().droppedUnknownPeerMsgs, 1);
  } finally {
    await closeAll([a, b, c]);
  }
  assert.equal(a.t.stats().inboundConnections, 0);
  // Handles close asynchronously after destroy(); every socket, listener and timer of the file must go.
  const ours = (): string[] => process.getActiveResourcesInfo().filter((r) => /TCP|TLS|Timeout|Immediate/.test(r));
  await waitFor(`handles to close (${ours().join(', ')})`, () => ours().length === 0, 2000);
});

export type { Node };
