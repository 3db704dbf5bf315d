// Peer TLS: a self-signed certificate made here with openssl serves as cert,
// key and trusted CA (etcd's --peer-cert-file/--peer-key-file/
// --peer-trusted-ca-file/--peer-client-cert-auth). Skipped when openssl is missing.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { message, type Message } from '../../src/raft';
import { app, closeAll, entries, heartbeat, startNode, waitActive, waitFor, type Node } from './helpers';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const skip = hasOpenssl ? false : 'openssl is not installed';
let dir = '';

interface CertFiles { certFile: string; keyFile: string }

function makeCert(name: string): CertFiles {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { certFile, keyFile };
}

let good: CertFiles;
let other: CertFiles;

before(() => {
  if (!hasOpenssl) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-transport-tls-'));
  good = makeCert('keel-peer');
  other = makeCert('stranger');
});

after(() => {
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

function tlsNode(id: bigint, cert: CertFiles = good): Promise<Node> {
  return startNode(id, {
    listenUrl: 'https://127.0.0.1:0',
    tls: { ...cert, trustedCaFile: cert.certFile, clientCertAuth: true },
  });
}

test('members exchange messages and a snapshot over mutual TLS', { skip }, async () => {
  const a = await tlsNode(1n);
  const b = await tlsNode(2n);
  try {
    assert.match(a.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    a.t.addPeer(2n, [b.url]);
    b.t.addPeer(1n, [a.url]);
    await waitActive(a, b);
    await waitActive(b, a);
    const toB: Message[] = Array.from({ length: 200 }, (_, i) => app(1n, 2n, i + 1, entries(3, 100, i)));
    a.t.send(toB);
    b.t.send([heartbeat(2n, 1n, 7)]);
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    a.t.send([message({
      type: 'MsgSnap', from: 1n, to: 2n, term: 3,
      snapshot: { metadata: { index: 9, term: 3, confState: { voters: [1n, 2n], learners: [] } }, data },
    })]);
    await waitFor('all delivered', () => b.received.length === 201 && a.received.length === 1 && a.snapshotStatus.length === 1);
    assert.deepStrictEqual(b.received.filter((m) => m.type === 'MsgApp'), toB);
    const snap = b.received.find((m) => m.type === 'MsgSnap');
    assert.ok(snap?.snapshot !== undefined && snap.snapshot !== null);
    assert.ok(Buffer.from(snap.snapshot.data).equals(Buffer.from(data)));
    assert.deepEqual(a.snapshotStatus, [{ peer: 2n, ok: true }]);
    assert.equal(a.received[0]?.index, 7);
  } finally {
    await closeAll([a, b]);
  }
});

test('a client without a certificate is refused when client-cert-auth is on', { skip }, async () => {
  const b = await tlsNode(2n);
  try {
    const port = Number(new URL(b.url).port);
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(good.certFile) });
      s.on('error', () => undefined);
      s.on('close', () => resolve());
    });
    await waitFor('refusal logged', () => b.logs.some((l) => l.msg === 'rejected peer connection: TLS handshake failed'));
    assert.equal(b.received.length, 0);
  } finally {
    await b.t.close();
  }
});

test('untrusted certificates and plaintext dialers get no connection', { skip }, async () => {
  const b = await tlsNode(2n);
  const stranger = await tlsNode(1n, other);
  const plain = await startNode(3n);
  try {
    stranger.t.addPeer(2n, [b.url]);
    plain.t.addPeer(2n, [b.url.replace('https:', 'http:')]);
    b.t.addPeer(1n, [stranger.url]);
    await waitFor('all three fail', () => stranger.unreachable.includes(2n) && plain.unreachable.includes(2n) && b.unreachable.includes(1n));
    stranger.t.send([heartbeat(1n, 2n, 1)]);
    plain.t.send([heartbeat(3n, 2n, 1)]);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(b.received.length, 0);
    assert.equal(stranger.t.activeSince(2n), undefined);
    assert.equal(b.t.activeSince(1n), undefined);
    assert.ok(b.logs.some((l) => l.msg === 'rejected peer connection: TLS handshake failed'));
  } finally {
    await closeAll([b, stranger, plain]);
  }
});
