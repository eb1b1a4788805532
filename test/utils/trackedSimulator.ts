import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import * as UsageLedger from "../../src/UsageLedger.js"

/**
 * A simulator accepting `key`, and the `Llm` of its `gpt-4o-mini` as provider.json
 * configures it, recorded under `deployment` in the `UsageLedger` the layer also
 * provides. The simulator lives in the caller's scope.
 */
export const trackedSimulator = (key: string, deployment: string, options?: Simulator.Options) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ ...options, apiKeys: [key] })
    const config = yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", api_keys: [key], base_url: `${simulator.url}/v1` }]
    })
    return UsageLedger.track(deployment).pipe(
      Layer.provide(ProviderConfig.layer(config, "sim", "gpt-4o-mini")),
      Layer.provideMerge(UsageLedger.layer),
      Layer.provide(UndiciHttpClient.layer())
    )
  })
