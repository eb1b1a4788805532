/**
 * A wire schema's type as a client writes it, to hold against an official SDK's parameter type: the schema reads
 * `null` and `undefined` as unset (clients send `null`) where the SDK's types leave the field out, and its arrays are
 * readonly where the SDK's are not; a JSON body the client writes holds neither, nor a frozen array.
 */
export type Written<T> = T extends ReadonlyArray<infer A> ? Array<Written<A>>
  : T extends object ? { -readonly [K in keyof T]: Written<Exclude<T[K], null | undefined>> }
  : T
