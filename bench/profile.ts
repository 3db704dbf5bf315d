// Where a keel member's main thread spends its time: a summary of a V8
// .cpuprofile (node --cpu-prof) by group (keel's layers, grpc-js/protobuf,
// LevelDB, node's http2 and streams, GC), by function, and by the nearest keel
// layer on the stack. bench:compare --profile writes one; --summarize-profile
// FILE reads one again.
import * as fs from 'node:fs';
import { repoRoot } from './procs';
import { fmtInt } from './stats';

const profileTopN = 15;
const profileNodesMax = 5_000_000;

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

/** Samples (≈ on-CPU time: a preempted or blocked thread takes no samples) and wall time until the next sample. */
interface Tally { n: number; us: number }

interface ProfileSummary {
  windowed: boolean;
  intervalUs: number;
  total: Tally;
  idle: Tally;
  busy: Tally;
  groups: [string, Tally][];
  top: { fn: string; where: string; group: string; t: Tally }[];
  callers: [string, Tally][];
}

const keelLayers = ['raft', 'storage', 'mvcc', 'lease', 'auth', 'server', 'transport', 'api', 'util', 'proto'];

function shortUrl(url: string, keelRoot: string): string {
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  for (const root of [keelRoot, repoRoot]) if (u.startsWith(`${root}/`)) u = u.slice(root.length + 1);
  return u;
}

/** The keel layer a script belongs to (dist/src/<layer>/…), or undefined. */
function keelLayer(url: string): string | undefined {
  const m = /\/dist\/src\/([a-z-]+)\//.exec(url);
  if (m !== null && keelLayers.includes(m[1] as string)) return m[1];
  if (/\/dist\/cmd\//.test(url)) return 'cmd';
  return undefined;
}

/** A frame's own group, or undefined when it should be charged to its caller (native functions, msgpackr). */
function frameGroup(f: CallFrame): string | undefined {
  const n = f.functionName;
  const u = f.url;
  if (n === '(garbage collector)') return 'GC';
  if (n === '(idle)') return 'idle';
  if (n === '(program)') return 'V8 / native, unattributed (program)';
  if (n === '(root)') return 'other';
  if (u === '') return undefined;
  if (/node_modules\/(@grpc\/|protobufjs\/|@protobufjs\/|long\/)/.test(u)) return 'grpc-js/protobuf';
  if (/node_modules\/(classic-level|abstract-level|level|level-supports|level-transcoder|module-error|maybe-combine-errors)\//.test(u)) return 'leveldb/storage';
  if (/node_modules\/msgpackr/.test(u)) return undefined;
  const layer = keelLayer(u);
  if (layer !== undefined) {
    switch (layer) {
      case 'raft': return 'raft';
      case 'mvcc': return 'mvcc';
      case 'storage': return 'leveldb/storage';
      case 'transport': return 'transport';
      case 'server': return 'server (member, apply, Ready loop)';
      case 'api': return 'api (keel gRPC handlers)';
      case 'proto': return 'grpc-js/protobuf';
      default: return 'keel other (lease, auth, util, cmd)';
    }
  }
  if (/^node:internal\/(http2|stream_base_commons|streams|net)|^node:(http2|net|stream)$/.test(u)) return 'node http2/net/streams (client gRPC + peer TCP)';
  if (u.startsWith('node:')) return 'node other (timers, events, buffers, …)';
  return 'other';
}

export function summarizeProfile(file: string, keelRoot: string, windowUs?: [number, number]): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(p.nodes) || p.nodes.length > profileNodesMax) throw new Error(`${file}: not a .cpuprofile (or too large)`);
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const ch of n.children ?? []) parent.set(ch, n.id);
  }
  // Each sample lasts until the next one (DevTools' convention).
  const times: number[] = new Array(samples.length);
  let t = p.startTime;
  for (let i = 0; i < samples.length; i++) { t += deltas[i] ?? 0; times[i] = t; }
  let windowed = false;
  let [w0, w1] = [p.startTime, p.endTime];
  if (windowUs !== undefined && windowUs[0] >= p.startTime && windowUs[1] <= p.endTime + 1e6 && windowUs[0] < windowUs[1]) {
    [w0, w1] = windowUs;
    windowed = true;
  }
  const self = new Map<number, Tally>();
  for (let i = 0; i < samples.length; i++) {
    const ti = times[i] as number;
    if (ti < w0 || ti > w1) continue;
    const dur = Math.max(0, (i + 1 < samples.length ? (times[i + 1] as number) : p.endTime) - ti);
    const id = samples[i] as number;
    const e = self.get(id) ?? { n: 0, us: 0 };
    e.n++;
    e.us += dur;
    self.set(id, e);
  }
  // Memoized walks up the tree: a node's group (native and msgpackr frames take their caller's) and its nearest keel caller.
  const groupMemo = new Map<number, string>();
  const groupOf = (id: number): string => {
    const path: number[] = [];
    let cur: number | undefined = id;
    let g: string | undefined;
    for (let depth = 0; cur !== undefined && depth < 10_000; depth++) {
      const memo = groupMemo.get(cur);
      if (memo !== undefined) { g = memo; break; }
      path.push(cur);
      const node = byId.get(cur);
      g = node === undefined ? 'other' : frameGroup(node.callFrame);
      if (g !== undefined) break;
      cur = parent.get(cur);
    }
    const result = g ?? 'other';
    for (const x of path) groupMemo.set(x, result);
    return result;
  };
  const callerMemo = new Map<number, string>();
  const keelCallerOf = (id: number): string => {
    const path: number[] = [];
    let cur: number | undefined = id;
    let found: string | undefined;
    for (let depth = 0; cur !== undefined && depth < 10_000; depth++) {
      const memo = callerMemo.get(cur);
      if (memo !== undefined) { found = memo; break; }
      path.push(cur);
      const layer = keelLayer(byId.get(cur)?.callFrame.url ?? '');
      if (layer !== undefined) { found = layer; break; }
      cur = parent.get(cur);
    }
    const result = found ?? '(no keel frame on the stack)';
    for (const x of path) callerMemo.set(x, result);
    return result;
  };
  const add = (m: Map<string, Tally>, k: string, t: Tally): void => {
    const e = m.get(k) ?? { n: 0, us: 0 };
    e.n += t.n;
    e.us += t.us;
    m.set(k, e);
  };
  const groups = new Map<string, Tally>();
  const callers = new Map<string, Tally>();
  const fns = new Map<string, { fn: string; where: string; group: string; t: Tally }>();
  const total: Tally = { n: 0, us: 0 };
  const idle: Tally = { n: 0, us: 0 };
  for (const [id, t] of self) {
    const node = byId.get(id);
    if (node === undefined) continue;
    total.n += t.n;
    total.us += t.us;
    const f = node.callFrame;
    const g = groupOf(id);
    if (g === 'idle') { idle.n += t.n; idle.us += t.us; continue; }
    add(groups, g, t);
    const special = f.functionName.startsWith('(');
    add(callers, special ? f.functionName : keelCallerOf(id), t);
    const fn = f.url === '' && !special ? `${f.functionName || '(anonymous)'} [native or generated]` : f.functionName || '(anonymous)';
    const where = f.url === '' ? '' : `${shortUrl(f.url, keelRoot)}:${f.lineNumber + 1}`;
    const key = `${fn}\u0000${where}\u0000${g}`;
    const e = fns.get(key) ?? { fn, where, group: g, t: { n: 0, us: 0 } };
    e.t.n += t.n;
    e.t.us += t.us;
    fns.set(key, e);
  }
  const sorted = (m: Map<string, Tally>): [string, Tally][] => [...m].sort((x, y) => y[1].n - x[1].n || y[1].us - x[1].us);
  const sortedDeltas = deltas.filter((d) => d > 0).sort((x, y) => x - y);
  return {
    windowed, intervalUs: sortedDeltas[Math.floor(sortedDeltas.length / 2)] ?? NaN, total, idle,
    busy: { n: total.n - idle.n, us: total.us - idle.us }, groups: sorted(groups), callers: sorted(callers),
    top: [...fns.values()].sort((x, y) => y.t.n - x.t.n || y.t.us - x.t.us).slice(0, profileTopN),
  };
}

export function renderProfileSummary(s: ProfileSummary): string {
  const pctN = (t: Tally): string => (s.busy.n > 0 ? `${((100 * t.n) / s.busy.n).toFixed(1)} %` : '–');
  const pctW = (t: Tally): string => (s.busy.us > 0 ? `${((100 * t.us) / s.busy.us).toFixed(1)} %` : '–');
  const out: string[] = [];
  out.push(`Main-thread samples${s.windowed ? ' in the load window' : ' (whole profile)'}: ${s.total.n} over ${(s.total.us / 1e6).toFixed(1)} s `
    + `(median interval ${fmtInt(s.intervalUs)} µs); idle ${s.idle.n}, busy ${s.busy.n}. **% of busy samples** is the share of `
    + 'the main thread\'s on-CPU time (a preempted or blocked thread takes no samples); *% of busy wall* weights each sample by the '
    + 'time until the next one, which also counts time the thread sat preempted or blocked right after that function: on a '
    + 'shared machine the two differ, and a wall share well above the sample share marks a function after which the thread '
    + 'waits (syscalls that wake another process, synchronous native calls). Self time only: a function\'s own code, not what '
    + 'it calls. Native functions (no JS source) and msgpackr are charged to the group of their JS caller. Main thread only: '
    + 'LevelDB\'s writes, fsyncs and compaction run on other threads and show here only as the JS that submits them.');
  out.push('');
  out.push('| group (self time) | samples | % of busy samples | % of busy wall |');
  out.push('| --- | --- | --- | --- |');
  for (const [g, t] of s.groups) out.push(`| ${g} | ${t.n} | ${pctN(t)} | ${pctW(t)} |`);
  out.push('');
  out.push(`Top ${profileTopN} functions by self samples:`);
  out.push('');
  out.push('| # | function | where | group | samples | % of busy samples | % of busy wall |');
  out.push('| --- | --- | --- | --- | --- | --- | --- |');
  s.top.forEach((e, i) => out.push(`| ${i + 1} | \`${e.fn.replace(/\|/g, '\\|')}\` | ${e.where} | ${e.group} | ${e.t.n} | ${pctN(e.t)} | ${pctW(e.t)} |`));
  out.push('');
  out.push('The same busy samples charged to the nearest keel layer on the stack (who asked for the work: grpc-js and http2 '
    + 'time under `api` is the handlers\' responses; socket writes under `transport` are peer messages; "no keel frame" is '
    + 'work entered from the event loop before any keel code runs, mostly grpc-js/http2 reading requests and socket reads):');
  out.push('');
  out.push('| nearest keel layer | samples | % of busy samples | % of busy wall |');
  out.push('| --- | --- | --- | --- |');
  for (const [g, t] of s.callers) out.push(`| ${g} | ${t.n} | ${pctN(t)} | ${pctW(t)} |`);
  return out.join('\n');
}

