/**
 * Small collection helpers shared by every stage: a machine-independent order, de-duplication,
 * grouping, multiset equality and the plain-object test for parsed JSON and YAML. Pure and browser-safe.
 */

/**
 * Code-unit order for strings (numeric order for numbers), the same on every machine and in every
 * locale, unlike `localeCompare`: what sorted output, golden files and checksums rely on.
 */
export function compare<T extends string | number | bigint | boolean>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The values in first-seen order, each once; with `keyOf`, the first value of each key. */
export function unique<T>(values: Iterable<T>, keyOf?: (value: T) => unknown): T[] {
  if (keyOf === undefined) return [...new Set(values)];
  const seen = new Set<unknown>();
  const kept: T[] = [];
  for (const value of values) {
    const key = keyOf(value);
    if (seen.has(key)) continue;
    seen.add(key);
    kept.push(value);
  }
  return kept;
}

/** The items per key, keys in first-seen order and items in their order. */
export function groupBy<T, K>(items: Iterable<T>, keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

/** Whether two lists hold the same strings the same number of times, in any order. */
export function sameMultiset(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const left = [...a].sort(compare);
  const right = [...b].sort(compare);
  return left.every((value, index) => value === right[index]);
}

/** A JSON or YAML mapping: an object that is neither null nor an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
