// A binary min-heap, for messages ordered by delivery time.
export class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(v: T): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i] as T, a[p] as T)) break;
      [a[i], a[p]] = [a[p] as T, a[i] as T];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.less(a[l] as T, a[m] as T)) m = l;
      if (r < a.length && this.less(a[r] as T, a[m] as T)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m] as T, a[i] as T];
      i = m;
    }
    return top;
  }

  some(pred: (v: T) => boolean): boolean {
    return this.items.some(pred);
  }

  clear(): void {
    this.items.length = 0;
  }

  /** Removes every item matching pred (O(n)). */
  removeWhere(pred: (v: T) => boolean): T[] {
    const kept: T[] = [];
    const removed: T[] = [];
    for (const v of this.items) (pred(v) ? removed : kept).push(v);
    this.items.length = 0;
    for (const v of kept) this.push(v);
    return removed;
  }
}
