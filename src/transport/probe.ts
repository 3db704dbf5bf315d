// A member joining an existing cluster (--initial-cluster-state existing) does
// not know the cluster's ID yet: it asks a peer, whose handshake answer carries
// its cluster ID even when it refuses the connection (etcd asks /members).
import { dial, loadTls, parsePeerUrl, type TlsFiles } from './dial';
import { FrameReader, decodeHelloAck, encodeHello, frameKind, wireVersion } from './frame';
import { limits as globalLimits } from '../util';

function probeOne(url: string, memberId: bigint, material: Awaited<ReturnType<typeof loadTls>> | null, timeoutMs: number): Promise<bigint> {
  return new Promise((resolve, reject) => {
    const socket = dial(parsePeerUrl(url), material);
    const done = (e: Error | undefined, id?: bigint): void => {
      clearTimeout(timer);
      socket.destroy();
      if (e !== undefined) reject(e); else resolve(id as bigint);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${url}`)), timeoutMs);
    const reader = new FrameReader(globalLimits.transportHandshakeFrameBytesMax);
    socket.on('error', (e) => done(e));
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, (kind, payload) => {
          if (kind !== frameKind.helloAck) throw new Error(`unexpected frame kind ${kind}`);
          done(undefined, decodeHelloAck(payload).clusterId);
          return false;
        });
      } catch (e) {
        done(e as Error);
      }
    });
    socket.write(encodeHello({ version: wireVersion, role: 'stream', clusterId: 0n, from: memberId, to: 0n }));
  });
}

/** The cluster ID answered by the first reachable peer URL. */
export async function probeClusterId(urls: string[], memberId: bigint, tls: TlsFiles | undefined, timeoutMs: number): Promise<bigint> {
  const material = tls === undefined ? null : await loadTls(tls);
  const errors: string[] = [];
  for (const url of urls) {
    try {
      return await probeOne(url, memberId, material, timeoutMs);
    } catch (e) {
      errors.push(`${url}: ${(e as Error).message}`);
    }
  }
  throw new Error(`cannot fetch cluster info from peer urls: ${errors.join('; ')}`);
}
