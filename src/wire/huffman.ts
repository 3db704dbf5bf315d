// HPACK's static Huffman code (RFC 7541 Appendix B). The code is canonical: a
// symbol's code follows from the code lengths alone (codes of one length are
// consecutive in symbol order, each length starting where the shorter ones
// left off), so only the 257 lengths are written down here and the codes are
// derived at load time. Decoding walks the code tree four bits at a time
// through a precomputed table (no symbol is shorter than five bits, so a
// nibble completes at most one).
import { assert } from '../util';

// prettier-ignore
const codeLengths: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const symbolCount = 257;
const eos = 256;

/** Code of each symbol, right-aligned. */
export const huffmanCodes: Uint32Array = new Uint32Array(symbolCount);
/** Length in bits of each symbol's code. */
export const huffmanLengths: Uint8Array = new Uint8Array(codeLengths);

function assignCanonicalCodes(): void {
  assert(codeLengths.length === symbolCount, 'huffman: 257 code lengths');
  const order = Array.from({ length: symbolCount }, (_, i) => i);
  order.sort((a, b) => (huffmanLengths[a] as number) - (huffmanLengths[b] as number) || a - b);
  let code = 0;
  let length = huffmanLengths[order[0] as number] as number;
  for (const sym of order) {
    const len = huffmanLengths[sym] as number;
    code *= 2 ** (len - length);
    length = len;
    huffmanCodes[sym] = code;
    code++;
  }
  // A complete prefix code ends exactly at 2^length: the all-ones code (EOS) was the last.
  assert(code === 2 ** length, 'huffman: code is complete');
  assert(huffmanCodes[eos] === 0x3fffffff, 'huffman: EOS is thirty 1 bits');
}
assignCanonicalCodes();

// --- decoding -------------------------------------------------------------

// Tree nodes: internal nodes get ids 0..255 (0 is the root). child[2n+b] is
// the child for bit b: an internal node id, or -(sym+1) for a leaf.
const internalNodesMax = 256;

function buildTree(): Int32Array {
  const child = new Int32Array(internalNodesMax * 2);
  let nodes = 1;
  for (let sym = 0; sym < symbolCount; sym++) {
    const len = huffmanLengths[sym] as number;
    const code = huffmanCodes[sym] as number;
    let node = 0;
    for (let i = len - 1; i > 0; i--) {
      const bit = Math.floor(code / 2 ** i) % 2;
      let next = child[node * 2 + bit] as number;
      if (next === 0) {
        assert(nodes < internalNodesMax, 'huffman: tree within 256 internal nodes');
        next = nodes++;
        child[node * 2 + bit] = next;
      }
      node = next;
    }
    child[node * 2 + (code % 2)] = -(sym + 1);
  }
  assert(nodes === internalNodesMax, 'huffman: 256 internal nodes');
  return child;
}

// Table entry per (state, nibble): bits 0-7 next state, bits 8-16 emitted
// symbol + 1 (0: none), bit 17 failure (EOS decoded), bit 18 the state after
// the nibble is a valid end (on the all-ones path, at most 7 bits deep).
const flagFail = 1 << 17;
const flagAccept = 1 << 18;
const decodeTable = new Uint32Array(internalNodesMax * 16);

function buildDecodeTable(): void {
  const child = buildTree();
  // Nodes on the all-ones path from the root, by depth: valid padding ends there.
  const onesDepth = new Int8Array(internalNodesMax).fill(-1);
  let n = 0;
  for (let depth = 0; depth < 8; depth++) {
    onesDepth[n] = depth;
    n = child[n * 2 + 1] as number;
  }
  for (let state = 0; state < internalNodesMax; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let emitted = 0;
      let fail = false;
      for (let i = 3; i >= 0; i--) {
        const next = child[node * 2 + ((nibble >> i) & 1)] as number;
        if (next < 0) {
          const sym = -next - 1;
          if (sym === eos) fail = true;
          emitted = sym + 1;
          node = 0;
        } else {
          node = next;
        }
      }
      const accept = (onesDepth[node] as number) >= 0;
      decodeTable[state * 16 + nibble] = node | (emitted << 8) | (fail ? flagFail : 0) | (accept ? flagAccept : 0);
    }
  }
}
buildDecodeTable();

/**
 * Decodes src[start, end) into out (from 0); returns the number of bytes
 * written, or -1 for an invalid string (EOS inside, bad padding, or more
 * output than out holds).
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let state = 0;
  let accept = true;
  let o = 0;
  const cap = out.length;
  for (let i = start; i < end; i++) {
    const byte = src[i] as number;
    for (let half = 0; half < 2; half++) {
      const e = decodeTable[state * 16 + (half === 0 ? byte >> 4 : byte & 15)] as number;
      if ((e & flagFail) !== 0) return -1;
      const sym = (e >> 8) & 0x1ff;
      if (sym !== 0) {
        if (o >= cap) return -1;
        out[o++] = sym - 1;
      }
      state = e & 0xff;
      accept = (e & flagAccept) !== 0;
    }
  }
  return accept ? o : -1;
}

/** Bytes the Huffman encoding of s[0, s.length) takes (s is a latin1 string). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += huffmanLengths[s.charCodeAt(i) & 0xff] as number;
  return Math.ceil(bits / 8);
}

/** Writes the Huffman encoding of latin1 string s at out[pos]; returns the new position. */
export function huffmanEncode(s: string, out: Uint8Array, pos: number): number {
  // A 32-bit accumulator: at most 7 bits left over plus at most 24 new ones
  // (codes longer than 24 bits go in two pieces).
  let acc = 0;
  let bits = 0;
  let p = pos;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = huffmanLengths[sym] as number;
    let code = huffmanCodes[sym] as number;
    if (len > 24) {
      acc = (acc << (len - 16)) | (code >>> 16);
      bits += len - 16;
      while (bits >= 8) {
        bits -= 8;
        out[p++] = acc >>> bits;
      }
      acc &= (1 << bits) - 1;
      code &= 0xffff;
      len = 16;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      out[p++] = acc >>> bits;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out[p++] = (acc << (8 - bits)) | (0xff >> bits);
  return p;
}
