/**
 * Fast paths a service offers the library's own callers, kept on the service
 * object under a symbol and out of its public type.
 *
 * Not enumerable: a decorator written as `{ ...service, op }` does not carry
 * them past its own `op`, so the reader derives slower ones from the public
 * operations for it, and the decorator's `op` runs.
 */
export interface Slot<F> {
  readonly attach: <S extends object>(service: S, fast: F) => S
  readonly read: (service: object) => F | undefined
}

/** A slot under `Symbol.for(key)`. */
export const slot = <F>(key: string): Slot<F> => {
  const id = Symbol.for(key)
  return {
    attach: (service, fast) => Object.defineProperty(service, id, { value: fast }),
    read: (service) => (id in service ? (service as Record<symbol, F>)[id] : undefined)
  }
}
