/** The value at a dotted path (`meta.next_cursor`) of a parsed JSON body; undefined where the path leads nowhere. */
export function pick(body: unknown, dotted: string): unknown {
  return dotted.split(".").reduce<unknown>((v, key) => (v && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined), body);
}

/**
 * A copy of `item` with the value of each dotted path of `values` set, objects made where a path leads
 * nowhere: `{ "billing.name": null }` over `{}` is `{ billing: { name: null } }`, the JSON an API reads.
 */
export function withValues(item: Record<string, unknown>, values: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(item);
  for (const [dotted, value] of Object.entries(values)) {
    const keys = dotted.split(".");
    let at = copy;
    for (const key of keys.slice(0, -1)) {
      if (!at[key] || typeof at[key] !== "object" || Array.isArray(at[key])) at[key] = {};
      at = at[key] as Record<string, unknown>;
    }
    at[keys[keys.length - 1]] = value;
  }
  return copy;
}
