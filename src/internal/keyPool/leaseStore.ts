/** `KeyPool.LeaseStore`'s tag, here so the pools made in `keyPool/registry.ts` can read it. */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as KeyPool from "../../KeyPool.js"

/** `KeyPool.LeaseStore`. */
export class LeaseStore extends Context.Service<LeaseStore, {
  readonly leases: (options: KeyPool.LeasesOptions) => Effect.Effect<KeyPool.Leases>
  readonly loads: (options: KeyPool.LoadsOptions) => Effect.Effect<KeyPool.Loads>
  /**
   * Pools lease their uncapped keys here too: for a store in this process, where a lease costs no round trip. Otherwise
   * (Redis) such keys are picked in each instance over the loads the instances publish (`loads`). Default false.
   */
  readonly leaseUncapped?: boolean | undefined
}>()("effect-llm-router/KeyPool/LeaseStore") {}
