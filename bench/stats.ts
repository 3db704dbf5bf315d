// Statistics, number formats and markdown for the side-by-side reports
// (bench:compare, bench:single, bench:watch) that go to bench/RESULTS.md.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function concat(arrays: Float64Array[]): Float64Array {
  const out = new Float64Array(arrays.reduce((s, a) => s + a.length, 0));
  let at = 0;
  for (const a of arrays) { out.set(a, at); at += a.length; }
  return out;
}

export function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–';
}

export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
}

/** CPU µs per operation: one decimal below 10. */
export function fmtCpu(x: number): string {
  if (!Number.isFinite(x)) return '–';
  return x < 10 ? x.toFixed(1) : fmtInt(x);
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–';
}

/** A markdown table: a header row, its rule, then the rows. */
export function table(head: string[], rows: string[][]): string {
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** Text safe inside a table cell. */
export function cellText(x: string, max: number): string {
  return x.replace(/\|/g, '/').replace(/\n/g, ' ').slice(0, max);
}

/** A map of maps, made on first use: results by workload, then by target. */
export class Grid<T> {
  readonly rows = new Map<string, Map<string, T>>();
  constructor(private readonly make: () => T) {}
  at(row: string, col: string): T {
    let r = this.rows.get(row);
    if (r === undefined) { r = new Map(); this.rows.set(row, r); }
    let c = r.get(col);
    if (c === undefined) { c = this.make(); r.set(col, c); }
    return c;
  }
  get(row: string, col: string): T | undefined {
    return this.rows.get(row)?.get(col);
  }
}

export function machineLine(): string {
  const cpus = os.cpus();
  return `${os.availableParallelism()} × ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, `
    + `${os.type()} ${os.release()}, Node ${process.version}`;
}

export function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

export function stamp(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 16);
}

/** "- Other work on the machine …" with the load averages, and the warning a shared machine earns. */
export function otherWorkLine(otherCores: number, loadBefore: number[], loadAfter: number[], warning: string): string {
  const la = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  return `- Other work on the machine while measuring: ${otherCores.toFixed(2)} of ${os.availableParallelism()} cores on average `
    + `(load average 1/5/15 min before: ${la(loadBefore)}; after: ${la(loadAfter)})${otherCores > 0.25 ? ` — **${warning}**` : ''}`;
}

/** A fenced block whose content cannot close the fence. */
export function fenced(text: string): string[] {
  return ['```', text.replace(/```/g, "'''"), '```'];
}

export function details(summary: string, body: string[]): string[] {
  return [`<details><summary>${summary}</summary>`, '', ...body, '', '</details>'];
}

/** Appends a run's section; a new file gets a title and a pointer to how to read it. */
export function appendSection(file: string, section: string, say: (s: string) => void): void {
  const header = '# keel benchmark results\n\nSections are appended by bench:single, bench:compare and bench:watch, newest last; how to read them: the head of keel\'s bench/RESULTS.md.\n';
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8').trim() === '') fs.writeFileSync(file, header);
  fs.appendFileSync(file, `\n${section}\n`);
  say(`appended to ${path.relative(process.cwd(), file) || file}`);
}

/** The flags given, by a table of kinds (a switch, a positive integer up to a day's seconds, or a string); unknown flags throw. */
export function parseFlags(argv: string[], kinds: Record<string, 'bool' | 'int' | 'str'>, usage: string): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--help') { process.stdout.write(`${usage}\n`); process.exit(0); }
    const kind = kinds[a];
    if (kind === undefined) throw new Error(`unknown flag ${a}\n${usage}`);
    const v = kind === 'bool' ? 'true' : argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    if (kind === 'int' && !(Number.isInteger(Number(v)) && Number(v) >= 1 && Number(v) <= 86_400)) throw new Error(`${a} must be an integer in [1, 86400]`);
    out.set(a, v);
  }
  return out;
}
