// The MVCC store's in-memory and byte-level hot paths: the revision codec
// (src/mvcc/codec.ts), the key index (src/mvcc/key-index.ts) and the ordered
// map behind it (src/storage/sorted-map.ts, keys as latin1 strings, as the
// store keeps them).
import { Packr } from 'msgpackr';
import {
  decodeRecord, decodeRevision, decodeRevisionKey, encodeKeyValue, encodeRevision, revisionKey,
  appendPut, appendTombstone, newKeyEntry, revisionAt, type KeyEntry, type KeyValue,
} from '../../src/mvcc';
import { SortedStringMap } from '../../src/storage';
import { noiseBytes, sampleKey, shuffledIndexes, sink, type MicroCase, type MicroSuite } from './harness';

const value = noiseBytes(256);

function sampleKv(): KeyValue {
  return { key: sampleKey(42), value, createRevision: 1_000_000, modRevision: 1_234_567, version: 3, lease: 0n };
}

export function codecSuite(): MicroSuite {
  return {
    id: 'codec',
    title: 'MVCC revision codec (src/mvcc/codec.ts; records of a 24-byte key and a 256-byte value)',
    cases: [
      {
        name: 'encodeRevision',
        setup: () => {
          let rev = 1_234_567;
          return () => sink(encodeRevision(rev++));
        },
      },
      {
        name: 'decodeRevision',
        setup: () => {
          const b = encodeRevision(1_234_567);
          return () => sink(decodeRevision(b));
        },
      },
      {
        name: 'revisionKey',
        setup: () => {
          let rev = 1_234_567;
          return () => sink(revisionKey(rev++, 0, false));
        },
      },
      {
        name: 'decodeRevisionKey',
        setup: () => {
          const b = revisionKey(1_234_567, 3, false);
          return () => sink(decodeRevisionKey(b));
        },
      },
      {
        name: 'encodeKeyValue',
        setup: () => {
          const kv = sampleKv();
          return () => {
            kv.modRevision++;
            sink(encodeKeyValue(kv));
          };
        },
      },
      {
        name: 'ref: encodeKeyValue without its Buffer.from copy (same Packr.pack)',
        setup: () => {
          const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: false });
          const kv = sampleKv();
          return () => {
            kv.modRevision++;
            sink(packr.pack([kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease]));
          };
        },
      },
      {
        name: 'decodeRecord',
        setup: () => {
          const b = encodeKeyValue(sampleKv());
          return () => sink(decodeRecord(b));
        },
      },
    ],
  };
}

function filledMap(n: number): { map: SortedStringMap<number>; keys: string[] } {
  const keys = Array.from({ length: n }, (_, i) => sampleKey(i).toString('latin1'));
  const map = new SortedStringMap<number>();
  for (const i of shuffledIndexes(n)) map.set(keys[i] as string, i);
  return { map, keys };
}

function getCase(n: number, hit: boolean): MicroCase {
  return {
    name: `SortedStringMap.get ${hit ? 'hit' : 'miss'}, ${n.toLocaleString('en-US')} keys`,
    setup: () => {
      const { map, keys } = filledMap(n);
      // A miss sorts between two present keys ("…p00042" < "…p00042!" < "…p00043").
      const probes = shuffledIndexes(n, 17).map((i) => (hit ? keys[i] as string : `${keys[i] as string}!`));
      let i = 0;
      return () => {
        sink(map.get(probes[i] as string));
        i = i + 1 === probes.length ? 0 : i + 1;
      };
    },
  };
}

function scanCase(n: number): MicroCase {
  return {
    name: `SortedStringMap.range full scan, ${n.toLocaleString('en-US')} keys`,
    items: { count: n, unit: 'key' },
    setup: () => {
      const { map } = filledMap(n);
      return () => {
        let s = 0;
        for (const [, v] of map.range('', undefined)) s += v;
        sink(s);
      };
    },
  };
}

// key-index.ts is being reworked: newKeyEntry(key) and appendPut(e, main, sub)
// become newKeyEntry(main, sub, createRevision, version, lease) and
// appendPut(e, main, sub, createRevision, version, lease). keyWithHistory
// builds the same history through whichever is compiled in; drop the legacy
// branch once the rework has landed.
type Loose = (...args: unknown[]) => unknown;
const newEntry = newKeyEntry as unknown as Loose;
const putRevision = appendPut as unknown as Loose;
const legacyKeyIndex = newKeyEntry.length === 1;

/** A key with gens generations of revs revisions each (all but the last deleted). */
function keyWithHistory(gens: number, revs: number): KeyEntry {
  let e = legacyKeyIndex ? newEntry(sampleKey(42)) as KeyEntry : undefined;
  let main = 100;
  for (let g = 0; g < gens; g++) {
    const createRevision = main;
    for (let r = 0; r < revs; r++) {
      if (e === undefined) e = newEntry(main, 0, createRevision, 1, 0n) as KeyEntry;
      else if (legacyKeyIndex) putRevision(e, main, 0);
      else putRevision(e, main, 0, createRevision, r + 1, 0n);
      main++;
    }
    if (g < gens - 1) appendTombstone(e as KeyEntry, main++, 0);
  }
  if (e === undefined) throw new Error('a key history has at least one revision');
  return e;
}

function revisionAtCase(name: string, gens: number, revs: number): MicroCase {
  return {
    name,
    setup: () => {
      const e = keyWithHistory(gens, revs);
      const last = 100 + gens * (revs + 1) - 2;
      // Reads at revisions spread over the key's whole history (some land in a deleted gap).
      const ats = shuffledIndexes(last - 99, 5).map((i) => 100 + i);
      let i = 0;
      return () => {
        sink(revisionAt(e, ats[i] as number));
        i = i + 1 === ats.length ? 0 : i + 1;
      };
    },
  };
}

export function indexSuite(): MicroSuite {
  return {
    id: 'index',
    title: 'Key index (src/storage/sorted-map.ts SortedStringMap, src/mvcc/key-index.ts)',
    cases: [
      getCase(1000, true),
      getCase(100_000, true),
      getCase(100_000, false),
      {
        name: 'SortedStringMap.set existing key, 100,000 keys',
        setup: () => {
          const { map, keys } = filledMap(100_000);
          const order = shuffledIndexes(keys.length, 23);
          let i = 0;
          return () => {
            const k = order[i] as number;
            map.set(keys[k] as string, k);
            i = i + 1 === order.length ? 0 : i + 1;
          };
        },
      },
      {
        name: 'SortedStringMap.set new key + delete it, 100,000 keys',
        setup: () => {
          const { map, keys } = filledMap(100_000);
          const fresh = shuffledIndexes(keys.length, 29).map((i) => `${keys[i] as string}!`);
          let i = 0;
          return () => {
            const k = fresh[i] as string;
            map.set(k, i);
            sink(map.delete(k));
            i = i + 1 === fresh.length ? 0 : i + 1;
          };
        },
      },
      scanCase(1000),
      scanCase(100_000),
      {
        name: 'SortedStringMap.range 100 keys from a random start, 100,000 keys',
        items: { count: 100, unit: 'key' },
        setup: () => {
          const { map, keys } = filledMap(100_000);
          const starts = shuffledIndexes(keys.length - 100, 31).map((i) => keys[i] as string);
          let i = 0;
          return () => {
            let s = 0;
            let n = 0;
            for (const [, v] of map.range(starts[i] as string, undefined)) {
              s += v;
              if (++n === 100) break;
            }
            sink(s);
            i = i + 1 === starts.length ? 0 : i + 1;
          };
        },
      },
      revisionAtCase('revisionAt, 1 generation of 1 revision', 1, 1),
      revisionAtCase('revisionAt, 1 generation of 100 revisions', 1, 100),
      revisionAtCase('revisionAt, 10 generations of 10 revisions', 10, 10),
    ],
  };
}
