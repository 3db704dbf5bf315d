// gRPC's status codes, the error a handler throws to answer with one, the
// percent-encoding of grpc-message, grpc-timeout, and request metadata.

export const enum Code {
  Ok = 0,
  Cancelled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/** Thrown by a handler (or its stream) to end the call with a status, a message and extra trailers. */
export class GrpcError extends Error {
  override name = 'GrpcError';
  constructor(readonly code: number, message: string, readonly trailers: readonly string[] = []) {
    super(message);
  }
}

/**
 * grpc-message (gRPC over HTTP/2 spec): UTF-8, then every byte outside
 * printable ASCII, and '%' itself, as %XX. The result is a latin1 string.
 */
export function percentEncode(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += '%' + (byte < 16 ? '0' : '') + byte.toString(16).toUpperCase();
  }
  return out;
}

/** The inverse of percentEncode (invalid escapes are kept as they are, as grpc-go does). */
export function percentDecode(encoded: string): string {
  if (!encoded.includes('%')) return encoded;
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded.charCodeAt(i);
    if (c === 0x25 && i + 2 < encoded.length && /^[0-9A-Fa-f]{2}$/.test(encoded.slice(i + 1, i + 3))) {
      bytes.push(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const timeoutUnitsMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * grpc-timeout ("1-8 digits, then H M S m u n") in milliseconds, or an
 * error text in grpc-go's words for a malformed one.
 */
export function parseTimeout(value: string): number | string {
  if (value.length < 2) return `transport: timeout string is too short: ${goQuote(value)}`;
  if (value.length > 9) return `transport: timeout string is too long: ${goQuote(value)}`;
  const unit = timeoutUnitsMs[value.charAt(value.length - 1)];
  if (unit === undefined) return `transport: timeout unit is not recognized: ${goQuote(value)}`;
  const digits = value.slice(0, -1);
  if (!/^[0-9]+$/.test(digits)) return `strconv.ParseInt: parsing ${goQuote(digits)}: invalid syntax`;
  return Number(digits) * unit;
}

/** Go's %q for the ASCII strings it is used on here. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Request headers other than pseudo-headers, in arrival order; names are lowercase. */
export class Metadata {
  constructor(private readonly fields: readonly string[]) {}

  /** The first value of name, or undefined. */
  get(name: string): string | undefined {
    const f = this.fields;
    for (let i = 0; i < f.length; i += 2) if (f[i] === name) return f[i + 1];
    return undefined;
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    const f = this.fields;
    for (let i = 0; i < f.length; i += 2) if (f[i] === name) out.push(f[i + 1] as string);
    return out;
  }

  /** [name, value] pairs. */
  *entries(): IterableIterator<[string, string]> {
    const f = this.fields;
    for (let i = 0; i + 1 < f.length; i += 2) yield [f[i] as string, f[i + 1] as string];
  }
}
