/** Adds `values` to the list `map` keeps under `key` (made on first use), in place: no copy per value. */
export function appendTo<K, V>(map: Map<K, V[]>, key: K, ...values: V[]): void {
  const list = map.get(key);
  if (list) list.push(...values);
  else map.set(key, values);
}
