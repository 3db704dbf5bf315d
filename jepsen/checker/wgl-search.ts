// The linearizability search for one register (one key): Wing & Gong's
// depth-first search for an order of the operations that respects real time
// and the register's sequential semantics, with Lowe's memoization of every
// configuration already explored, so no (linearized set, register state) pair
// is searched twice.
//
// A configuration is canonicalised before it is remembered. Let F be the
// earliest-invoked determinate operation not yet linearized. Every
// determinate operation invoked before F is linearized; operations invoked
// after F can only have been linearized if they were invoked before F's
// completion (F had to come first otherwise), so that part of the set is a
// short window. Indeterminate operations invoked before F are remembered as a
// multiset of (kind, values): their completion is at infinity and their
// invocation is behind every operation still to place, so two of them with the
// same kind and values are interchangeable in every future. The key is
// (state, F, window, multiset) — exact, and small however long the history.
//
// Some moves need no choice point: a read that matches the current state is
// linearized at once (it changes no state and only relaxes what may follow);
// of interchangeable indeterminate operations only one is tried; and a run of
// indeterminate operations never brings the register back to a state it held
// since the last determinate one (that configuration, with more options
// left, dominates).
import { assert, limits } from '../../src/util';
import type { RegOp } from './register-ops';

export interface SearchLimits {
  deadlineMs: number;
  cacheEntriesMax: number;
}

export interface DeadEnd {
  /** The operation that could not be placed: the undone determinate op that completes first. */
  blocked: number;
  /** Register states (value ids) in which the search had to place it and could not. */
  states: number[];
  /** Operations not yet linearized that were concurrent with it there. */
  concurrent: number[];
  /** The last state-changing operations of the order that reached furthest. */
  prefix: number[];
  /** Operations linearized on that order. */
  linearizedCount: number;
}

export type SearchOutcome =
  | { kind: 'linearizable'; configurations: number }
  | { kind: 'violation'; configurations: number; deadEnd: DeadEnd }
  | { kind: 'unknown'; configurations: number; reason: string };

interface Move {
  op: number;
  prevState: number;
  prevF: number;
  /** Indeterminate ops that joined the pool when F advanced past them. */
  pooled: number[];
  fromPool: boolean;
}

interface Level {
  candidates: number[];
  next: number;
  blocked: number;
  move: Move | undefined;
  /** Register states since the last determinate op on this path (this configuration's included). */
  visited: number[];
}

const prefixOpsMax = 3;

export class RegisterSearch {
  private readonly n: number;
  private readonly done: Uint8Array;
  private f = 0;
  private state = 0;
  /** Undone indeterminate ops invoked before F, by (kind, values); each list holds their op ids. */
  private readonly pool = new Map<string, number[]>();
  private readonly signature: string[];
  private readonly seen = new Set<string>();
  private readonly stack: Level[] = [];
  private best: DeadEnd | undefined;
  private bestRet = -1;
  private steps = 0;
  private linearized = 0;

  constructor(
    private readonly ops: readonly RegOp[],
    private readonly limit: SearchLimits,
  ) {
    this.n = ops.length;
    this.done = new Uint8Array(this.n);
    this.signature = ops.map((op) => `${op.kind[0]}${op.a},${op.b}`);
    for (let i = 1; i < this.n; i++) assert(ops[i - 1]!.call < ops[i]!.call, 'register ops are sorted by invocation');
  }

  run(): SearchOutcome {
    this.advanceF(0);
    if (this.f >= this.n) return { kind: 'linearizable', configurations: 0 };
    this.stack.push(this.level(undefined, [this.state]));
    while (this.stack.length > 0) {
      const stop = this.overLimit();
      if (stop !== undefined) return { kind: 'unknown', configurations: this.seen.size, reason: stop };
      const top = this.stack[this.stack.length - 1]!;
      if (top.next >= top.candidates.length) {
        this.exhausted(top);
        continue;
      }
      const op = top.candidates[top.next++]!;
      const move = this.apply(op);
      if (move === undefined) continue;
      if (this.f >= this.n) return { kind: 'linearizable', configurations: this.seen.size };
      const determinate = this.ops[op]!.determinate;
      if (!determinate && top.visited.includes(this.state)) {
        // Indeterminate ops that bring the register back to a state it held since the last determinate
        // op only used up options: the configuration before them had every choice this one has.
        this.undo(move);
        continue;
      }
      const key = this.configurationKey();
      if (this.seen.has(key)) {
        this.undo(move);
        continue;
      }
      this.seen.add(key);
      this.stack.push(this.level(move, determinate ? [this.state] : [...top.visited, this.state]));
    }
    assert(this.best !== undefined, 'an exhausted search saw a dead end');
    return { kind: 'violation', configurations: this.seen.size, deadEnd: this.best };
  }

  private overLimit(): string | undefined {
    if (this.seen.size >= this.limit.cacheEntriesMax) {
      return `the search remembered ${this.seen.size} configurations (cacheEntriesMax) without deciding`;
    }
    if (++this.steps % limits.jepsenClockCheckSteps !== 0) return undefined;
    if (Date.now() < this.limit.deadlineMs) return undefined;
    return `time limit reached after ${this.seen.size} configurations`;
  }

  private exhausted(level: Level): void {
    this.noteDeadEnd(level.blocked);
    this.stack.pop();
    if (level.move !== undefined) this.undo(level.move);
  }

  /** Candidates of the current configuration: what may be linearized next. */
  private level(move: Move | undefined, visited: number[]): Level {
    const candidates: number[] = [];
    let minRet = Infinity;
    let blocked = -1;
    let forcedRead = -1;
    for (let j = this.f; j < this.n; j++) {
      const op = this.ops[j]!;
      if (op.call > minRet) break;
      if (this.done[j] === 1) continue;
      if (op.determinate && op.ret < minRet) {
        minRet = op.ret;
        blocked = j;
      }
      if (forcedRead >= 0 || !this.applicable(op)) continue;
      if (op.kind === 'read') forcedRead = j;
      else candidates.push(j);
    }
    assert(blocked >= 0, 'a configuration before the end has an undone determinate op');
    // A matching read is placed without a choice point (see the header).
    if (forcedRead >= 0) return { candidates: [forcedRead], next: 0, blocked, move, visited };
    for (const ids of this.pool.values()) {
      const id = ids[ids.length - 1];
      if (id !== undefined && this.applicable(this.ops[id]!)) candidates.push(id);
    }
    return { candidates, next: 0, blocked, move, visited };
  }

  private applicable(op: RegOp): boolean {
    if (op.kind === 'write') return true;
    return op.a === this.state;
  }

  private apply(j: number): Move | undefined {
    const op = this.ops[j]!;
    if (!this.applicable(op)) return undefined;
    const fromPool = j < this.f;
    if (fromPool) {
      this.poolRemove(j);
    }
    const move: Move = { op: j, prevState: this.state, prevF: this.f, pooled: [], fromPool };
    this.done[j] = 1;
    this.linearized++;
    if (op.kind === 'write') this.state = op.a;
    if (op.kind === 'cas') this.state = op.b;
    if (j === this.f) move.pooled = this.advanceF(j);
    return move;
  }

  private undo(move: Move): void {
    for (let i = move.pooled.length - 1; i >= 0; i--) {
      this.poolRemove(move.pooled[i]!);
    }
    this.f = move.prevF;
    this.state = move.prevState;
    this.done[move.op] = 0;
    this.linearized--;
    if (move.fromPool) this.poolAdd(move.op);
  }

  /** Moves F to the next undone determinate op at or after `from`, pooling undone indeterminate ops passed. */
  private advanceF(from: number): number[] {
    const pooled: number[] = [];
    let j = from;
    while (j < this.n && (this.done[j] === 1 || !this.ops[j]!.determinate)) {
      if (this.done[j] === 0) {
        this.poolAdd(j);
        pooled.push(j);
      }
      j++;
    }
    this.f = j;
    return pooled;
  }

  private poolAdd(j: number): void {
    const sig = this.signature[j]!;
    const ids = this.pool.get(sig);
    if (ids === undefined) this.pool.set(sig, [j]);
    else ids.push(j);
  }

  /** Takes op j off the top of its pool list (pool changes are undone in reverse order). */
  private poolRemove(j: number): void {
    const sig = this.signature[j]!;
    const ids = this.pool.get(sig);
    assert(ids !== undefined, 'a pooled op has a pool list');
    assert(ids[ids.length - 1] === j, 'a pooled op leaves from the top of its list');
    ids.pop();
    if (ids.length === 0) this.pool.delete(sig);
  }

  private configurationKey(): string {
    const retF = this.ops[this.f]!.ret;
    let window = '';
    for (let j = this.f + 1; j < this.n && this.ops[j]!.call < retF; j++) {
      if (this.done[j] === 1) window += `${j - this.f},`;
    }
    const pooled: string[] = [];
    for (const [sig, ids] of this.pool) pooled.push(`${sig}x${ids.length}`);
    pooled.sort();
    return `${this.state}|${this.f}|${window}|${pooled.join(';')}`;
  }

  private noteDeadEnd(blocked: number): void {
    const ret = this.ops[blocked]!.ret;
    if (ret < this.bestRet) return;
    if (ret === this.bestRet && this.best !== undefined) {
      if (!this.best.states.includes(this.state) && this.best.states.length < limits.jepsenPossibleStatesMax) this.best.states.push(this.state);
      return;
    }
    this.bestRet = ret;
    this.best = { blocked, states: [this.state], concurrent: this.concurrentWith(blocked), prefix: this.prefix(), linearizedCount: this.linearized };
  }

  private concurrentWith(blocked: number): number[] {
    const out: number[] = [];
    const op = this.ops[blocked]!;
    for (let j = this.f; j < this.n && this.ops[j]!.call < op.ret && out.length < limits.jepsenAnomalyOpsMax; j++) {
      if (j !== blocked && this.done[j] === 0) out.push(j);
    }
    return out;
  }

  private prefix(): number[] {
    const out: number[] = [];
    for (let i = this.stack.length - 1; i >= 0 && out.length < prefixOpsMax; i--) {
      const move = this.stack[i]!.move;
      if (move !== undefined && this.ops[move.op]!.kind !== 'read') out.push(move.op);
    }
    return out.reverse();
  }
}
