// etcd's server flags, parsed the way Go's flag package parses them: "-x" and
// "--x" alike, "--x=v" or "--x v", booleans without a value; each flag may
// also come from ETCD_<NAME> (upper case, dashes as underscores); a flag on the
// command line wins over its variable.
export type FlagType = 'string' | 'bool' | 'uint' | 'int' | 'duration' | 'float';

export interface FlagSpec { type: FlagType; default: string; usage: string; supported?: boolean }

const s = (def: string, usage: string, supported = false): FlagSpec => ({ type: 'string', default: def, usage, supported });
const b = (def: boolean, usage: string, supported = false): FlagSpec => ({ type: 'bool', default: String(def), usage, supported });
const u = (def: number, usage: string, supported = false): FlagSpec => ({ type: 'uint', default: String(def), usage, supported });
const i = (def: number, usage: string, supported = false): FlagSpec => ({ type: 'int', default: String(def), usage, supported });
const d = (def: string, usage: string): FlagSpec => ({ type: 'duration', default: def, usage });

export const flagSpecs: Record<string, FlagSpec> = {
  // member
  'name': s('default', 'Human-readable name for this member.', true),
  'data-dir': s('${name}.keel', 'Path to the data directory.', true),
  'wal-dir': s('', 'Path to the dedicated wal directory.'),
  'snapshot-count': u(100000, 'Number of committed transactions to trigger a snapshot to disk.'),
  'heartbeat-interval': u(100, 'Time (in milliseconds) of a heartbeat interval.'),
  'election-timeout': u(1000, 'Time (in milliseconds) for an election to timeout.'),
  'initial-election-tick-advance': b(true, 'Whether to fast-forward initial election ticks on boot for faster election.'),
  'listen-peer-urls': s('http://localhost:2380', 'List of URLs to listen on for peer traffic.'),
  'listen-client-urls': s('http://localhost:2379', 'List of URLs to listen on for client traffic.', true),
  'listen-metrics-urls': s('', 'List of URLs to listen on for the metrics and health endpoints.'),
  'max-snapshots': u(5, 'Maximum number of snapshot files to retain (0 is unlimited).'),
  'max-wals': u(5, 'Maximum number of wal files to retain (0 is unlimited).'),
  'quota-backend-bytes': i(0, 'Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).', true),
  'backend-bbolt-freelist-type': s('map', "BackendFreelistType specifies the type of freelist that boltdb backend uses(array and map are supported types)"),
  'backend-batch-interval': d('0s', 'BackendBatchInterval is the maximum time before commit the backend transaction.'),
  'backend-batch-limit': i(0, 'BackendBatchLimit is the maximum operations before commit the backend transaction.'),
  'max-txn-ops': u(128, 'Maximum number of operations permitted in a transaction.', true),
  'max-request-bytes': u(1572864, 'Maximum client request size in bytes the server will accept.', true),
  'max-concurrent-streams': u(4294967295, 'Maximum concurrent streams that each client can open at a time.'),
  'grpc-keepalive-min-time': d('5s', 'Minimum interval duration that a client should wait before pinging server.'),
  'grpc-keepalive-interval': d('2h0m0s', 'Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).'),
  'grpc-keepalive-timeout': d('20s', 'Additional duration of wait before closing a non-responsive connection (0 to disable).'),
  'socket-reuse-port': b(false, 'Enable to set socket option SO_REUSEPORT on listeners allowing rebinding of a port already in use.'),
  'socket-reuse-address': b(false, 'Enable to set socket option SO_REUSEADDR on listeners allowing binding to an address in TIME_WAIT state.'),
  // clustering
  'initial-advertise-peer-urls': s('http://localhost:2380', "List of this member's peer URLs to advertise to the rest of the cluster.", true),
  'initial-cluster': s('default=http://localhost:2380', 'Initial cluster configuration for bootstrapping.'),
  'initial-cluster-state': s('new', "Initial cluster state ('new' or 'existing')."),
  'initial-cluster-token': s('etcd-cluster', 'Initial cluster token for the etcd cluster during bootstrap.', true),
  'advertise-client-urls': s('http://localhost:2379', "List of this member's client URLs to advertise to the public.", true),
  'discovery': s('', 'Discovery URL used to bootstrap the cluster.'),
  'discovery-fallback': s('proxy', "Expected behavior ('exit' or 'proxy') when discovery services fails."),
  'discovery-proxy': s('', 'HTTP proxy to use for traffic to discovery service.'),
  'discovery-srv': s('', 'DNS srv domain used to bootstrap the cluster.'),
  'discovery-srv-name': s('', 'Suffix to the dns srv name queried when bootstrapping.'),
  'strict-reconfig-check': b(true, 'Reject reconfiguration requests that would cause quorum loss.'),
  'pre-vote': b(true, 'Enable to run an additional Raft election phase.'),
  'auto-compaction-retention': s('0', 'Auto compaction retention for mvcc key value store. 0 means disable auto compaction.'),
  'auto-compaction-mode': s('periodic', "interpret 'auto-compaction-retention' one of: periodic|revision."),
  'enable-v2': b(false, 'Accept etcd V2 client requests.'),
  'v2-deprecation': s('not-yet', 'v2store deprecation stage.'),
  // security
  'cert-file': s('', 'Path to the client server TLS cert file.'),
  'key-file': s('', 'Path to the client server TLS key file.'),
  'client-cert-auth': b(false, 'Enable client cert authentication.'),
  'client-crl-file': s('', 'Path to the client certificate revocation list file.'),
  'client-cert-allowed-hostname': s('', 'Allowed TLS hostname for client cert authentication.'),
  'trusted-ca-file': s('', 'Path to the client server TLS trusted CA cert file.'),
  'auto-tls': b(false, 'Client TLS using generated certificates'),
  'peer-cert-file': s('', 'Path to the peer server TLS cert file.'),
  'peer-key-file': s('', 'Path to the peer server TLS key file.'),
  'peer-client-cert-auth': b(false, 'Enable peer client cert authentication.'),
  'peer-trusted-ca-file': s('', 'Path to the peer server TLS trusted CA file.'),
  'peer-cert-allowed-cn': s('', 'Allowed CN for inter peer authentication.'),
  'peer-cert-allowed-hostname': s('', 'Allowed TLS hostname for inter peer authentication.'),
  'peer-auto-tls': b(false, 'Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided.'),
  'self-signed-cert-validity': u(1, 'The validity period of the client and peer certificates that are automatically generated by etcd when you specify ClientAutoTLS and PeerAutoTLS, the unit is year, and the default is 1'),
  'peer-crl-file': s('', 'Path to the peer certificate revocation list file.'),
  'cipher-suites': s('', 'Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go).'),
  'cors': s('', 'Comma-separated whitelist of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).'),
  'host-whitelist': s('*', 'Acceptable hostnames from HTTP client requests, if server is not secure (empty means allow all).'),
  'tls-min-version': s('TLS1.2', 'Minimum TLS version supported by etcd.'),
  'tls-max-version': s('', 'Maximum TLS version supported by etcd.'),
  // auth
  'auth-token': s('simple', 'Specify auth token specific options.'),
  'bcrypt-cost': u(10, 'Specify bcrypt algorithm cost factor for auth password hashing.'),
  'auth-token-ttl': u(300, 'The lifetime in seconds of the auth token.'),
  // profiling, monitoring, logging
  'enable-pprof': b(false, 'Enable runtime profiling data via HTTP server.'),
  'metrics': s('basic', "Set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics."),
  'logger': s('zap', "Currently only supports 'zap' for structured logging."),
  'log-outputs': s('default', "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or list of comma separated output targets.", true),
  'log-level': s('info', 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.', true),
  'enable-log-rotation': b(false, 'Enable log rotation of a single log-outputs file target.'),
  'log-rotation-config-json': s('{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}', 'Configures log rotation if enabled with a JSON logger config.'),
  // unsafe
  'force-new-cluster': b(false, 'Force to create a new one member cluster.'),
  'unsafe-no-fsync': b(false, 'Disables fsync, unsafe, will cause data loss.'),
  // experimental (the ones kube deployments commonly set)
  'experimental-initial-corrupt-check': b(false, 'Enable to check data corruption before serving any client/peer traffic.'),
  'experimental-corrupt-check-time': d('0s', 'Duration of time between cluster corruption check passes.'),
  'experimental-compact-hash-check-enabled': b(false, 'Enable leader to periodically check followers compaction hashes.'),
  'experimental-enable-lease-checkpoint': b(false, 'Enable leader to send regular checkpoints to other members to prevent reset of remaining TTL on leader change.'),
  'experimental-compaction-batch-limit': i(1000, 'Sets the maximum revisions deleted in each compaction batch.'),
  'experimental-watch-progress-notify-interval': { ...d('10m0s', 'Duration of periodic watch progress notifications.'), supported: true },
  'experimental-warning-apply-duration': d('100ms', 'Time duration after which a warning is generated if request takes more time.'),
  'experimental-txn-mode-write-with-shared-buffer': b(true, 'Enable the write transaction to use a shared buffer in its readonly check operations.'),
  'experimental-snapshot-catchup-entries': u(5000, 'Number of entries for a slow follower to catch up after compacting the raft storage entries.'),
  'experimental-max-learners': i(1, 'Sets the maximum number of learners that can be available in the cluster membership.'),
  'experimental-enable-distributed-tracing': b(false, 'Enable experimental distributed  tracing using OpenTelemetry Tracing.'),
};

export class FlagError extends Error {}

export interface ParsedFlags {
  values: Map<string, string>;
  /** Flags given on the command line or by environment (as opposed to defaults). */
  explicit: Set<string>;
  help: boolean;
  version: boolean;
  warnings: string[];
}

function checkValue(name: string, spec: FlagSpec, raw: string, shown: string): string {
  const bad = (): FlagError => new FlagError(`invalid value ${JSON.stringify(raw)} for flag -${shown}: parse error`);
  switch (spec.type) {
    case 'bool':
      if (/^(1|t|T|TRUE|true|True)$/.test(raw)) return 'true';
      if (/^(0|f|F|FALSE|false|False)$/.test(raw)) return 'false';
      throw bad();
    case 'uint':
      if (!/^\d+$/.test(raw)) throw bad();
      return raw;
    case 'int':
      if (!/^[+-]?\d+$/.test(raw)) throw bad();
      return raw;
    case 'float':
      if (Number.isNaN(Number(raw))) throw bad();
      return raw;
    case 'duration':
      if (!/^([0-9.]+(ns|us|µs|ms|s|m|h))+$|^0$/.test(raw)) throw bad();
      return raw;
    case 'string':
      return raw;
  }
  return name;
}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv): ParsedFlags {
  const values = new Map<string, string>();
  const explicit = new Set<string>();
  const warnings: string[] = [];
  let help = false;
  let version = false;
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k] as string;
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') throw new FlagError(`'${arg}' is not a valid flag`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === 'h' || name === 'help') { help = true; continue; }
    if (name === 'version') { version = true; continue; }
    const spec = flagSpecs[name];
    if (spec === undefined) throw new FlagError(`flag provided but not defined: -${name}`);
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.type === 'bool') raw = 'true';
    else {
      const next = argv[k + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: -${name}`);
      raw = next;
      k++;
    }
    values.set(name, checkValue(name, spec, raw, name));
    explicit.add(name);
  }
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith('ETCD_') || raw === undefined) continue;
    const name = key.slice(5).toLowerCase().replace(/_/g, '-');
    const spec = flagSpecs[name];
    if (spec === undefined) {
      // etcd's own client variables are not server flags; etcd ignores them too.
      if (!key.startsWith('ETCDCTL_')) warnings.push(`unrecognized environment variable ${key}=${raw}`);
      continue;
    }
    if (explicit.has(name)) {
      warnings.push(`ignored environment variable ${key} since the flag is set`);
      continue;
    }
    values.set(name, checkValue(name, spec, raw, name));
    explicit.add(name);
  }
  for (const [name, spec] of Object.entries(flagSpecs)) if (!values.has(name)) values.set(name, spec.default);
  return { values, explicit, help, version, warnings };
}

export function usage(): string {
  const lines = ['Usage:', '', '  keel [flags]', '    Start a keel member (an etcd-compatible server).', '', '  keel --version', '    Show the version of keel.', '', '  keel -h | --help', '    Show the help information about keel.', '', 'Flags (etcd\'s names; each also from ETCD_<NAME>):', ''];
  for (const [name, spec] of Object.entries(flagSpecs)) {
    lines.push(`  --${name}${spec.type === 'bool' ? '' : ` '${spec.default}'`}`);
    lines.push(`      ${spec.usage}${spec.supported === true ? '' : ' (accepted; not in effect yet)'}`);
  }
  return lines.join('\n') + '\n';
}

export function shortUsage(): string {
  return 'Usage:\n\n  keel [flags]\n    Start a keel member.\n\n  keel --version\n    Show the version of keel.\n\n  keel -h | --help\n    Show the help information about keel.\n';
}

/** Go's time.ParseDuration for the units etcd's flags use; returns milliseconds. */
export function durationMs(v: string): number {
  if (v === '0') return 0;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const re = /([0-9.]+)(ns|us|µs|ms|s|m|h)/g;
  let consumed = 0;
  for (let m; (m = re.exec(v)); ) {
    total += Number(m[1]) * (unitMs[m[2] as string] ?? 0);
    consumed += m[0].length;
  }
  if (consumed !== v.length) throw new FlagError(`time: invalid duration ${JSON.stringify(v)}`);
  return total;
}
