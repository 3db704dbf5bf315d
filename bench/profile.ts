// Where a keel member's main thread spends its time: a summary of a V8
// .cpuprofile (node --cpu-prof) by group (keel's layers, grpc-js/protobuf,
// LevelDB, node's http2 and streams, GC), by function, and by the nearest keel
// layer on the stack. bench:compare --profile writes one; --summarize-profile
// FILE reads one again.
import * as fs from 'node:fs';
import { repoRoot } from './procs';
import { fmtInt, table } from './stats';

const profileTopN = 15;
const profileNodesMax = 5_000_000;
const depthMax = 10_000;

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

/** Samples (≈ on-CPU time: a preempted or blocked thread takes no samples) and wall time until the next sample. */
interface Tally { n: number; us: number }

const keelLayers = ['raft', 'storage', 'mvcc', 'lease', 'auth', 'server', 'transport', 'api', 'util', 'proto'];
const layerGroups: Record<string, string> = {
  raft: 'raft', mvcc: 'mvcc', storage: 'leveldb/storage', transport: 'transport', server: 'server (member, apply, Ready loop)',
  api: 'api (keel gRPC handlers)', proto: 'grpc-js/protobuf',
};

/** The keel layer a script belongs to (dist/src/<layer>/…), or undefined. */
function keelLayer(url: string): string | undefined {
  const m = /\/dist\/src\/([a-z-]+)\//.exec(url);
  if (m !== null && keelLayers.includes(m[1] as string)) return m[1];
  return /\/dist\/cmd\//.test(url) ? 'cmd' : undefined;
}

/** A frame's own group, or undefined when it is charged to its caller (native functions, msgpackr). */
function frameGroup(f: CallFrame): string | undefined {
  const special: Record<string, string> = { '(garbage collector)': 'GC', '(idle)': 'idle', '(program)': 'V8 / native, unattributed (program)', '(root)': 'other' };
  const u = f.url;
  if (special[f.functionName] !== undefined) return special[f.functionName];
  if (u === '' || /node_modules\/msgpackr/.test(u)) return undefined;
  if (/node_modules\/(@grpc\/|protobufjs\/|@protobufjs\/|long\/)/.test(u)) return 'grpc-js/protobuf';
  if (/node_modules\/(classic-level|abstract-level|level|level-supports|level-transcoder|module-error|maybe-combine-errors)\//.test(u)) return 'leveldb/storage';
  const layer = keelLayer(u);
  if (layer !== undefined) return layerGroups[layer] ?? 'keel other (lease, auth, util, cmd)';
  if (/^node:internal\/(http2|stream_base_commons|streams|net)|^node:(http2|net|stream)$/.test(u)) return 'node http2/net/streams (client gRPC + peer TCP)';
  return u.startsWith('node:') ? 'node other (timers, events, buffers, …)' : 'other';
}

function shortUrl(url: string, keelRoot: string): string {
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  for (const root of [keelRoot, repoRoot]) if (u.startsWith(`${root}/`)) u = u.slice(root.length + 1);
  return u;
}

function add(m: Map<string, Tally>, k: string, t: Tally): void {
  const e = m.get(k) ?? { n: 0, us: 0 };
  m.set(k, { n: e.n + t.n, us: e.us + t.us });
}

const sorted = (m: Map<string, Tally>): [string, Tally][] => [...m].sort((x, y) => y[1].n - x[1].n || y[1].us - x[1].us);

export function summarizeProfile(file: string, keelRoot: string, windowUs?: [number, number]) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(p.nodes) || p.nodes.length > profileNodesMax) throw new Error(`${file}: not a .cpuprofile (or too large)`);
  const [samples, deltas] = [p.samples ?? [], p.timeDeltas ?? []];
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const ch of n.children ?? []) parent.set(ch, n.id);
  const windowed = windowUs !== undefined && windowUs[0] >= p.startTime && windowUs[1] <= p.endTime + 1e6 && windowUs[0] < windowUs[1];
  const [w0, w1] = windowed ? windowUs : [p.startTime, p.endTime];
  // Each sample lasts until the next one (DevTools' convention).
  const times: number[] = [];
  deltas.slice(0, samples.length).reduce((t, d, i) => (times[i] = t + d), p.startTime);
  const self = new Map<number, Tally>();
  samples.forEach((id, i) => {
    const ti = times[i] ?? p.startTime;
    if (ti < w0 || ti > w1) return;
    const e = self.get(id) ?? { n: 0, us: 0 };
    self.set(id, { n: e.n + 1, us: e.us + Math.max(0, (times[i + 1] ?? p.endTime) - ti) });
  });
  // Memoized walks up the tree: the first ancestor (or self) that `pick` names.
  const walker = (pick: (n: ProfileNode) => string | undefined, none: string): (id: number) => string => {
    const memo = new Map<number, string>();
    return (id) => {
      const path: number[] = [];
      let found: string | undefined;
      for (let cur: number | undefined = id, d = 0; cur !== undefined && found === undefined && d < depthMax; cur = parent.get(cur), d++) {
        found = memo.get(cur);
        if (found !== undefined) break;
        path.push(cur);
        const node = byId.get(cur);
        found = node === undefined ? 'other' : pick(node);
      }
      for (const x of path) memo.set(x, found ?? none);
      return found ?? none;
    };
  };
  const groupOf = walker((n) => frameGroup(n.callFrame), 'other');
  const keelCallerOf = walker((n) => keelLayer(n.callFrame.url), '(no keel frame on the stack)');
  const [groups, callers] = [new Map<string, Tally>(), new Map<string, Tally>()];
  const fns = new Map<string, { fn: string; where: string; group: string; t: Tally }>();
  const [total, idle] = [{ n: 0, us: 0 }, { n: 0, us: 0 }];
  for (const [id, t] of self) {
    const f = byId.get(id)?.callFrame;
    if (f === undefined) continue;
    [total.n, total.us] = [total.n + t.n, total.us + t.us];
    const g = groupOf(id);
    if (g === 'idle') { [idle.n, idle.us] = [idle.n + t.n, idle.us + t.us]; continue; }
    add(groups, g, t);
    const special = f.functionName.startsWith('(');
    add(callers, special ? f.functionName : keelCallerOf(id), t);
    const fn = f.url === '' && !special ? `${f.functionName || '(anonymous)'} [native or generated]` : f.functionName || '(anonymous)';
    const where = f.url === '' ? '' : `${shortUrl(f.url, keelRoot)}:${f.lineNumber + 1}`;
    const e = fns.get(`${fn}\0${where}\0${g}`) ?? { fn, where, group: g, t: { n: 0, us: 0 } };
    e.t = { n: e.t.n + t.n, us: e.t.us + t.us };
    fns.set(`${fn}\0${where}\0${g}`, e);
  }
  const positive = deltas.filter((d) => d > 0).sort((x, y) => x - y);
  return {
    windowed, intervalUs: positive[Math.floor(positive.length / 2)] ?? NaN, total, idle, busy: { n: total.n - idle.n, us: total.us - idle.us },
    groups: sorted(groups), callers: sorted(callers), top: [...fns.values()].sort((x, y) => y.t.n - x.t.n || y.t.us - x.t.us).slice(0, profileTopN),
  };
}

export function renderProfileSummary(s: ReturnType<typeof summarizeProfile>): string {
  const pctN = (t: Tally): string => (s.busy.n > 0 ? `${((100 * t.n) / s.busy.n).toFixed(1)} %` : '–');
  const pctW = (t: Tally): string => (s.busy.us > 0 ? `${((100 * t.us) / s.busy.us).toFixed(1)} %` : '–');
  const cols = ['samples', '% of busy samples', '% of busy wall'];
  const tallies = (rows: [string, Tally][]): string[][] => rows.map(([g, t]) => [g, String(t.n), pctN(t), pctW(t)]);
  return [`Main-thread samples${s.windowed ? ' in the load window' : ' (whole profile)'}: ${s.total.n} over ${(s.total.us / 1e6).toFixed(1)} s `
    + `(median interval ${fmtInt(s.intervalUs)} µs); idle ${s.idle.n}, busy ${s.busy.n}. **% of busy samples** is the share of `
    + 'the main thread\'s on-CPU time (a preempted or blocked thread takes no samples); *% of busy wall* weights each sample by the '
    + 'time until the next one, which also counts time the thread sat preempted or blocked right after that function: on a '
    + 'shared machine the two differ, and a wall share well above the sample share marks a function after which the thread '
    + 'waits (syscalls that wake another process, synchronous native calls). Self time only: a function\'s own code, not what '
    + 'it calls. Native functions (no JS source) and msgpackr are charged to the group of their JS caller. Main thread only: '
    + 'LevelDB\'s writes, fsyncs and compaction run on other threads and show here only as the JS that submits them.', '',
  table(['group (self time)', ...cols], tallies(s.groups)), '', `Top ${profileTopN} functions by self samples:`, '',
  table(['#', 'function', 'where', 'group', ...cols], s.top.map((e, i) => [String(i + 1), `\`${e.fn.replace(/\|/g, '\\|')}\``, e.where, e.group, String(e.t.n), pctN(e.t), pctW(e.t)])), '',
  'The same busy samples charged to the nearest keel layer on the stack (who asked for the work: grpc-js and http2 '
    + 'time under `api` is the handlers\' responses; socket writes under `transport` are peer messages; "no keel frame" is '
    + 'work entered from the event loop before any keel code runs, mostly grpc-js/http2 reading requests and socket reads):', '',
  table(['nearest keel layer', ...cols], tallies(s.callers))].join('\n');
}
