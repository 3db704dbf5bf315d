// A progress bar on stderr in the shape of etcd benchmark's ("Bom !"):
//    4012 / 10000 Boooooooooooooooom                        !  40.12% 3s
// Redrawn in place on a terminal; with --progress on a pipe, one line a second
// so logs stay readable. stdout (the report, or --json) is never touched.
import { performance } from 'node:perf_hooks';

const barWidth = 40;
const ttyIntervalMs = 200;
const lineIntervalMs = 1_000;

export type ProgressMode = 'tty' | 'lines' | 'off';

export function progressMode(flag: 'auto' | 'on' | 'off'): ProgressMode {
  if (flag === 'off') return 'off';
  if (process.stderr.isTTY) return 'tty';
  return flag === 'on' ? 'lines' : 'off';
}

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private label = '';
  private total = 0;
  private poll: () => number = () => 0;
  private startMs = 0;

  constructor(private readonly mode: ProgressMode) {}

  /** Starts a bar for one phase; `poll` returns how many of `total` are done. Finishes any bar still running. */
  start(label: string, total: number, poll: () => number): void {
    this.finish();
    if (this.mode === 'off') return;
    this.label = label;
    this.total = Math.max(1, total);
    this.poll = poll;
    this.startMs = performance.now();
    this.timer = setInterval(() => this.draw(false), this.mode === 'tty' ? ttyIntervalMs : lineIntervalMs);
    this.timer.unref();
    this.draw(false);
  }

  finish(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.draw(true);
  }

  private draw(final: boolean): void {
    const done = Math.min(this.total, Math.max(0, this.poll()));
    const line = render(this.label, done, this.total, (performance.now() - this.startMs) / 1000);
    if (this.mode === 'tty') process.stderr.write(`\r${line}${final ? '\n' : ''}`);
    else if (final || done < this.total) process.stderr.write(`${line}\n`);
  }
}

export function render(label: string, done: number, total: number, elapsedSeconds: number): string {
  const filled = Math.floor((barWidth * done) / total);
  const bar = filled >= barWidth ? 'o'.repeat(barWidth) : `${'o'.repeat(Math.max(0, filled - 1))}${filled > 0 ? 'm' : ''}${' '.repeat(barWidth - filled)}`;
  const pct = ((100 * done) / total).toFixed(2).padStart(6);
  const width = String(total).length;
  return `${label} ${String(done).padStart(width)} / ${total} B${bar}! ${pct}% ${Math.floor(elapsedSeconds)}s`;
}
