// --since for queue commands: a moment (ISO 8601) or a span back from now ("90m", "6h", "2d").

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Epoch ms, or null when the text is neither form. */
export function parseSince(text: string, now: number): number | null {
  const span = /^(\d+(?:\.\d+)?)\s*([smhd])$/i.exec(text.trim());
  if (span) return now - Number(span[1]) * UNITS[span[2]!.toLowerCase()]!;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim())) return null;
  const ms = Date.parse(text.trim());
  return Number.isNaN(ms) ? null : ms;
}
