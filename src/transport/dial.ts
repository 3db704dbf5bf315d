// Peer URLs (etcd's http:// and https:// peer URL forms) and the sockets
// behind them: plain TCP for http, TLS for https.
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as tls from 'node:tls';

export interface PeerUrl {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  readonly text: string;
}

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly trustedCaFile?: string;
  readonly clientCertAuth?: boolean;
}

/** The TLS files, read once at listen. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
  readonly clientCertAuth: boolean;
}

export class UrlError extends Error {
  override name = 'UrlError';
}

export function parsePeerUrl(text: string): PeerUrl {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UrlError(`invalid peer URL ${JSON.stringify(text)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UrlError(`peer URL ${JSON.stringify(text)} must use http or https`);
  }
  const secure = u.protocol === 'https:';
  // WHATWG URL drops a scheme's default port, so '' means 80 or 443.
  const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (host === '') throw new UrlError(`peer URL ${JSON.stringify(text)} has no host`);
  return { secure, host, port, text };
}

export function formatPeerUrl(secure: boolean, host: string, port: number): string {
  const h = net.isIPv6(host) ? `[${host}]` : host;
  return `${secure ? 'https' : 'http'}://${h}:${port}`;
}

export async function loadTls(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    fs.readFile(files.certFile),
    fs.readFile(files.keyFile),
    files.trustedCaFile === undefined ? Promise.resolve(null) : fs.readFile(files.trustedCaFile),
  ]);
  return { cert, key, ca, clientCertAuth: files.clientCertAuth === true };
}

/** Opens a connection; errors arrive as the socket's 'error' event. */
export function dial(url: PeerUrl, material: TlsMaterial | null): net.Socket {
  if (!url.secure) return net.connect({ host: url.host, port: url.port });
  const opts: tls.ConnectionOptions = { host: url.host, port: url.port };
  // SNI must not carry an IP address (RFC 6066); IP SANs are still verified.
  if (net.isIP(url.host) === 0) opts.servername = url.host;
  if (material !== null) {
    opts.cert = material.cert;
    opts.key = material.key;
    if (material.ca !== null) opts.ca = material.ca;
  }
  return tls.connect(opts);
}

export function tlsServerOptions(material: TlsMaterial): tls.TlsOptions {
  const opts: tls.TlsOptions = {
    cert: material.cert,
    key: material.key,
    requestCert: material.clientCertAuth,
    rejectUnauthorized: material.clientCertAuth,
  };
  if (material.ca !== null) opts.ca = material.ca;
  return opts;
}
