// get, put, del, txn, compaction: etcdctl's argument checks in etcdctl's
// order (arguments first, then the client, then the call).
import type * as t from '../../client';
import { CompareResult, CompareTarget, SortOrder, SortTarget } from '../../client';
import { parseFlags, flagSpecs, FlagError } from '../flags';
import { prefixRangeEnd } from '../range-end';
import { SimplePrinter } from '../printers';
import { Context, Exit, ExitError, errorText } from '../runtime';
import { goQuote } from '../go-format';
import { parseGoInt, parseHexInt64 } from './util';

type Op = t.RequestOp;

function rangeOptions(key: string, rangeEnd: string | undefined, prefix: boolean, fromKey: boolean): { key: Buffer; range_end: Buffer } {
  let k: Buffer = Buffer.from(key, 'utf8');
  let end: Buffer = rangeEnd === undefined ? Buffer.alloc(0) : Buffer.from(rangeEnd, 'utf8');
  if (prefix) {
    if (k.length === 0) {
      k = Buffer.from([0]);
      end = Buffer.from([0]);
    } else {
      end = prefixRangeEnd(k);
    }
  }
  if (fromKey) {
    if (k.length === 0) k = Buffer.from([0]);
    end = Buffer.from([0]);
  }
  return { key: k, range_end: end };
}

export function getOp(ctx: Pick<Context, 'args' | 'bool' | 'str' | 'int'>): t.RangeRequest {
  const args = ctx.args;
  if (args.length === 0) throw new ExitError(Exit.badArgs, 'get command needs one argument as key and an optional argument as range_end');
  const prefix = ctx.bool('prefix');
  const fromKey = ctx.bool('from-key');
  if (prefix && fromKey) throw new ExitError(Exit.badArgs, '`--prefix` and `--from-key` cannot be set at the same time, choose one');
  const consistency = ctx.str('consistency');
  if (consistency !== 's' && consistency !== 'l') throw new ExitError(Exit.badFeature, `unknown consistency flag ${goQuote(consistency)}`);
  if (args.length > 1 && (prefix || fromKey)) throw new ExitError(Exit.badArgs, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
  const order = ctx.str('order').toUpperCase();
  let sortOrder: number = SortOrder.NONE;
  if (order === 'ASCEND') sortOrder = SortOrder.ASCEND;
  else if (order === 'DESCEND') sortOrder = SortOrder.DESCEND;
  else if (order !== '') throw new ExitError(Exit.badFeature, `bad sort order ${ctx.str('order')}`);
  const target = ctx.str('sort-by').toUpperCase();
  const targets: Record<string, number> = { CREATE: SortTarget.CREATE, KEY: SortTarget.KEY, MODIFY: SortTarget.MOD, VALUE: SortTarget.VALUE, VERSION: SortTarget.VERSION, '': SortTarget.KEY };
  const sortTarget = targets[target];
  if (sortTarget === undefined) throw new ExitError(Exit.badFeature, `bad sort target ${ctx.str('sort-by')}`);
  // clientv3.WithSort: sorting by key ascending is the server's default order.
  if (sortTarget === SortTarget.KEY && sortOrder === SortOrder.ASCEND) sortOrder = SortOrder.NONE;
  const req: t.RangeRequest = {
    ...rangeOptions(args[0] ?? '', args[1], prefix, fromKey),
    limit: ctx.int('limit'),
    revision: ctx.int('rev') > 0 ? ctx.int('rev') : 0,
    sort_order: sortOrder,
    sort_target: sortTarget,
    serializable: consistency === 's',
    keys_only: ctx.bool('keys-only'),
  };
  return req;
}

export async function getCommand(ctx: Context): Promise<void> {
  const req = getOp(ctx);
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.RangeResponse;
  try {
    resp = await client.range(req, ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  if (ctx.bool('print-value-only')) {
    // etcdctl checks this after the call, as a type assertion on its printer.
    if (!(printer instanceof SimplePrinter)) throw new ExitError(Exit.badArgs, 'print-value-only is only for `--write-out=simple`');
    printer.valueOnly = true;
  }
  printer.get(resp);
}

export function putOp(ctx: Pick<Context, 'args' | 'bool' | 'str'>, stdin: () => Buffer): t.PutRequest {
  const args = ctx.args;
  const usage = 'put command needs 1 argument and input from stdin or 2 arguments';
  if (args.length === 0) throw new ExitError(Exit.badArgs, usage);
  const ignoreValue = ctx.bool('ignore-value');
  if (ignoreValue && args.length > 1) throw new ExitError(Exit.badArgs, "put command needs only 1 argument when 'ignore-value' is set");
  let value: Buffer = Buffer.alloc(0);
  if (!ignoreValue) {
    if (args.length > 1) value = Buffer.from(args[1] ?? '', 'utf8');
    else {
      value = stdin();
      if (value.length === 0) throw new ExitError(Exit.badArgs, usage);
    }
  }
  const lease = parseHexInt64(ctx.str('lease'));
  if (typeof lease === 'string') throw new ExitError(Exit.badArgs, `bad lease ID (${lease}), expecting ID in Hex`);
  return {
    key: Buffer.from(args[0] ?? '', 'utf8'),
    value,
    lease: lease.toString(),
    prev_kv: ctx.bool('prev-kv'),
    ignore_value: ignoreValue,
    ignore_lease: ctx.bool('ignore-lease'),
  };
}

export async function putCommand(ctx: Context): Promise<void> {
  const req = putOp(ctx, () => ctx.io.stdin());
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.PutResponse;
  try {
    resp = await client.put(req, ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  printer.put(resp);
}

export function delOp(ctx: Pick<Context, 'args' | 'bool'>): t.DeleteRangeRequest {
  const args = ctx.args;
  if (args.length === 0 || args.length > 2) throw new ExitError(Exit.badArgs, 'del command needs one argument as key and an optional argument as range_end');
  const prefix = ctx.bool('prefix');
  const fromKey = ctx.bool('from-key');
  if (prefix && fromKey) throw new ExitError(Exit.badArgs, '`--prefix` and `--from-key` cannot be set at the same time, choose one');
  if (args.length > 1 && (prefix || fromKey)) throw new ExitError(Exit.badArgs, 'too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
  return { ...rangeOptions(args[0] ?? '', args[1], prefix, fromKey), prev_kv: ctx.bool('prev-kv') };
}

export async function delCommand(ctx: Context): Promise<void> {
  const req = delOp(ctx);
  const client = ctx.client();
  const printer = ctx.printer();
  let resp: t.DeleteRangeResponse;
  try {
    resp = await client.deleteRange(req, ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  printer.del(resp);
}

export async function compactionCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'compaction command needs 1 argument');
  const rev = parseGoInt(ctx.args[0] ?? '');
  if (typeof rev === 'string') throw new ExitError(Exit.error, rev);
  const client = ctx.client();
  try {
    await client.compact(rev, ctx.bool('physical'), ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  ctx.println(`compacted revision ${rev}`);
}

// --- txn

/** etcdctl's Argify: splits a line into arguments, honouring "double" and 'single' quotes. */
export function argify(s: string): string[] {
  const re = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?/g;
  const out: string[] = [];
  for (const m of s.matchAll(re)) {
    let a = m[0];
    if (a.startsWith("'")) a = a.slice(1, -1);
    else if (a.startsWith('"')) {
      const unq = goUnquote(a);
      if (unq === undefined) throw new ExitError(Exit.invalidInput, 'invalid syntax');
      a = unq;
    }
    out.push(a);
  }
  return out;
}

/** Go's strconv.Unquote for a "double-quoted" literal. */
export function goUnquote(s: string): string | undefined {
  try {
    const v: unknown = JSON.parse(s.replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1').replace(/\\a/g, '\\u0007').replace(/\\v/g, '\\u000b'));
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Reads "%q) %s %q" as fmt.Sscanf does; returns how many items it read. */
function scanCompare(rest: string): { n: number; key: string; op: string; val: string; err?: string } {
  const r = { n: 0, key: '', op: '', val: '' };
  let i = 0;
  const skipSpace = (): void => {
    while (i < rest.length && /\s/.test(rest[i] ?? '')) i++;
  };
  const readQuoted = (): string | undefined => {
    skipSpace();
    if (rest[i] === '"') {
      let j = i + 1;
      while (j < rest.length && rest[j] !== '"') j += rest[j] === '\\' ? 2 : 1;
      const lit = rest.slice(i, j + 1);
      const v = goUnquote(lit);
      if (v === undefined) return undefined;
      i = j + 1;
      return v;
    }
    if (rest[i] === '`') {
      const j = rest.indexOf('`', i + 1);
      if (j < 0) return undefined;
      const v = rest.slice(i + 1, j);
      i = j + 1;
      return v;
    }
    return undefined;
  };
  const key = readQuoted();
  if (key === undefined) return { ...r, err: 'expected quoted string' };
  r.key = key;
  r.n = 1;
  if (rest[i] !== ')') return { ...r, err: 'input does not match format' };
  i++;
  skipSpace();
  const start = i;
  while (i < rest.length && !/\s/.test(rest[i] ?? '')) i++;
  if (i === start) return { ...r, err: 'unexpected EOF' };
  r.op = rest.slice(start, i);
  r.n = 2;
  const val = readQuoted();
  if (val === undefined) return { ...r, err: 'expected quoted string' };
  r.val = val;
  r.n = 3;
  return r;
}

export function parseCompare(line: string): t.Compare {
  const lp = line.indexOf('(');
  if (lp < 0) throw new ExitError(Exit.invalidInput, `malformed comparison: ${line}`);
  const target = line.slice(0, lp);
  const s = scanCompare(line.slice(lp + 1));
  if (s.n !== 3) {
    throw new ExitError(Exit.invalidInput, `malformed comparison: ${line}; got ${target}(${goQuote(s.key)}) ${s.op} ${goQuote(s.val)}`);
  }
  const results: Record<string, number> = { '=': CompareResult.EQUAL, '==': CompareResult.EQUAL, '!=': CompareResult.NOT_EQUAL, '<': CompareResult.LESS, '>': CompareResult.GREATER };
  const result = results[s.op];
  if (result === undefined) throw new ExitError(Exit.invalidInput, `malformed comparison: ${line} (unknown op ${s.op})`);
  const key = Buffer.from(s.key, 'utf8');
  const int = (base: 10 | 16): string => {
    const v = base === 10 ? parseGoInt(s.val) : parseHexInt64(s.val);
    if (typeof v === 'string') throw new ExitError(Exit.invalidInput, `invalid txn compare request: ${line}`);
    return v.toString();
  };
  switch (target) {
    case 'ver':
    case 'version':
      return { key, result, target: CompareTarget.VERSION, version: int(10) };
    case 'c':
    case 'create':
      return { key, result, target: CompareTarget.CREATE, create_revision: int(10) };
    case 'm':
    case 'mod':
      return { key, result, target: CompareTarget.MOD, mod_revision: int(10) };
    case 'val':
    case 'value':
      return { key, result, target: CompareTarget.VALUE, value: Buffer.from(s.val, 'utf8') };
    case 'lease':
      return { key, result, target: CompareTarget.LEASE, lease: int(16) };
    default:
      throw new ExitError(Exit.invalidInput, `malformed comparison: ${line} (unknown target ${target})`);
  }
}

export function parseRequestOp(line: string, stdin: () => Buffer): Op {
  const args = argify(line);
  if (args.length < 2) throw new ExitError(Exit.invalidInput, `invalid txn compare request: ${line}`);
  const [cmd, ...rest] = args;
  const invalid = (): ExitError => new ExitError(Exit.invalidInput, `invalid txn request: ${line}`);
  const parse = (path: string): Pick<Context, 'args' | 'bool' | 'str' | 'int'> => {
    try {
      const parsed = parseFlags(rest, flagSpecs(path).filter((s) => !['write-out', 'hex', 'endpoints'].includes(s.name) || true));
      return {
        args: parsed.positionals,
        bool: (n: string) => parsed.values.get(n) === true,
        str: (n: string) => {
          const v = parsed.values.get(n);
          return typeof v === 'string' ? v : '';
        },
        int: (n: string) => {
          const v = parsed.values.get(n);
          return typeof v === 'number' ? v : 0;
        },
      };
    } catch (e) {
      if (e instanceof FlagError) throw invalid();
      throw e;
    }
  };
  switch (cmd) {
    case 'get':
      return { request_range: getOp(parse('get')) };
    case 'put':
      return { request_put: putOp(parse('put'), stdin) };
    case 'del':
    case 'delete':
      return { request_delete_range: delOp(parse('del')) };
    default:
      throw invalid();
  }
}

class LineReader {
  private readonly lines: string[];
  private idx = 0;
  private readonly complete: boolean[];
  constructor(input: string) {
    const parts = input.split('\n');
    this.complete = parts.map((_, i) => i < parts.length - 1);
    this.lines = parts;
  }
  /** Like bufio.ReadString('\n'): undefined at EOF (a last line without newline counts as EOF). */
  next(): string | undefined {
    if (this.idx >= this.lines.length) return undefined;
    const line = this.lines[this.idx] ?? '';
    const done = this.complete[this.idx] ?? false;
    this.idx++;
    return done ? line : undefined;
  }
}

export async function txnCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 0) throw new ExitError(Exit.badArgs, 'txn command does not accept argument');
  const interactive = ctx.bool('interactive');
  const reader = new LineReader(ctx.io.stdin().toString('utf8'));
  const client = ctx.client();
  const printer = ctx.printer();
  const prompt = (s: string): void => {
    if (interactive) ctx.println(s);
  };
  const readSection = <T>(parse: (line: string) => T): T[] => {
    const out: T[] = [];
    for (;;) {
      const raw = reader.next();
      if (raw === undefined) throw new ExitError(Exit.invalidInput, 'EOF');
      const line = raw.trim();
      if (line.length === 0) return out;
      out.push(parse(line));
    }
  };
  prompt('compares:');
  const compare = readSection(parseCompare);
  prompt('success requests (get, put, del):');
  const success = readSection((l) => parseRequestOp(l, () => Buffer.alloc(0)));
  prompt('failure requests (get, put, del):');
  const failure = readSection((l) => parseRequestOp(l, () => Buffer.alloc(0)));
  let resp: t.TxnResponse;
  try {
    resp = await client.txn({ compare, success, failure }, ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
  printer.txn(resp);
}
