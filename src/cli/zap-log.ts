// zap's info lines as etcd's tools print them on stderr: etcdctl 3.4's
// production JSON encoder (epoch seconds), and etcdutl 3.5's console
// encoder (RFC 3339 time, tab-separated, fields as spaced JSON).
import { rfc3339Time } from './go-format';

export type LogValue = string | number | readonly string[];
export type LogField = readonly [string, LogValue];

/** Writes one info line: caller, message and fields in order. */
export type LogInfo = (caller: string, msg: string, fields?: readonly LogField[]) => void;

/** zap's string escaping: JSON's, but no HTML escapes and \b, \f as \u00XX. */
function zapString(s: string): string {
  return JSON.stringify(s).replace(/\\([bf])/g, (m, c: string, at: number, all: string) => {
    let slashes = 0;
    for (let i = at - 1; i >= 0 && all[i] === '\\'; i--) slashes++;
    if (slashes % 2 === 1) return m;
    return c === 'b' ? '\\u0008' : '\\u000c';
  });
}

function jsonValue(v: LogValue, spaced: boolean): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return zapString(v);
  return `[${v.map((x) => zapString(x)).join(spaced ? ', ' : ',')}]`;
}

/** etcdctl 3.4: {"level":"info","ts":<epoch seconds>,"caller":…,"msg":…,<fields>}. */
export function jsonLogLine(caller: string, msg: string, fields: readonly LogField[] = [], now = Date.now()): string {
  const extra = fields.map(([k, v]) => `,${zapString(k)}:${jsonValue(v, false)}`).join('');
  return `{"level":"info","ts":${now / 1000},"caller":${zapString(caller)},"msg":${zapString(msg)}${extra}}\n`;
}

/** etcdutl 3.5: <time>\tinfo\t<caller>\t<msg>[\t{"k": v, …}]. */
export function consoleLogLine(caller: string, msg: string, fields: readonly LogField[] = [], now = new Date()): string {
  const head = `${rfc3339Time(now)}\tinfo\t${caller}\t${msg}`;
  if (fields.length === 0) return `${head}\n`;
  const body = fields.map(([k, v]) => `${zapString(k)}: ${jsonValue(v, true)}`).join(', ');
  return `${head}\t{${body}}\n`;
}
