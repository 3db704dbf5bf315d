// clientv3.GetPrefixRangeEnd, shared by the commands that build ranges and the
// printer that shows permission ranges.

/** The end of the range of keys that start with `key` ("\0" when every byte is 0xff). */
export function prefixRangeEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
