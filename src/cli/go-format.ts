// Go's formatting rules where etcdctl's output depends on them: %q quoting,
// encoding/json strings, time.Duration.String, go-humanize Bytes, %x of
// uint64s, and the two log line formats (capnslog, zap) etcdctl writes.

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Go's strconv.Quote(string(b)): invalid UTF-8 bytes as \xNN. */
export function goQuote(input: Buffer | string): string {
  const b = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '"';
  let i = 0;
  while (i < b.length) {
    const [cp, size] = decodeRune(b, i);
    if (cp < 0) {
      out += `\\x${hex2(b[i] ?? 0)}`;
      i += 1;
      continue;
    }
    i += size;
    out += quoteRune(cp);
  }
  return `${out}"`;
}

function quoteRune(cp: number): string {
  switch (cp) {
    case 0x22: return '\\"';
    case 0x5c: return '\\\\';
    case 0x07: return '\\a';
    case 0x08: return '\\b';
    case 0x0c: return '\\f';
    case 0x0a: return '\\n';
    case 0x0d: return '\\r';
    case 0x09: return '\\t';
    case 0x0b: return '\\v';
    default: break;
  }
  if (cp === 0x20) return ' ';
  const ch = String.fromCodePoint(cp);
  if (cp >= 0x20 && cp !== 0x7f && printable.test(ch)) return ch;
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex2(cp)}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\U${cp.toString(16).padStart(8, '0')}`;
}

/** One UTF-8 rune at b[i]: [codepoint, size], or [-1, 1] when invalid. */
function decodeRune(b: Buffer, i: number): [number, number] {
  const c0 = b[i] ?? 0;
  if (c0 < 0x80) return [c0, 1];
  const cont = (k: number): number => {
    const c = b[i + k];
    return c !== undefined && (c & 0xc0) === 0x80 ? c & 0x3f : -1;
  };
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    const c1 = cont(1);
    return c1 < 0 ? [-1, 1] : [((c0 & 0x1f) << 6) | c1, 2];
  }
  if (c0 >= 0xe0 && c0 <= 0xef) {
    const c1 = cont(1);
    const c2 = cont(2);
    if (c1 < 0 || c2 < 0) return [-1, 1];
    const cp = ((c0 & 0x0f) << 12) | (c1 << 6) | c2;
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return [-1, 1];
    return [cp, 3];
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    const c1 = cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    if (c1 < 0 || c2 < 0 || c3 < 0) return [-1, 1];
    const cp = ((c0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
    if (cp < 0x10000 || cp > 0x10ffff) return [-1, 1];
    return [cp, 4];
  }
  return [-1, 1];
}

/** Go's string(bytes) printed with fmt: raw bytes out (we write Buffers as they are). */
export function goString(b: Buffer): Buffer {
  return b;
}

/** encoding/json's string encoding (HTML-safe, invalid UTF-8 → U+FFFD). */
export function goJsonString(input: string | Buffer): string {
  const b = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '"';
  let i = 0;
  while (i < b.length) {
    const [cp, size] = decodeRune(b, i);
    if (cp < 0) {
      out += '\\ufffd';
      i += 1;
      continue;
    }
    i += size;
    if (cp === 0x22) out += '\\"';
    else if (cp === 0x5c) out += '\\\\';
    else if (cp === 0x0a) out += '\\n';
    else if (cp === 0x0d) out += '\\r';
    else if (cp === 0x09) out += '\\t';
    else if (cp < 0x20 || cp === 0x3c || cp === 0x3e || cp === 0x26 || cp === 0x2028 || cp === 0x2029) {
      out += `\\u${cp.toString(16).padStart(4, '0')}`;
    } else out += String.fromCodePoint(cp);
  }
  return `${out}"`;
}

/** Go's time.Duration.String() for a duration in nanoseconds. */
export function goDuration(nsIn: bigint | number): string {
  let ns = typeof nsIn === 'bigint' ? nsIn : BigInt(Math.round(nsIn));
  if (ns === 0n) return '0s';
  const neg = ns < 0n;
  if (neg) ns = -ns;
  let out: string;
  if (ns < 1_000_000_000n) {
    let unit: string;
    let div: bigint;
    if (ns < 1_000n) {
      return `${neg ? '-' : ''}${ns}ns`;
    } else if (ns < 1_000_000n) {
      unit = 'µs';
      div = 1_000n;
    } else {
      unit = 'ms';
      div = 1_000_000n;
    }
    out = fraction(ns, div) + unit;
  } else {
    const h = ns / 3_600_000_000_000n;
    const m = (ns / 60_000_000_000n) % 60n;
    const sNs = ns % 60_000_000_000n;
    out = `${fraction(sNs, 1_000_000_000n)}s`;
    if (h > 0n || m > 0n) out = `${m}m${out}`;
    if (h > 0n) out = `${h}h${out}`;
  }
  return (neg ? '-' : '') + out;
}

function fraction(v: bigint, div: bigint): string {
  const whole = v / div;
  const frac = v % div;
  if (frac === 0n) return whole.toString();
  const digits = div.toString().length - 1;
  return `${whole}.${frac.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Parses Go durations ("2s", "500ms", "1m30s", "1.5h"); undefined if invalid. Result in ms. */
export function parseGoDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 };
  let i = 0;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s.startsWith('-') ? -1 : 1;
    i = 1;
  }
  if (i >= s.length) return undefined;
  let total = 0;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * (unitMs[m[2] ?? ''] ?? 0);
    i = re.lastIndex;
  }
  return sign * total;
}

/** Go's %.Nf: round half to even on the exact decimal value of the double. */
function goFixed(v: number, digits: number): string {
  const s = v.toFixed(digits + 6);
  const scaled = v * 10 ** digits;
  const floor = Math.floor(scaled);
  const diff = scaled - floor;
  if (Math.abs(diff - 0.5) < 1e-9 && Number.isInteger(v * 10 ** (digits + 1))) {
    const even = floor % 2 === 0 ? floor : floor + 1;
    return (even / 10 ** digits).toFixed(digits);
  }
  void s;
  return v.toFixed(digits);
}

/** go-humanize Bytes (SI units): "20 kB", "1.2 MB", "9 B". */
export function humanizeBytes(n: number | bigint): string {
  const s = Number(n);
  if (s < 10) return `${s} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(s) / Math.log(1000));
  const suffix = sizes[e] ?? 'EB';
  const val = Math.floor((s / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? goFixed(val, 1) : goFixed(val, 0)} ${suffix}`;
}

/** %x of a uint64 held as a decimal string or bigint. */
export function hexID(v: string | bigint): string {
  const b = typeof v === 'bigint' ? v : BigInt(v === '' ? '0' : v);
  return BigInt.asUintN(64, b).toString(16);
}

/** %016x of an int64 lease ID. */
export function hexID16(v: string | bigint): string {
  return hexID(v).padStart(16, '0');
}

/** etcdctl's --hex: every byte as \xNN. */
export function hexWithPrefix(b: Buffer): string {
  let out = '';
  for (const c of b) out += `\\x${hex2(c)}`;
  return out;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** capnslog's timestamp: "2006-01-02 15:04:05.000000" in local time. */
export function capnslogTime(d = new Date()): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}000`;
}

/** zap's ISO8601 encoder: "2006-01-02T15:04:05.000Z0700". */
export function zapTime(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}${zone}`;
}

/** Go's %v of a []string: "[a b c]". */
export function goSlice(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

/** Go's time.RFC3339 in local time: "2006-01-02T15:04:05Z07:00" (etcdutl's console log). */
export function rfc3339Time(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`;
}
