// keel: the server. Reads argv, ETCD_* variables and signals, then runs one member.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Member, createLogger, defaultConfig, etcdVersion, clusterVersion, type ServerConfig, type Logger, type LogLevel, type PeerNetwork, parseInitialCluster, parseRetention } from '../src/server';
import { createClientServer, listen } from '../src/api';
import { Transport, probeClusterId, type TlsFiles } from '../src/transport';
import { failpointsActive, installFailpoints, limits } from '../src/util';
import { parseFlags, usage, shortUsage, durationMs, FlagError, type ParsedFlags } from './keel-flags';

const keelVersion = (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

function splitUrls(v: string): string[] {
  return v.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
}

function logFds(outputs: string): number[] {
  const fds: number[] = [];
  for (const o of outputs.split(',')) {
    if (o === 'default' || o === 'stderr') fds.push(2);
    else if (o === 'stdout') fds.push(1);
    else fds.push(fs.openSync(o, 'a'));
  }
  return fds;
}

function configFrom(f: ParsedFlags): ServerConfig {
  const v = (name: string): string => f.values.get(name) ?? '';
  const cfg = defaultConfig();
  cfg.name = v('name');
  cfg.dataDir = f.explicit.has('data-dir') ? v('data-dir') : `${cfg.name}.keel`;
  cfg.listenClientUrls = splitUrls(v('listen-client-urls'));
  cfg.advertiseClientUrls = splitUrls(v('advertise-client-urls'));
  cfg.initialAdvertisePeerUrls = splitUrls(v('initial-advertise-peer-urls'));
  cfg.initialClusterToken = v('initial-cluster-token');
  cfg.listenPeerUrls = splitUrls(v('listen-peer-urls'));
  // etcd: without --initial-cluster, a member named N forms a cluster of itself at its advertised peer URLs.
  cfg.initialCluster = f.explicit.has('initial-cluster') ? v('initial-cluster') : cfg.initialAdvertisePeerUrls.map((u) => `${cfg.name}=${u}`).join(',');
  const state = v('initial-cluster-state');
  if (state !== 'new' && state !== 'existing') throw new FlagError(`invalid value "${state}" for flag -initial-cluster-state: valid values are "new", "existing"`);
  cfg.initialClusterState = state;
  cfg.heartbeatMs = Number(v('heartbeat-interval'));
  cfg.electionTimeoutMs = Number(v('election-timeout'));
  cfg.preVote = v('pre-vote') === 'true';
  cfg.snapshotCount = Number(v('snapshot-count'));
  // etcd: 0 means the default for both.
  const batchInterval = durationMs(v('backend-batch-interval'));
  cfg.backendBatchIntervalMs = batchInterval > 0 ? batchInterval : limits.backendBatchIntervalMsDefault;
  const batchLimit = Number(v('backend-batch-limit'));
  cfg.backendBatchLimit = batchLimit > 0 ? Math.min(batchLimit, limits.storeUncommittedEntriesMax) : limits.backendBatchLimitDefault;
  const mode = v('auto-compaction-mode');
  if (mode !== 'periodic' && mode !== 'revision') throw new FlagError(`unknown auto-compaction-mode ${JSON.stringify(mode)}`);
  cfg.autoCompaction = { mode, retention: parseRetention(mode, v('auto-compaction-retention'), durationMs) };
  cfg.snapshotCatchupEntries = Number(v('experimental-snapshot-catchup-entries'));
  cfg.maxRequestBytes = Number(v('max-request-bytes'));
  cfg.maxTxnOps = Number(v('max-txn-ops'));
  const quota = Number(v('quota-backend-bytes'));
  // etcd: 0 means the default quota; a negative quota disables the check.
  cfg.quotaBackendBytes = quota === 0 ? limits.quotaBackendBytesDefault : quota < 0 ? Number.MAX_SAFE_INTEGER : quota;
  return cfg;
}

function validate(cfg: ServerConfig, f: ParsedFlags): void {
  if (f.explicit.has('listen-client-urls') && !f.explicit.has('advertise-client-urls')) {
    throw new FlagError('--advertise-client-urls is required when --listen-client-urls is set explicitly');
  }
  if (cfg.electionTimeoutMs < 5 * cfg.heartbeatMs) throw new FlagError(`--election-timeout[${cfg.electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${cfg.heartbeatMs}ms]`);
  if (cfg.maxTxnOps < 1) throw new FlagError(`--max-txn-ops must be positive, got ${cfg.maxTxnOps}`);
  if (cfg.maxRequestBytes < 1) throw new FlagError(`--max-request-bytes must be positive, got ${cfg.maxRequestBytes}`);
}

/**
 * Peer messaging. A lone member needs none, so the peer listener starts only
 * once there is a peer (at start for a cluster, or when a member is added).
 * Messages sent before it is up are dropped; raft sends them again.
 */
class LazyPeers implements PeerNetwork {
  private transport: Transport | undefined;
  /** --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth (https peer URLs). */
  tls: TlsFiles | undefined;
  private starting: Promise<void> | undefined;
  private readonly peers = new Map<bigint, string[]>();

  constructor(private readonly cfg: ServerConfig, private readonly member: Member, private readonly log: Logger, private readonly fatal: (e: unknown) => void) {}

  send(messages: Parameters<PeerNetwork['send']>[0]): void {
    if (this.transport !== undefined) this.transport.send(messages);
    else this.ensure();
  }

  addPeer(id: bigint, urls: string[]): void {
    this.peers.set(id, urls);
    if (this.transport !== undefined) this.transport.addPeer(id, urls);
    else this.ensure();
  }

  removePeer(id: bigint): void {
    this.peers.delete(id);
    this.transport?.removePeer(id);
  }

  ensure(): Promise<void> {
    this.starting ??= Transport.listen({
      memberId: this.member.memberId,
      clusterId: this.member.clusterId,
      listenUrls: this.cfg.listenPeerUrls,
      ...(this.tls === undefined ? {} : { tls: this.tls }),
      onMessage: (m) => this.member.step(m),
      onUnreachable: (id) => this.member.reportUnreachable(id),
      onSnapshotStatus: (id, ok) => this.member.reportSnapshot(id, ok),
      log: this.log,
    }).then((t) => {
      this.transport = t;
      for (const [id, urls] of this.peers) t.addPeer(id, urls);
      this.log.info('listening for peers', { address: this.cfg.listenPeerUrls });
    }, (e: unknown) => this.fatal(new Error(`failed to listen for peers on ${this.cfg.listenPeerUrls.join(',')}: ${(e as Error).message}`)));
    return this.starting;
  }

  async close(): Promise<void> {
    await this.starting;
    await this.transport?.close();
  }
}

async function main(): Promise<void> {
  let flags: ParsedFlags;
  try {
    flags = parseFlags(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${shortUsage()}`);
    process.exit(2);
  }
  if (flags.help) { process.stdout.write(usage()); return; }
  if (flags.version) {
    process.stdout.write(`keel Version: ${keelVersion}\netcd API Version: ${etcdVersion}\nNode Version: ${process.version}\nNode OS/Arch: ${process.platform}/${process.arch}\n`);
    return;
  }
  const level = (flags.values.get('log-level') ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error', 'panic', 'fatal'].includes(level)) {
    process.stderr.write(`unknown log level "${level}"\n`);
    process.exit(1);
  }
  const log = createLogger(level, logFds(flags.values.get('log-outputs') ?? 'default'));
  for (const w of flags.warnings) log.warn(w);
  let cfg: ServerConfig;
  try {
    cfg = configFrom(flags);
    validate(cfg, flags);
  } catch (e) {
    log.warn('failed to verify flags', { error: (e as Error).message });
    process.exit(1);
  }
  const unsupported = [...flags.explicit].filter((n) => !['name', 'data-dir', 'listen-client-urls', 'advertise-client-urls', 'max-request-bytes', 'max-txn-ops', 'quota-backend-bytes', 'initial-advertise-peer-urls', 'initial-cluster-token', 'initial-cluster', 'initial-cluster-state', 'listen-peer-urls', 'heartbeat-interval', 'election-timeout', 'pre-vote', 'snapshot-count', 'backend-batch-interval', 'backend-batch-limit', 'experimental-snapshot-catchup-entries', 'auto-compaction-mode', 'auto-compaction-retention', 'peer-cert-file', 'peer-key-file', 'peer-trusted-ca-file', 'peer-client-cert-auth', 'log-level', 'log-outputs', 'logger', 'experimental-watch-progress-notify-interval'].includes(n));
  if (unsupported.length > 0) log.warn('flags accepted but not yet in effect in this keel version', { flags: unsupported });
  await run(cfg, log, durationMs(flags.values.get('experimental-watch-progress-notify-interval') ?? '10m0s'), peerTls(flags));
}

function peerTls(f: ParsedFlags): TlsFiles | undefined {
  const v = (n: string): string => f.values.get(n) ?? '';
  if (v('peer-cert-file') === '' || v('peer-key-file') === '') return undefined;
  return {
    certFile: v('peer-cert-file'),
    keyFile: v('peer-key-file'),
    ...(v('peer-trusted-ca-file') === '' ? {} : { trustedCaFile: v('peer-trusted-ca-file') }),
    clientCertAuth: v('peer-client-cert-auth') === 'true',
  };
}

async function run(cfg: ServerConfig, log: Logger, progressNotifyIntervalMs: number, tls: TlsFiles | undefined): Promise<void> {
  log.info('starting keel', { 'keel-version': keelVersion, 'etcd-version': etcdVersion, 'node-version': process.version, name: cfg.name, 'data-dir': cfg.dataDir, 'advertise-client-urls': cfg.advertiseClientUrls, 'listen-client-urls': cfg.listenClientUrls, 'max-request-bytes': cfg.maxRequestBytes, 'max-txn-ops': cfg.maxTxnOps, 'quota-backend-bytes': cfg.quotaBackendBytes });
  let stopping = false;
  installFailpointsFromEnv(log);
  const fatal = (e: unknown): void => {
    log.error('fatal error; stopping member', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    process.exit(1);
  };
  // etcd: a member that has its log restarts from it, whatever --initial-cluster-state says.
  const restarting = fs.existsSync(path.join(cfg.dataDir, 'member', 'wal'));
  if (cfg.initialClusterState === 'existing' && !restarting) {
    // A joining member learns the cluster ID from a peer it was told about (etcd asks their /members).
    const others = [...parseInitialCluster(cfg.initialCluster)].filter(([name]) => name !== cfg.name).flatMap(([, urls]) => urls);
    try {
      cfg.existingClusterId = await probeClusterId(others, 0n, tls, 5000);
    } catch (e) {
      log.error('failed to join the cluster', { error: (e as Error).message });
      process.exit(1);
    }
  }
  let member: Member;
  try {
    member = await Member.open(cfg, log, fatal);
  } catch (e) {
    log.error('failed to open data dir', { 'data-dir': cfg.dataDir, error: (e as Error).message });
    process.exit(1);
  }
  log.info('starting member', { 'local-member-id': member.memberIdHex, 'cluster-id': member.clusterIdHex, 'initial-cluster': cfg.initialCluster, 'initial-cluster-state': cfg.initialClusterState });
  const network = new LazyPeers(cfg, member, log, fatal);
  network.tls = tls;
  // etcd listens on its peer URLs from the start, alone or not: a member added later dials it there.
  await network.ensure();
  member.start(network);
  await member.ready;
  const server = createClientServer({ member, log, fatal, progressNotifyIntervalMs, fastUnary: process.env['KEEL_UNARY_FAST_PATH'] !== 'off' });
  try {
    await listen(server, cfg.listenClientUrls);
  } catch (e) {
    log.error('failed to listen for client traffic', { error: (e as Error).message });
    await member.close();
    process.exit(1);
  }
  log.info('enabled capabilities for version', { 'cluster-version': clusterVersion.replace(/\.0$/, '') });
  log.info('ready to serve client requests');
  for (const url of cfg.listenClientUrls) log.info('serving client traffic insecurely; this is strongly discouraged!', { address: url.replace(/^https?:\/\//, '') });

  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('received signal; shutting down', { signal });
    server.tryShutdown(() => undefined);
    void network.close();
    member.close().then(
      () => { log.info('stopped keel member', { name: cfg.name }); process.exit(0); },
      (e: unknown) => fatal(e),
    );
    setTimeout(() => server.forceShutdown(), 2000).unref();
  };
  process.on('SIGTERM', () => shutdown('terminated'));
  process.on('SIGINT', () => shutdown('interrupt'));
}

/** Test-only crash points (src/util/failpoints.ts): KEEL_FAILPOINTS and KEEL_FAILPOINT_PROBABILITY; off when unset. */
function installFailpointsFromEnv(log: Logger): void {
  const spec = process.env['KEEL_FAILPOINTS'] ?? '';
  try {
    installFailpoints({ spec, probability: process.env['KEEL_FAILPOINT_PROBABILITY'], random: Math.random, kill: () => process.kill(process.pid, 'SIGKILL') });
  } catch (e) {
    log.error('invalid KEEL_FAILPOINTS', { error: (e as Error).message });
    process.exit(1);
  }
  if (failpointsActive()) log.warn('failpoints are active: this member will kill itself on purpose (testing only)', { failpoints: spec, probability: process.env['KEEL_FAILPOINT_PROBABILITY'] ?? '1' });
}

main().catch((e: unknown) => {
  process.stderr.write(`keel: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
