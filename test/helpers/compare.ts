// Canonical forms and field-by-field diffs of decoded gRPC responses, for
// comparing keel with etcd. Only header fields that are IDs by design
// (cluster_id, member_id) or depend on election history (raft_term) are
// dropped; everything else, including error codes and messages, must match.
import * as grpc from '@grpc/grpc-js';
import type { RpcResult } from './client';

/** Header fields that legitimately differ between two clusters. */
export const ignoredHeaderFields: readonly string[] = ['cluster_id', 'member_id', 'raft_term'];

/** Bytes as a readable, unambiguous literal: b"a\x00\xff". */
export function showBytes(buf: Uint8Array): string {
  let out = 'b"';
  for (const c of buf) {
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

/** A JSON-able canonical form: Buffers as b"…" strings, undefined dropped, volatile header fields dropped. */
export function canonical(value: unknown, key?: string): unknown {
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    if (value.length > 200) return `${showBytes(value.subarray(0, 64))}…(${value.length} bytes)`;
    return showBytes(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map((v) => canonical(v));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as object).sort()) {
      if (key === 'header' && ignoredHeaderFields.includes(k)) continue;
      const v = canonical((value as Record<string, unknown>)[k], k);
      if (v !== undefined) out[k] = v;
    }
    return out;
  }
  return value;
}

/** A call result in canonical form: {ok: value} or {error: {code, details}}. */
export function canonicalResult(r: RpcResult<unknown>): unknown {
  if (r.ok) return { ok: canonical(r.value) };
  return { error: { code: `${r.code} ${grpc.status[r.code] ?? '?'}`, details: r.details } };
}

export interface Difference {
  path: string;
  expected: unknown;
  actual: unknown;
}

/** Paths where two canonical values differ (at most max of them). */
export function diff(expected: unknown, actual: unknown, max = 30): Difference[] {
  const out: Difference[] = [];
  walk(expected, actual, '$', out, max);
  return out;
}

function walk(e: unknown, a: unknown, path: string, out: Difference[], max: number): void {
  if (out.length >= max) return;
  if (Object.is(e, a)) return;
  const eObj = typeof e === 'object' && e !== null;
  const aObj = typeof a === 'object' && a !== null;
  if (!eObj || !aObj || Array.isArray(e) !== Array.isArray(a)) {
    out.push({ path, expected: e, actual: a });
    return;
  }
  if (Array.isArray(e) && Array.isArray(a)) {
    if (e.length !== a.length) out.push({ path: `${path}.length`, expected: e.length, actual: a.length });
    const n = Math.max(e.length, a.length);
    for (let i = 0; i < n; i++) walk(e[i], a[i], `${path}[${i}]`, out, max);
    return;
  }
  const eRec = e as Record<string, unknown>;
  const aRec = a as Record<string, unknown>;
  const keys = new Set([...Object.keys(eRec), ...Object.keys(aRec)]);
  for (const k of [...keys].sort()) walk(eRec[k], aRec[k], `${path}.${k}`, out, max);
}

/** JSON-like text for humans: Buffers shown bare as b"…", stable key order, one line. */
export function show(value: unknown): string {
  return render(canonical(value));
}

/** Renders a canonical value; strings that are byte literals are printed without JSON quoting. */
export function render(value: unknown): string {
  if (typeof value === 'string') return /^b".*"(…\(\d+ bytes\))?$/s.test(value) ? value : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(render).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value).map(([k, v]) => `${k}:${render(v)}`).join(',')}}`;
  }
  return String(value);
}
