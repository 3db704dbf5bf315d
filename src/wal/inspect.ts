// Offline tools for keelutl: what a WAL holds, and cutting it back to its
// last good frame. Neither needs the member to be stopped to read, but repair
// takes the WAL's lock, so it refuses while a member has the WAL open.
import * as fs from 'node:fs';
import type { HardState, SnapshotMetadata } from '../raft';
import { crc32cImplementation } from './crc32c';
import { fsyncDir, zeroRangeSync } from './files';
import { lockWal } from './lock';
import { listSegments, readWal, type Problem, type RecordCounts } from './read';

export interface WalSegmentSummary {
  readonly file: string;
  readonly fileBytes: number;
  /** Bytes holding frames (the rest is preallocated zeros). */
  readonly usedBytes: number;
  readonly frames: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
}

export interface WalSummary {
  readonly dir: string;
  readonly segments: readonly WalSegmentSummary[];
  readonly records: RecordCounts;
  /** Live entries after replay: firstIndex..lastIndex (lastIndex < firstIndex when none). */
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Lowest and highest term of any entry record read (null when none). */
  readonly lowestTerm: number | null;
  readonly highestTerm: number | null;
  readonly hardState: HardState | null;
  readonly snapshot: SnapshotMetadata | null;
  /** An interrupted last write: open cuts it (repairWal does it offline). */
  readonly tornTail: Problem | null;
  /** Damage open refuses; repairWal truncates there only with truncateAtCorruption. */
  readonly corruption: Problem | null;
  readonly crc32c: 'native' | 'table';
}

/** Reads dir without changing it. */
export function inspectWal(dir: string): WalSummary {
  const r = readWal(dir, { voters: [], learners: [] });
  const st = r.state;
  return {
    dir,
    segments: r.segments.map((s) => ({ file: s.file, fileBytes: s.fileBytes, usedBytes: s.endOffset, frames: s.frames, firstSeq: s.firstSeq, lastSeq: s.lastSeq })),
    records: r.records,
    firstIndex: st === null ? 1 : st.logStart.index + 1,
    lastIndex: st === null ? 0 : st.lastIndex(),
    lowestTerm: r.lowestTerm,
    highestTerm: r.highestTerm,
    hardState: st?.hardState ?? null,
    snapshot: st?.snapshot.metadata ?? null,
    tornTail: r.torn,
    corruption: r.corruption,
    crc32c: crc32cImplementation,
  };
}

export interface RepairOptions {
  /** Also cut at mid-file corruption, dropping every frame after it (and later segments). Default false. */
  readonly truncateAtCorruption?: boolean;
}

export interface RepairResult {
  /** What was cut (null when the WAL was clean). */
  readonly cut: Problem | null;
  /** Bytes zeroed in the segment cut, and segment files deleted after it. */
  readonly bytesZeroed: number;
  readonly segmentsRemoved: readonly string[];
  /** The WAL as it is afterwards. */
  readonly after: WalSummary;
}

export class WalRepairRefused extends Error {
  override name = 'WalRepairRefused';
}

/**
 * Cuts a torn tail (what WalStorage.open does by itself). Mid-file corruption
 * is refused with WalRepairRefused unless truncateAtCorruption is set; then
 * the WAL is cut at the bad frame: acknowledged writes after it are lost, and
 * the member must catch up from its peers.
 */
export function repairWal(dir: string, options: RepairOptions = {}): RepairResult {
  const lock = lockWal(dir);
  try {
    const before = readWal(dir, { voters: [], learners: [] });
    const cut = before.corruption ?? before.torn;
    if (cut === null) return { cut: null, bytesZeroed: 0, segmentsRemoved: [], after: inspectWal(dir) };
    if (before.corruption !== null && options.truncateAtCorruption !== true) {
      throw new WalRepairRefused(`WAL ${dir} is corrupt in the middle: ${cut.file} at byte offset ${cut.offset}: ${cut.reason}; truncating there loses every later write (pass truncateAtCorruption to do it)`);
    }
    const { zeroed, removed } = cutAt(dir, cut);
    return { cut, bytesZeroed: zeroed, segmentsRemoved: removed, after: inspectWal(dir) };
  } finally {
    lock.release();
  }
}

/** Zeros the segment from the problem's offset on and deletes every later segment (newest first, so a crash leaves a prefix). */
function cutAt(dir: string, p: Problem): { zeroed: number; removed: string[] } {
  const files = listSegments(dir);
  const k = files.findIndex((f) => f.file === p.file);
  const removed: string[] = [];
  for (const f of files.slice(k + 1).reverse()) {
    fs.rmSync(f.file, { force: true });
    removed.push(f.file);
  }
  let zeroed = 0;
  if (k >= 0) {
    const size = fs.statSync(p.file).size;
    if (p.offset === 0) {
      fs.rmSync(p.file, { force: true });
      removed.push(p.file);
    } else if (size > p.offset) {
      zeroRangeSync(p.file, p.offset, size);
      zeroed = size - p.offset;
    }
  }
  fsyncDir(dir);
  return { zeroed, removed };
}
