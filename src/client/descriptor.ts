// Message descriptors (kept by proto-loader) for walking decoded messages
// generically: the CLI's Go-style JSON, and dropping default-valued fields
// before encoding (etcd tells an empty range_end from an absent one: a
// present empty bytes field is not "unset" to gogo's decoder).
import { etcdPackage } from '../proto';

export interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
  oneofIndex?: number | null;
}

export interface MessageDescriptor {
  field: FieldDescriptor[];
  oneofDecl: { name: string }[];
}

const packages = ['etcdserverpb', 'mvccpb', 'authpb', 'v3electionpb', 'v3lockpb'];

export function descriptor(typeName: string, contextPkg: string): { pkg: string; desc: MessageDescriptor } {
  const root = etcdPackage() as unknown as Record<string, Record<string, { type?: MessageDescriptor }>>;
  const name = typeName.replace(/^\./, '');
  const dot = name.lastIndexOf('.');
  if (dot >= 0) {
    const pkg = name.slice(0, dot);
    const desc = root[pkg]?.[name.slice(dot + 1)]?.type;
    if (desc !== undefined) return { pkg, desc };
  }
  for (const pkg of [contextPkg, ...packages]) {
    const desc = root[pkg]?.[name]?.type;
    if (desc !== undefined) return { pkg, desc };
  }
  throw new Error(`unknown message type ${typeName}`);
}


export const int64Types = new Set(['TYPE_INT64', 'TYPE_UINT64', 'TYPE_SINT64', 'TYPE_FIXED64', 'TYPE_SFIXED64']);
export const int32Types = new Set(['TYPE_INT32', 'TYPE_UINT32', 'TYPE_SINT32', 'TYPE_FIXED32', 'TYPE_SFIXED32', 'TYPE_ENUM']);

export function isEmptyField(f: FieldDescriptor, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (f.label === 'LABEL_REPEATED') return !Array.isArray(v) || v.length === 0;
  if (int64Types.has(f.type) || int32Types.has(f.type)) return v === 0 || v === '0' || v === '' || v === 0n;
  if (f.type === 'TYPE_BOOL') return v === false;
  if (f.type === 'TYPE_STRING') return v === '';
  if (f.type === 'TYPE_BYTES') return (v as Buffer).length === 0;
  if (f.type === 'TYPE_DOUBLE' || f.type === 'TYPE_FLOAT') return v === 0;
  return false;
}


/**
 * A copy of a decoded message without its default-valued fields, so that
 * protobufjs encodes it as gogo's Marshal does (proto3: defaults omitted).
 */
export function stripDefaults(typeName: string, msg: Record<string, unknown>, contextPkg = 'etcdserverpb'): Record<string, unknown> {
  const { pkg, desc } = descriptor(typeName, contextPkg);
  const out: Record<string, unknown> = {};
  for (const f of desc.field) {
    const v = msg[f.name];
    const inOneof = f.oneofIndex !== undefined && f.oneofIndex !== null && desc.oneofDecl.length > f.oneofIndex;
    if (inOneof) {
      const chosen = msg[desc.oneofDecl[f.oneofIndex as number]?.name ?? ''];
      // Decoded messages name the chosen member; hand-built requests just set one.
      if ((chosen !== undefined && chosen !== f.name) || v === null || v === undefined) continue;
    } else if (isEmptyField(f, v)) continue;
    if (f.type === 'TYPE_MESSAGE') {
      out[f.name] = f.label === 'LABEL_REPEATED'
        ? (v as Record<string, unknown>[]).map((x) => stripDefaults(f.typeName, x, pkg))
        : stripDefaults(f.typeName, v as Record<string, unknown>, pkg);
    } else out[f.name] = v;
  }
  return out;
}

/** A request without default-valued fields, ready for grpc-js to encode. */
export function cleanRequest(requestTypeName: string | undefined, req: unknown, pkg: string): unknown {
  if (requestTypeName === undefined || req === null || typeof req !== 'object') return req;
  return stripDefaults(requestTypeName, req as Record<string, unknown>, pkg);
}
