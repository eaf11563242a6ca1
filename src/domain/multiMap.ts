/** Adds `values` to the list `map` keeps under `key` (made on first use), in place: no copy per value. */
export function appendTo<K, V>(map: Map<K, V[]>, key: K, ...values: V[]): void {
  const list = map.get(key);
  if (list) list.push(...values);
  else map.set(key, values);
}

/**
 * One entry per category x record type of `items`, in the order the sets are first met: `start` makes
 * a set's entry from its first item, `add` adds each item to its set's entry (the first one too).
 */
export function perSet<T extends { category: unknown; type: string }, S>(items: Iterable<T>, start: (first: T) => S, add: (set: S, item: T) => void): S[] {
  const sets = new Map<string, S>();
  for (const item of items) {
    const key = `${String(item.category)}\u0000${item.type}`;
    let set = sets.get(key);
    if (!set) sets.set(key, (set = start(item)));
    add(set, item);
  }
  return [...sets.values()];
}
