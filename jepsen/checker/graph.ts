// The dependency graph of a transactional history: typed edges between
// transactions (ww, wr, rw, rt), Tarjan's strongly connected components, and
// the search for the weakest cycle of a component (the one that names the
// least severe — most specific — anomaly).
export enum EdgeType {
  ww = 1,
  wr = 2,
  rw = 4,
  rt = 8,
}

/** Preference when one pair of transactions has several edge types: the weaker dependency names the cycle. */
const preference: readonly EdgeType[] = [EdgeType.ww, EdgeType.wr, EdgeType.rt, EdgeType.rw];

export function edgeTypeName(t: EdgeType): string {
  return EdgeType[t];
}

export interface CycleEdge {
  from: number;
  to: number;
  type: EdgeType;
  why: string;
}

export class EdgeGraph {
  private readonly out: Array<Map<number, number>>;
  private readonly why = new Map<string, string>();
  edgeCount = 0;

  constructor(readonly size: number) {
    this.out = Array.from({ length: size }, () => new Map<number, number>());
  }

  add(from: number, to: number, type: EdgeType, why: string): void {
    const edges = this.out[from]!;
    const bits = edges.get(to) ?? 0;
    if ((bits & type) !== 0) return;
    if (bits === 0) this.edgeCount++;
    edges.set(to, bits | type);
    this.why.set(`${from}>${to}>${type}`, why);
  }

  successors(v: number, mask: number, within?: ReadonlySet<number>): number[] {
    const out: number[] = [];
    for (const [to, bits] of this.out[v]!) if ((bits & mask) !== 0 && (within === undefined || within.has(to))) out.push(to);
    return out;
  }

  private label(from: number, to: number, mask: number): CycleEdge {
    const bits = (this.out[from]!.get(to) ?? 0) & mask;
    const type = preference.find((t) => (bits & t) !== 0);
    if (type === undefined) throw new Error(`no edge ${from}→${to} in mask ${mask}`);
    return { from, to, type, why: this.why.get(`${from}>${to}>${type}`) ?? '' };
  }

  /**
   * The weakest cycle of a strongly connected component: ww only (G0), then ww+wr (G1c), then one rw
   * with ww/wr (G-single), then any (G2); then the same four with rt edges allowed. Undefined when
   * the deadline passes first.
   */
  weakestCycle(scc: readonly number[], deadlineMs: number, rwEdgesMax: number): CycleEdge[] | undefined {
    const within = new Set(scc);
    const { ww, wr, rw, rt } = EdgeType;
    const attempts: Array<{ mask: number; singleRw: boolean }> = [
      { mask: ww, singleRw: false },
      { mask: ww | wr, singleRw: false },
      { mask: ww | wr, singleRw: true },
      { mask: ww | wr | rw, singleRw: false },
      { mask: ww | rt, singleRw: false },
      { mask: ww | wr | rt, singleRw: false },
      { mask: ww | wr | rt, singleRw: true },
      { mask: ww | wr | rw | rt, singleRw: false },
    ];
    for (const a of attempts) {
      if (Date.now() >= deadlineMs) return undefined;
      const cycle = a.singleRw ? this.singleRwCycle(within, a.mask, rwEdgesMax) : this.cycleWithin(within, a.mask);
      if (cycle !== undefined) return cycle;
    }
    return undefined;
  }

  /** A shortest cycle using only `mask` edges among `within`, if there is one. */
  private cycleWithin(within: ReadonlySet<number>, mask: number): CycleEdge[] | undefined {
    const nodes = [...within];
    for (const sub of stronglyConnected(this.size, nodes, (v) => this.successors(v, mask, within))) {
      if (sub.length < 2) continue;
      const subSet = new Set(sub);
      let best: number[] | undefined;
      for (const start of sub.slice(0, cycleStartsTried)) {
        const path = this.shortestPath(start, start, mask, subSet);
        if (path !== undefined && (best === undefined || path.length < best.length)) best = path;
      }
      if (best !== undefined) return this.labelPath(best, mask);
    }
    return undefined;
  }

  /** A short cycle of exactly one rw edge closed by a shortest path of `mask` edges (the shortest of the first few found). */
  private singleRwCycle(within: ReadonlySet<number>, mask: number, rwEdgesMax: number): CycleEdge[] | undefined {
    let tried = 0;
    let found = 0;
    let best: CycleEdge[] | undefined;
    for (const from of within) {
      for (const [to, bits] of this.out[from]!) {
        if ((bits & EdgeType.rw) === 0 || !within.has(to)) continue;
        if (++tried > rwEdgesMax || found >= cycleCandidatesCompared) return best;
        const back = this.shortestPath(to, from, mask, within);
        if (back === undefined) continue;
        found++;
        const rwEdge: CycleEdge = { from, to, type: EdgeType.rw, why: this.why.get(`${from}>${to}>${EdgeType.rw}`) ?? '' };
        const cycle = [rwEdge, ...this.labelPath(back, mask)];
        if (best === undefined || cycle.length < best.length) best = cycle;
        if (best.length === 2) return best;
      }
    }
    return best;
  }

  /** BFS from `from` to `to` (from === to: a cycle); the nodes visited in order, `to` last. */
  private shortestPath(from: number, to: number, mask: number, within: ReadonlySet<number>): number[] | undefined {
    const parent = new Map<number, number>();
    const queue = [from];
    for (let head = 0; head < queue.length; head++) {
      const v = queue[head]!;
      for (const w of this.successors(v, mask, within)) {
        if (w === to) return [...unwind(parent, v, from), to];
        if (w === from || parent.has(w)) continue;
        parent.set(w, v);
        queue.push(w);
      }
    }
    return undefined;
  }

  private labelPath(path: readonly number[], mask: number): CycleEdge[] {
    const edges: CycleEdge[] = [];
    for (let i = 0; i + 1 < path.length; i++) edges.push(this.label(path[i]!, path[i + 1]!, mask));
    return edges;
  }
}

/** Start nodes tried per component when looking for its shortest cycle. */
const cycleStartsTried = 8;
/** G-single cycles (one per rw edge) compared before the shortest of them is taken. */
const cycleCandidatesCompared = 64;

function unwind(parent: ReadonlyMap<number, number>, v: number, from: number): number[] {
  const out = [v];
  let at = v;
  for (let guard = 0; at !== from && guard <= parent.size; guard++) {
    at = parent.get(at)!;
    out.push(at);
  }
  return out.reverse();
}

/** Tarjan's strongly connected components (iterative), of the nodes given, by `successors`. */
export function stronglyConnected(size: number, nodes: readonly number[], successors: (v: number) => readonly number[]): number[][] {
  const index = new Int32Array(size).fill(-1);
  const low = new Int32Array(size);
  const onStack = new Uint8Array(size);
  const stack: number[] = [];
  const out: number[][] = [];
  let counter = 0;
  const work: Array<{ v: number; succs: readonly number[]; i: number }> = [];
  const visit = (v: number): void => {
    index[v] = low[v] = counter++;
    stack.push(v);
    onStack[v] = 1;
    work.push({ v, succs: successors(v), i: 0 });
  };
  for (const root of nodes) {
    if (index[root] !== -1) continue;
    visit(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      if (top.i < top.succs.length) {
        const w = top.succs[top.i++]!;
        if (index[w] === -1) visit(w);
        else if (onStack[w] === 1) low[top.v] = Math.min(low[top.v]!, index[w]!);
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low[parent.v] = Math.min(low[parent.v]!, low[top.v]!);
      if (low[top.v] !== index[top.v]) continue;
      const component: number[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack[w] = 0;
        component.push(w);
        if (w === top.v) break;
      }
      out.push(component);
    }
  }
  return out;
}
