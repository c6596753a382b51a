/** Small map helpers shared by the observe modules. */

/** The value at `key`, created with `make` (and stored) when absent. */
export function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  const found = map.get(key);
  if (found !== undefined) return found;
  const made = make();
  map.set(key, made);
  return made;
}
