// The process as keelctl and keelutl see it: stdout/stderr written
// synchronously (so output is complete before exit), stdin read whole,
// the environment, SIGINT/SIGTERM, and the exit code.
import * as fs from 'node:fs';
import { exitBySignal, type Io } from '../src/cli';

function writeAll(fd: number, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      // A non-blocking pipe that is full: try again. A closed reader: drop the rest, as Go's tools do.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw e;
    }
  }
}

function readStdin(): Buffer {
  try {
    return fs.readFileSync(0);
  } catch {
    return Buffer.alloc(0);
  }
}

function onInterrupt(handler: () => void): () => void {
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

export function processIo(): Io {
  return {
    out: (data) => writeAll(1, data),
    err: (data) => writeAll(2, data),
    stdin: readStdin,
    env: process.env,
    onInterrupt,
  };
}

/** Ends the process with the command's exit code; exitBySignal dies by SIGINT, as Go's tools do on Ctrl-C. */
export function exitWith(code: number): void {
  if (code === exitBySignal) {
    process.removeAllListeners('SIGINT');
    process.kill(process.pid, 'SIGINT');
    return;
  }
  process.exit(code);
}
