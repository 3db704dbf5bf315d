// One process per WAL. Node has no flock(), so the lock is a file created
// exclusively (O_EXCL) holding the owner's pid and its start time from
// /proc/<pid>/stat; a lock whose owner is gone (kill -9 leaves it behind) or
// whose pid now belongs to a different process is stale and taken over. Two
// processes taking over the same stale lock in the same instant could both
// win; a member is not started twice within microseconds, so that window is
// accepted rather than pulling in a native module.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const lockFileName = 'LOCK';

export class WalLockedError extends Error {
  override name = 'WalLockedError';
}

function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the parenthesised command name; starttime is field 22 of the whole line.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

function alive(pid: number, started: string): boolean {
  const now = startTime(pid);
  if (now !== null) return now === started;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface WalLock {
  release(): void;
}

/** Takes dir's lock or throws WalLockedError naming the holder. */
export function lockWal(dir: string): WalLock {
  const file = path.join(dir, lockFileName);
  const me = `${process.pid} ${startTime(process.pid) ?? '?'}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, me);
      fs.closeSync(fd);
      return { release: () => releaseIfMine(file, me) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = readHolder(file);
    if (held === null) continue;
    if (held.pid !== 0 && alive(held.pid, held.started)) throw new WalLockedError(`WAL ${dir} is in use by process ${held.pid} (lock file ${file})`);
    fs.rmSync(file, { force: true });
  }
  throw new WalLockedError(`WAL ${dir}: could not take the lock file ${file}`);
}

function readHolder(file: string): { pid: number; started: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return null;
  }
  const [pid, started] = text.trim().split(' ');
  const n = Number(pid);
  // An empty or garbled lock file was left by a process killed while writing it.
  if (!Number.isSafeInteger(n) || n <= 0 || started === undefined) return { pid: 0, started: '' };
  return { pid: n, started };
}

function releaseIfMine(file: string, me: string): void {
  try {
    if (fs.readFileSync(file, 'latin1') === me) fs.rmSync(file, { force: true });
  } catch {
    // Already gone: nothing to release.
  }
}
