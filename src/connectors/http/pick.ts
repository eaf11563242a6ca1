/** The value at a dotted path (`meta.next_cursor`) of a parsed JSON body; undefined where the path leads nowhere. */
export function pick(body: unknown, dotted: string): unknown {
  return dotted.split(".").reduce<unknown>((v, key) => (v && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined), body);
}
