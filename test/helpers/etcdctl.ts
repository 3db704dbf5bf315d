// Runs Debian's etcdctl (API v3) against a server and normalizes its output
// for comparison between two servers.
import { spawn } from 'node:child_process';
import { etcdctlBin } from './procs';

export interface CtlResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CtlOptions {
  stdin?: string;
  timeoutMs?: number;
  env?: Readonly<Record<string, string>>;
}

/** etcdctl --endpoints=<endpoint> args…, with ETCDCTL_API=3 and no inherited ETCDCTL_* settings. */
export function etcdctl(endpoint: string, args: readonly string[], opts: CtlOptions = {}): Promise<CtlResult> {
  const bin = etcdctlBin();
  if (bin === undefined) return Promise.reject(new Error('etcdctl not found (set ETCDCTL_BIN)'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('ETCDCTL_')) env[k] = v;
  }
  Object.assign(env, { ETCDCTL_API: '3' }, opts.env ?? {});
  const fullArgs = [`--endpoints=${endpoint}`, '--dial-timeout=5s', '--command-timeout=10s', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, fullArgs, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, signal });
    });
    child.stdin.on('error', () => undefined); // etcdctl may exit without reading stdin
    child.stdin.end(opts.stdin ?? '');
  });
}

/**
 * Replaces what is an ID or a clock reading by design, and nothing else:
 * non-zero cluster_id / member_id / raft_term (json: numbers; fields:
 * ClusterID, MemberID, RaftTerm — zeros, as in etcd's nested txn headers,
 * must match), log timestamps ("ts"), the random client UUID in grpc target
 * names, and the server's own address.
 */
export function normalizeCtl(text: string, endpoint: string): string {
  return text
    .split(endpoint).join('<endpoint>')
    .replace(/"(cluster_id|member_id|raft_term)":[1-9]\d*/g, '"$1":<id>')
    .replace(/"(ClusterID|MemberID|RaftTerm)" : [1-9]\d*/g, '"$1" : <id>')
    .replace(/"ts":"[^"]*"/g, '"ts":"<ts>"')
    .replace(/endpoint:\/\/client-[0-9a-f-]+\//g, 'endpoint://client-<uuid>/');
}
