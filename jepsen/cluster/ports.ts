// Loopback ports for members when the run has no network namespaces. Claims
// use the same O_EXCL lock files as test/helpers/procs.ts's freePort, so runs
// and tests on one machine never hand out the same port.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const lockDir = path.join(os.tmpdir(), 'keel-test-ports');
const held = new Map<number, string>();
const claimTriesMax = 200;

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes a lock file named `name` in `dir`; a lock whose owner died is taken over. */
export function claimLock(dir: string, name: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readOr(file, ''));
      if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) return false;
      try {
        fs.unlinkSync(file);
      } catch {
        /* another process took it over first */
      }
    }
  }
  return false;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from the kernel'))));
    });
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < claimTriesMax; i++) {
    const port = await kernelPort();
    if (held.has(port)) continue;
    if (claimLock(lockDir, String(port))) {
      held.set(port, path.join(lockDir, String(port)));
      return port;
    }
  }
  throw new Error(`no free loopback port in ${claimTriesMax} tries`);
}

export function releasePorts(): void {
  for (const file of held.values()) {
    try {
      fs.unlinkSync(file);
    } catch {
      /* gone */
    }
  }
  held.clear();
}
