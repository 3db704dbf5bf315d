// pflag-compatible argument parsing (what cobra gives etcdctl): flags
// anywhere among the arguments, --name=value and --name value, bool flags
// with an optional =value, -wjson and -w=json shorthands, "--" ending the
// flags, repeated slice flags appending, and pflag's exact error texts.
// The flag tables come from etcdctl's own help texts (help-data.ts), so
// names, shorthands, types and defaults cannot drift from etcdctl's.
import { helpTexts } from './help-data';
import { parseGoDuration } from './go-format';

export type FlagType = 'bool' | 'string' | 'int' | 'duration' | 'stringSlice';

export interface FlagSpec {
  name: string;
  shorthand: string | undefined;
  type: FlagType;
  /** The default as pflag prints it (DefValue). */
  defValue: string;
}

export type FlagValue = boolean | string | number | string[];

export interface ParsedArgs {
  values: Map<string, FlagValue>;
  /** Flags given on the command line (not defaults, not env). */
  changed: Set<string>;
  positionals: string[];
  /** Index in positionals where "--" appeared, or -1 (cobra's ArgsLenAtDash). */
  argsLenAtDash: number;
}

export class FlagError extends Error {}

const flagLine = /^ {2}(?:-(\S), |    )--([\w-]+)(\[=(true|false)\]|=(.*?))\t/;

function specFromLine(line: string): FlagSpec | undefined {
  const m = flagLine.exec(line);
  if (m === null) return undefined;
  const shorthand = m[1];
  const name = m[2] ?? '';
  if (m[3]?.startsWith('[') === true) return { name, shorthand, type: 'bool', defValue: m[4] ?? 'false' };
  const raw = m[5] ?? '';
  if (raw.startsWith('"')) return { name, shorthand, type: 'string', defValue: JSON.parse(raw) as string };
  if (raw.startsWith('[')) return { name, shorthand, type: 'stringSlice', defValue: raw };
  if (/^-?\d+$/.test(raw)) return { name, shorthand, type: 'int', defValue: raw };
  return { name, shorthand, type: 'duration', defValue: raw };
}

const specCache = new Map<string, FlagSpec[]>();

/** Every flag a command path accepts: its own and the inherited ones. */
export function flagSpecs(path: string): FlagSpec[] {
  const cached = specCache.get(path);
  if (cached !== undefined) return cached;
  const text = helpTexts[path] ?? helpTexts[''] ?? '';
  const specs: FlagSpec[] = [];
  let inOptions = false;
  for (const line of text.split('\n')) {
    if (line === 'OPTIONS:' || line === 'GLOBAL OPTIONS:') {
      inOptions = true;
      continue;
    }
    if (!inOptions) continue;
    const spec = specFromLine(line);
    if (spec !== undefined && !specs.some((s) => s.name === spec.name)) specs.push(spec);
  }
  specCache.set(path, specs);
  return specs;
}

export function defaultValue(spec: FlagSpec): FlagValue {
  switch (spec.type) {
    case 'bool': return spec.defValue === 'true';
    case 'int': return Number(spec.defValue);
    case 'duration': return parseGoDuration(spec.defValue) ?? 0;
    case 'stringSlice': {
      const inner = spec.defValue.slice(1, -1);
      return inner === '' ? [] : inner.split(',');
    }
    default: return spec.defValue;
  }
}

function flagDisplay(spec: FlagSpec): string {
  return spec.shorthand !== undefined ? `-${spec.shorthand}, --${spec.name}` : `--${spec.name}`;
}

function goQuoteSimple(s: string): string {
  return JSON.stringify(s);
}

/** Converts a textual value as pflag's Set does; throws pflag's message on failure. */
export function convertValue(spec: FlagSpec, raw: string, previous: FlagValue | undefined, changedBefore: boolean): FlagValue {
  const fail = (why: string): never => {
    throw new FlagError(`invalid argument ${goQuoteSimple(raw)} for ${goQuoteSimple(flagDisplay(spec))} flag: ${why}`);
  };
  switch (spec.type) {
    case 'bool': {
      const v = parseGoBool(raw);
      if (v === undefined) fail(`strconv.ParseBool: parsing ${goQuoteSimple(raw)}: invalid syntax`);
      return v as boolean;
    }
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw)) fail(`strconv.ParseInt: parsing ${goQuoteSimple(raw)}: invalid syntax`);
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) fail(`strconv.ParseInt: parsing ${goQuoteSimple(raw)}: value out of range`);
      return n;
    }
    case 'duration': {
      const ms = parseGoDuration(raw);
      if (ms === undefined) fail(`time: invalid duration ${goQuoteSimple(raw)}`);
      return ms as number;
    }
    case 'stringSlice': {
      const items = raw === '' ? [] : raw.split(',');
      const before = changedBefore && Array.isArray(previous) ? previous : [];
      return [...before, ...items];
    }
    default:
      return raw;
  }
}

export function parseGoBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

/** Parses argv (after the command path) against specs, pflag style. */
export function parseFlags(args: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.shorthand !== undefined).map((s) => [s.shorthand as string, s]));
  const values = new Map<string, FlagValue>();
  for (const s of specs) values.set(s.name, defaultValue(s));
  const changed = new Set<string>();
  const positionals: string[] = [];
  let argsLenAtDash = -1;
  const set = (spec: FlagSpec, raw: string): void => {
    values.set(spec.name, convertValue(spec, raw, values.get(spec.name), changed.has(spec.name)));
    changed.add(spec.name);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--') {
      argsLenAtDash = positionals.length;
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const spec = byName.get(name);
      if (spec === undefined) throw new FlagError(`unknown flag: --${name}`);
      if (eq >= 0) set(spec, body.slice(eq + 1));
      else if (spec.type === 'bool') set(spec, 'true');
      else if (i + 1 < args.length) set(spec, args[++i] ?? '');
      else throw new FlagError(`flag needs an argument: --${name}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && a !== '-') {
      let rest = a.slice(1);
      while (rest.length > 0) {
        const c = rest[0] ?? '';
        const spec = byShort.get(c);
        if (spec === undefined) throw new FlagError(`unknown shorthand flag: '${c}' in -${a.slice(1)}`);
        if (rest.length > 2 && rest[1] === '=') {
          set(spec, rest.slice(2));
          rest = '';
        } else if (spec.type === 'bool') {
          set(spec, 'true');
          rest = rest.slice(1);
        } else if (rest.length > 1) {
          set(spec, rest.slice(1));
          rest = '';
        } else if (i + 1 < args.length) {
          set(spec, args[++i] ?? '');
          rest = '';
        } else {
          throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
        }
      }
      continue;
    }
    positionals.push(a);
  }
  return { values, changed, positionals, argsLenAtDash };
}

/**
 * Finds the command path at the front of the non-flag arguments, as cobra
 * does: flags (with their values) may come before the command words.
 */
export function findCommandPath(
  argv: readonly string[],
  known: ReadonlySet<string>,
  globalSpecs: readonly FlagSpec[] = flagSpecs(''),
): { path: string; rest: string[] } {
  const byName = new Map(globalSpecs.map((s) => [s.name, s]));
  const byShort = new Map(globalSpecs.filter((s) => s.shorthand !== undefined).map((s) => [s.shorthand as string, s]));
  const words: { index: number; word: string }[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const a = argv[i] ?? '';
    if (a === '--') break;
    if (a.startsWith('--')) {
      const body = a.slice(2);
      if (body.includes('=')) continue;
      const spec = byName.get(body);
      if (spec !== undefined && spec.type !== 'bool') i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      const spec = byShort.get(a[1] ?? '');
      if (a.length === 2 && spec !== undefined && spec.type !== 'bool') i++;
      continue;
    }
    words.push({ index: i, word: a });
  }
  let path = '';
  const used: number[] = [];
  for (const w of words) {
    const candidate = path === '' ? w.word : `${path} ${w.word}`;
    if (!known.has(candidate)) break;
    path = candidate;
    used.push(w.index);
  }
  const rest = argv.filter((_, i) => !used.includes(i));
  return { path, rest };
}
