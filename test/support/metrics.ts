/** Prometheus text format, parsed: `name{a="x",b="y"}` -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) values.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return values;
}
