/**
 * Names no other instance or call uses, for what every backend tells apart by name: a lease, an instance's published
 * counts, a record, a pool or a budget given no `key`.
 */

let counter = 0
const instance = globalThis.crypto.randomUUID()

/** A member name no other instance or call uses. */
export const uniqueId = (): string => `${instance}:${++counter}`
