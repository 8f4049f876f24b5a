// Plain-text tables for the terminal: left-aligned columns, long cells cut with an ellipsis.

export function table(headers: string[], rows: string[][], opts: { maxWidth?: number } = {}): string {
  const max = opts.maxWidth ?? 60;
  const cut = (s: string) => {
    const one = s.replace(/\s+/g, ' ');
    return one.length > max ? `${one.slice(0, max - 1)}…` : one;
  };
  const cells = [headers, ...rows].map((r) => r.map(cut));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** "3d 4h", "12m", "40s": an age for people. */
export function humanAge(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}
