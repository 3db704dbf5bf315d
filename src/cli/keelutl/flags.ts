// keelutl's flags: etcdutl 3.5.16's, by command (names, types and defaults
// as its usage texts show them), parsed by the same pflag rules as keelctl's.
import type { FlagSpec } from '../flags';

function str(name: string, defValue = ''): FlagSpec {
  return { name, shorthand: undefined, type: 'string', defValue };
}

function bool(name: string): FlagSpec {
  return { name, shorthand: undefined, type: 'bool', defValue: 'false' };
}

// pflag's uint flags: parsed as int, which covers every value etcdutl accepts for these.
function uint(name: string, defValue = '0'): FlagSpec {
  return { name, shorthand: undefined, type: 'int', defValue };
}

const globalSpecs: readonly FlagSpec[] = [
  { name: 'help', shorthand: 'h', type: 'bool', defValue: 'false' },
  { name: 'write-out', shorthand: 'w', type: 'string', defValue: 'simple' },
];

const commandSpecs: Readonly<Record<string, readonly FlagSpec[]>> = {
  'snapshot restore': [
    uint('bump-revision'),
    str('data-dir'),
    str('initial-advertise-peer-urls', 'http://localhost:2380'),
    str('initial-cluster', 'default=http://localhost:2380'),
    str('initial-cluster-token', 'etcd-cluster'),
    uint('initial-memory-map-size', '10737418240'),
    bool('mark-compacted'),
    str('name', 'default'),
    bool('skip-hash-check'),
    str('wal-dir'),
  ],
  defrag: [str('data-dir')],
  hashkv: [str('data-dir'), uint('rev')],
};

/** Flags cobra requires (MarkFlagRequired): missing ones fail before the command runs. */
export const requiredFlags: Readonly<Record<string, readonly string[]>> = {
  'snapshot restore': ['data-dir'],
  defrag: ['data-dir'],
};

export function utlFlagSpecs(path: string): FlagSpec[] {
  return [...(commandSpecs[path] ?? []), ...globalSpecs];
}

/** Every flag of every command: finding the command path skips their values wherever they appear. */
export function allUtlFlagSpecs(): FlagSpec[] {
  return [...globalSpecs, ...Object.values(commandSpecs).flat()];
}
