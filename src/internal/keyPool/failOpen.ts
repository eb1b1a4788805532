/**
 * Fail-open, as a decorator over `KeyPool.LeaseStore` (the shared part is `persistence/failOpen.ts`): every step goes
 * to the shared store, and while that fails with `StoreUnavailableError`, to a local store whose keys hold
 * `1 / instances` of their caps. A lease is given back where it was taken; a verdict on a key goes to the store
 * serving at that moment. Loads published while the shared store is away reach no other instance: the keys without
 * a cap are picked by this instance's calls alone.
 */
import * as Effect from "effect/Effect"
import type * as KeyPool from "../../KeyPool.js"
import { countShareOf, orLocal } from "../persistence/failOpen.js"

const leasesOf = (shared: KeyPool.Leases, local: KeyPool.Leases): KeyPool.Leases => {
  // The leases taken from the local store, which only it can give back.
  const localLeases = new Set<string>()
  const fromLocal = <A extends { readonly _tag: string } | undefined>(picked: A): A => {
    if (picked?._tag === "Taken") localLeases.add((picked as KeyPool.LeaseTaken).lease)
    return picked
  }
  return {
    pick: orLocal(shared.pick, Effect.map(local.pick, fromLocal)),
    pickBelow: (bar) => orLocal(shared.pickBelow(bar), Effect.map(local.pickBelow(bar), fromLocal)),
    pickOne: (index) => orLocal(shared.pickOne(index), Effect.map(local.pickOne(index), fromLocal)),
    release: (index, lease, verdict) =>
      localLeases.delete(lease)
        ? local.release(index, lease, verdict)
        : orLocal(shared.release(index, lease, verdict), local.release(index, "", verdict)),
    status: orLocal(shared.status, local.status)
  }
}

const loadsOf = (shared: KeyPool.Loads, local: KeyPool.Loads): KeyPool.Loads => ({
  publish: (counts) => orLocal(shared.publish(counts), local.publish(counts)),
  tell: (index, verdict) => orLocal(shared.tell(index, verdict), local.tell(index, verdict)),
  post: shared.post,
  every: shared.every
})

/** `shared`, falling back on `local` with `1 / instances` of each key's cap while it is unavailable. */
export const failOpen = (
  shared: KeyPool.LeaseStore["Service"],
  local: KeyPool.LeaseStore["Service"],
  instances: number
): KeyPool.LeaseStore["Service"] => ({
  leases: (options) =>
    Effect.zipWith(
      shared.leases(options),
      local.leases({
        ...options,
        candidates: options.candidates.map((candidate) => ({
          ...candidate,
          maxConcurrency: candidate.maxConcurrency === Infinity
            ? Infinity
            : countShareOf(candidate.maxConcurrency, instances)
        }))
      }),
      leasesOf
    ),
  loads: (options) => Effect.zipWith(shared.loads(options), local.loads(options), loadsOf)
})
