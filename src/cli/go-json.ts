// etcdctl -w json is Go's encoding/json applied to the gogo-generated
// structs: keys are the .proto field names (every field has omitempty),
// 64-bit integers are bare numbers, bytes are base64, enums are numbers,
// and a oneof is a field named after the oneof (Go-cased) holding a struct
// keyed by the Go name of the chosen field. This walks decoded messages
// with the descriptors proto-loader keeps, in field declaration order.
import { descriptor, isEmptyField as isEmpty, type FieldDescriptor } from '../client';
import { goJsonString } from './go-format';

/** Go's generator CamelCase: response_put → ResponsePut. */
export function goCamel(name: string): string {
  return name
    .split('_')
    .map((p) => (p.length > 0 ? (p[0] ?? '').toUpperCase() + p.slice(1) : p))
    .join('');
}

import { int32Types, int64Types } from '../client';

function scalar(f: FieldDescriptor, v: unknown, pkg: string): string {
  if (f.type === 'TYPE_MESSAGE') return v === null || v === undefined ? 'null' : goJsonMessage(f.typeName, v as Record<string, unknown>, pkg);
  if (int64Types.has(f.type) || int32Types.has(f.type)) return v === undefined || v === null || v === '' ? '0' : String(v);
  if (f.type === 'TYPE_BOOL') return v === true ? 'true' : 'false';
  if (f.type === 'TYPE_STRING') return goJsonString(String(v ?? ''));
  if (f.type === 'TYPE_BYTES') return `"${Buffer.from(v as Buffer).toString('base64')}"`;
  return String(v);
}

/** A decoded message as etcdctl 3.4's encoding/json prints it. */
export function goJsonMessage(typeName: string, msg: Record<string, unknown>, contextPkg = 'etcdserverpb'): string {
  const { pkg, desc } = descriptor(typeName, contextPkg);
  const parts: string[] = [];
  const doneOneofs = new Set<number>();
  for (const f of desc.field) {
    const oneof = f.oneofIndex;
    if (oneof !== undefined && oneof !== null && desc.oneofDecl.length > oneof) {
      if (doneOneofs.has(oneof)) continue;
      doneOneofs.add(oneof);
      const oneofName = desc.oneofDecl[oneof]?.name ?? '';
      const chosen = msg[oneofName];
      const cf = desc.field.find((x) => x.name === chosen);
      if (cf === undefined) continue; // nil interface: omitted
      const v = msg[cf.name];
      // The wrapper struct's field has no json tag: Go uses its CamelCase name.
      const wrapped = v === null || v === undefined ? '' : `"${goCamel(cf.name)}":${scalar(cf, v, pkg)}`;
      parts.push(`"${goCamel(oneofName)}":{${wrapped}}`);
      continue;
    }
    const v = msg[f.name];
    if (isEmpty(f, v)) continue;
    if (f.label === 'LABEL_REPEATED') {
      parts.push(`${goJsonString(f.name)}:[${(v as unknown[]).map((x) => scalar(f, x, pkg)).join(',')}]`);
    } else {
      parts.push(`${goJsonString(f.name)}:${scalar(f, v, pkg)}`);
    }
  }
  return `{${parts.join(',')}}`;
}

/** The fields of a ResponseHeader flattened into an enclosing object (clientv3's embedded *pb.ResponseHeader). */
export function goJsonHeaderFields(header: unknown): string[] {
  if (header === null || header === undefined) return [];
  const inner = goJsonMessage('ResponseHeader', header as Record<string, unknown>);
  const body = inner.slice(1, -1);
  return body === '' ? [] : [body];
}

/** A value for hand-built objects: raw JSON text. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** encoding/json of a plain object built by a printer (keys in insertion order, no omitempty). */
export function goJsonValue(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goJsonString(v);
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Buffer.isBuffer(v)) return `"${v.toString('base64')}"`;
  if (Array.isArray(v)) return `[${v.map(goJsonValue).join(',')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    parts.push(`${goJsonString(k)}:${goJsonValue(x)}`);
  }
  return `{${parts.join(',')}}`;
}

