// The checks `snapshot restore` makes of its cluster flags before it writes
// anything, with etcd's messages: the peer URLs (types.NewURLs), the
// --initial-cluster map (types.NewURLsMap), and the bootstrap rules
// (ServerConfig.VerifyBootstrap: the member is in the map, its advertised
// URLs match its entry, no URL is listed twice). Host names are compared as
// written: keel resolves no DNS here, where etcd would.
import { isIP } from 'node:net';
import { goQuote } from './go-format';
import { Exit, ExitError } from './exit';
import type { BootstrapMember } from './offline';

export interface RestoreFlags {
  name: string;
  initialCluster: string;
  initialClusterToken: string;
  initialAdvertisePeerUrls: string;
}

export interface RestorePlan {
  name: string;
  token: string;
  /** Every member of the new cluster, in --initial-cluster order, each with its URLs sorted. */
  members: BootstrapMember[];
}

function fail(message: string): never {
  throw new ExitError(Exit.error, message);
}

const schemeRe = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s;

/** One URL as types.NewURLs checks it. */
function checkUrl(raw: string): string {
  const url = raw.trim();
  const m = schemeRe.exec(url);
  const scheme = m?.[1] ?? '';
  if (scheme === 'unix' || scheme === 'unixs') return url;
  if (scheme !== 'http' && scheme !== 'https') fail(`URL scheme must be http, https, unix, or unixs: ${url}`);
  const rest = m?.[2] ?? '';
  const authority = rest.startsWith('//') ? rest.slice(2).split(/[/?#]/, 1)[0] ?? '' : '';
  const pathPart = rest.startsWith('//') ? rest.slice(2 + authority.length).split(/[?#]/, 1)[0] ?? '' : rest;
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  if (!/^(\[[^\]]*\]|[^:[\]]*):[^:]*$/.test(host)) fail(`URL address does not have the form "host:port": ${url}`);
  if (pathPart !== '') fail(`URL must not contain a path: ${url}`);
  return url;
}

/** types.NewURLs: every URL valid, sorted. */
export function parseUrls(list: readonly string[]): string[] {
  if (list.length === 0) fail('no valid URLs given');
  return list.map(checkUrl).sort();
}

/** types.NewURLsMap's parse: "a=u1,b=u2,a=u3" → name → URLs, in first-seen order. */
function splitClusterFlag(value: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of value.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq >= 0 ? part.slice(0, eq) : part;
    const url = eq >= 0 ? part.slice(eq + 1) : '';
    out.set(name, [...(out.get(name) ?? []), url]);
  }
  return out;
}

/** types.URLsMap.String(): "name=url" pairs, sorted, comma-joined. */
function urlsMapString(map: ReadonlyMap<string, readonly string[]>): string {
  const pairs: string[] = [];
  for (const [name, urls] of map) for (const u of urls) pairs.push(`${name}=${u}`);
  return pairs.sort().join(',');
}

function goQuotedSlice(items: readonly string[]): string {
  return `[${items.map((s) => goQuote(s)).join(' ')}]`;
}

/** A URL's host:port, when its host is an IP address (which resolves to itself). */
function ipHostPort(url: string): string | undefined {
  const m = /^https?:\/\/(?:[^@/]*@)?([^/?#]*)/.exec(url);
  const hostPort = m?.[1] ?? '';
  const host = hostPort.slice(0, hostPort.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
  return isIP(host) === 0 ? undefined : hostPort;
}

/** Called for each URL etcd would resolve while comparing (etcdutl 3.5 logs "resolved URL Host"). */
export type OnResolved = (url: string, hostPort: string) => void;

/** netutil.URLStringsEqual without DNS: the reason two sorted lists differ, or undefined. */
function urlListsDiffer(a: readonly string[], b: readonly string[], onResolved: OnResolved): string | undefined {
  if (a.length !== b.length) return `len(${goQuotedSlice(a)}) != len(${goQuotedSlice(b)})`;
  if (a.every((u, i) => u === b[i])) return undefined;
  for (const u of [...a, ...b]) {
    const hostPort = ipHostPort(u);
    if (hostPort !== undefined) onResolved(u, hostPort);
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return `resolved urls: ${goQuote(a[i] ?? '')} != ${goQuote(b[i] ?? '')}`;
  }
  return undefined;
}

/** ServerConfig.advertiseMatchesCluster. */
function checkAdvertised(name: string, advertised: readonly string[], cluster: ReadonlyMap<string, string[]>, onResolved: OnResolved): void {
  const own = cluster.get(name) ?? [];
  const why = urlListsDiffer(advertised, own, onResolved);
  if (why === undefined) return;
  const apStr = advertised.join(',');
  const missingFromAdvertised = own.filter((u) => !advertised.includes(u));
  if (missingFromAdvertised.length > 0) {
    const mstr = missingFromAdvertised.map((u) => `${name}=${u}`).join(',');
    fail(`--initial-cluster has ${mstr} but missing from --initial-advertise-peer-urls=${apStr} (${why})`);
  }
  const advertisedOnly = new Map([[name, [...advertised]]]);
  const missingFromCluster = advertised.filter((u) => !own.includes(u));
  if (missingFromCluster.length > 0) {
    fail(`--initial-advertise-peer-urls has ${missingFromCluster.join(',')} but missing from --initial-cluster=${urlsMapString(advertisedOnly)}`);
  }
  fail(`failed to resolve ${apStr} to match --initial-cluster=${urlsMapString(advertisedOnly)} (${why})`);
}

function hasDuplicateUrl(cluster: ReadonlyMap<string, readonly string[]>): boolean {
  const seen = new Set<string>();
  for (const urls of cluster.values()) {
    for (const u of urls) {
      if (seen.has(u)) return true;
      seen.add(u);
    }
  }
  return false;
}

/** The new cluster's members, or etcd's error for the first flag that is wrong. */
export function planRestore(flags: RestoreFlags, onResolved: OnResolved = () => undefined): RestorePlan {
  const advertised = parseUrls(flags.initialAdvertisePeerUrls.split(','));
  const cluster = new Map<string, string[]>();
  for (const [name, urls] of splitClusterFlag(flags.initialCluster)) cluster.set(name, parseUrls(urls));
  if (!cluster.has(flags.name)) fail(`couldn't find local name ${goQuote(flags.name)} in the initial cluster configuration`);
  checkAdvertised(flags.name, advertised, cluster, onResolved);
  if (hasDuplicateUrl(cluster)) fail(`initial cluster ${urlsMapString(cluster)} has duplicate url`);
  if (urlsMapString(cluster) === '') fail('initial cluster unset and no discovery URL found');
  const members = [...cluster].map(([name, peerUrls]) => ({ name, peerUrls }));
  return { name: flags.name, token: flags.initialClusterToken, members };
}
