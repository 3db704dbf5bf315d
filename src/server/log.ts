// JSON-lines logger shaped like etcd's zap output, so that tools that wait for
// etcd's milestone messages ("ready to serve client requests", ...) work.
import * as fs from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, panic: 4, fatal: 5 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return v.message;
  return v;
}

/** Writes synchronously: a line logged just before a crash must reach the file. */
export function createLogger(level: LogLevel, fds: number[], caller = 'keel'): Logger {
  const min = rank[level];
  const write = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (rank[lvl] < min) return;
    const line = JSON.stringify({ level: lvl, ts: new Date().toISOString(), caller, msg, ...fields }, jsonValue) + '\n';
    for (const fd of fds) {
      try { fs.writeSync(fd, line); } catch { /* a closed log output must not take the member down */ }
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
