// Go's strconv parsing with its error texts (etcdctl prints them).

const int64Max = (1n << 63n) - 1n;
const int64Min = -(1n << 63n);

/** strconv.ParseInt(s, 10, 64): the value, or the error text. */
export function parseGoInt(s: string): bigint | string {
  if (!/^[+-]?\d+$/.test(s)) return `strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`;
  const v = BigInt(s);
  if (v > int64Max || v < int64Min) return `strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range`;
  return v;
}

/** strconv.ParseInt(s, 16, 64): the value, or the error text. */
export function parseHexInt64(s: string): bigint | string {
  if (!/^[+-]?[0-9a-fA-F]+$/.test(s)) return `strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`;
  const neg = s.startsWith('-');
  const body = s.replace(/^[+-]/, '');
  let v = BigInt(`0x${body}`);
  if (neg) v = -v;
  if (v > int64Max || v < int64Min) return `strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range`;
  return v;
}

/** strconv.ParseUint(s, 16, 64). */
export function parseHexUint64(s: string): bigint | string {
  if (!/^[0-9a-fA-F]+$/.test(s)) return `strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`;
  const v = BigInt(`0x${s}`);
  if (v >= 1n << 64n) return `strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`;
  return v;
}
