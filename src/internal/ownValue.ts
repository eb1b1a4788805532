/**
 * `table`'s own entry at `key`, or `undefined`: never a member every object inherits from `Object.prototype`
 * (`constructor`, `toString`), which a key read from a request, a reply or a file name may name.
 */
export const ownValue = <V>(table: Readonly<Record<string, V>>, key: string): V | undefined =>
  Object.hasOwn(table, key) ? table[key] : undefined
