/** A `Map` or a `WeakMap`. */
interface Keeping<K, V> {
  get(key: K): V | undefined
  set(key: K, value: V): unknown
}

/**
 * `map`'s value for `key`, made by `make` (handed `arg`, so that a hot path makes no closure a call) and kept there
 * the first time it is asked for.
 */
export function keptIn<K, V>(map: Keeping<K, V>, key: K, make: (key: K) => V): V
export function keptIn<K, V, A>(map: Keeping<K, V>, key: K, make: (key: K, arg: A) => V, arg: A): V
export function keptIn<K, V, A>(map: Keeping<K, V>, key: K, make: (key: K, arg?: A) => V, arg?: A): V {
  let value = map.get(key)
  if (value === undefined) {
    value = make(key, arg)
    map.set(key, value)
  }
  return value
}
