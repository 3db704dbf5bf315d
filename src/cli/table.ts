// olekukonko/tablewriter as etcdctl 3.4 uses it: upper-cased centered
// headers, right-aligned cells (SetAlignment(ALIGN_RIGHT)), +---+ borders.

function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    w += cp >= 0x1100 && /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  }
  return w;
}

function title(name: string): string {
  const origLen = name.length;
  let t = name.replace(/_/g, ' ').replace(/\./g, ' ').trim();
  if (t.length === 0 && origLen > 0) t = ' ';
  return t.toUpperCase();
}

export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const hdr = header.map(title);
  const widths = hdr.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  const center = (s: string, w: number): string => {
    const gap = w - displayWidth(s);
    const left = Math.floor(gap / 2);
    return ' '.repeat(left) + s + ' '.repeat(gap - left);
  };
  const right = (s: string, w: number): string => ' '.repeat(w - displayWidth(s)) + s;
  let out = line;
  out += `|${hdr.map((h, i) => ` ${center(h, widths[i] ?? 0)} `).join('|')}|\n`;
  out += line;
  for (const r of rows) out += `|${widths.map((w, i) => ` ${right(r[i] ?? '', w)} `).join('|')}|\n`;
  out += line;
  return out;
}
