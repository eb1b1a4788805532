/**
 * The key of a deployment's pool a batch is made, read and cancelled with. A batch's id names it by its tag (`ids.ts`'
 * `keyTag`), which tells the client nothing; an instance learns a pool's tags as it takes its keys, so it finds the key
 * of a batch made on another the first time it meets one. Each step gives the key back at once, so a batch holds none
 * of its slots.
 */
import * as Effect from "effect/Effect"
import type * as KeyPool from "../../../KeyPool.js"
import type { NoCapacityError } from "../../../LlmError.js"
import type { Credentials } from "../../../ProviderClient.js"
import { keyTag } from "./ids.js"

/** Why a batch's key was not given: no key of the pool has its tag, or one the pool cannot lend now might. */
export type Unavailable = "missing" | "busy"

/** The keys of the pools a configuration serves, for its batches. */
export function make() {
  // Each pool's keys' ids by their tags, as far as this instance has taken them.
  const tags = new Map<KeyPool.Service, Map<string, string>>()

  function tagsOf(pool: KeyPool.Service): Map<string, string> {
    const known = tags.get(pool) ?? new Map<string, string>()
    tags.set(pool, known)
    return known
  }

  /** `lease`'s credentials, its key given back to `pool` and its tag learnt. */
  function givenBack(pool: KeyPool.Service, lease: KeyPool.Lease): Effect.Effect<Credentials> {
    tagsOf(pool).set(keyTag(lease.credentials.key), lease.credentials.keyId)
    return Effect.as(pool.release(lease), lease.credentials)
  }

  /** The least-loaded key of `pool`, as a new batch is made with. */
  function leastLoaded(pool: KeyPool.Service): Effect.Effect<Credentials, NoCapacityError> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(pool.take()), (lease) => givenBack(pool, lease))
    )
  }

  /** The key of `keyId`, when the pool can lend it now. */
  function lent(pool: KeyPool.Service, keyId: string): Effect.Effect<Credentials | undefined> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(pool.tryTakeKey(keyId)),
        (lease) => lease === undefined ? Effect.succeed(undefined) : givenBack(pool, lease)
      )
    )
  }

  /**
   * The key of `pool` whose tag is `tag` (or whose id it is: an id made before tags named its key so): the keys whose
   * tags are not known here taken in turn until one has it.
   */
  const tagged = Effect.fnUntraced(function*(pool: KeyPool.Service, tag: string) {
    const known = tagsOf(pool)
    const keys = yield* pool.status
    const named = known.get(tag) ?? keys.find((key) => key.keyId === tag)?.keyId
    if (named !== undefined) {
      const credentials = yield* lent(pool, named)
      return credentials ?? (yield* Effect.fail<Unavailable>("busy"))
    }
    let unlent = false
    for (const { keyId } of keys) {
      if ([...known.values()].includes(keyId)) continue
      const credentials = yield* lent(pool, keyId)
      if (credentials === undefined) unlent = true
      else if (keyTag(credentials.key) === tag) return credentials
    }
    return yield* Effect.fail<Unavailable>(unlent ? "busy" : "missing")
  })

  return { leastLoaded, tagged } as const
}
