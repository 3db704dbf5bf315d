// Shared by the WAL tests: the crash child's options, running it, and reading its trace.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Small segments and cache so crashes land in rollovers, releases and reads from disk too. */
export const crashWalOptions = { segmentBytes: 64 * 1024, entryCacheBytesMax: 4096 };

const childScript = path.join(__dirname, 'wal-crash-child.js');

export interface ChildRun {
  /** Digest at open, the last acknowledged digest, and the one in flight (tried, not acknowledged). */
  opened: string | undefined;
  acked: string | undefined;
  inFlight: string | undefined;
  acks: number;
  stderr: string;
  signal: NodeJS.Signals | null;
  code: number | null;
}

export interface ChildOptions {
  /** SIGKILL this long after the child reports ready (undefined: let it run to maxWrites or a failpoint). */
  killAfterMs?: number;
  maxWrites?: number;
  env?: Record<string, string>;
  /** SIGKILL the child when this settles (after it is ready). */
  stop?: Promise<unknown>;
}

/** Runs the crash child on dir; a guard kills it after 20 s whatever happens. */
export function runChild(dir: string, seed: number, o: ChildOptions): Promise<ChildRun> {
  const tracePath = `${dir}.trace`;
  const args = [childScript, dir, String(seed), tracePath, ...(o.maxWrites === undefined ? [] : [String(o.maxWrites)])];
  const env: Record<string, string | undefined> = { ...process.env, KEEL_FAILPOINTS: undefined, KEEL_FAILPOINT_PROBABILITY: undefined, ...o.env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      out += s;
      if (o.killAfterMs !== undefined && timer === undefined && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (stderr += s));
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    void o.stop?.finally(() => child.kill('SIGKILL'));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      resolve({ ...parseTrace(tracePath), stderr, signal, code });
    });
  });
}

function parseTrace(tracePath: string): Pick<ChildRun, 'opened' | 'acked' | 'inFlight' | 'acks'> {
  let lines: string[] = [];
  try {
    // A line cut by the kill is not a line.
    lines = readFileSync(tracePath, 'utf8').split('\n').slice(0, -1);
  } catch {
    // No trace: the child died before opening it; callers assert on opened.
  }
  const first = lines[0];
  const opened = first?.startsWith('open ') === true ? first.slice(5) : undefined;
  let acked = opened;
  let inFlight: string | undefined;
  let acks = 0;
  for (const line of lines.slice(1)) {
    const [kind, d] = line.split(' ') as [string, string];
    if (kind === 'try') inFlight = d;
    else if (d === inFlight) {
      acked = d;
      inFlight = undefined;
      acks++;
    } else {
      throw new Error(`trace ${tracePath}: ack ${d} does not follow its try`);
    }
  }
  return { opened, acked, inFlight, acks };
}
