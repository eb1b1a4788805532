/**
 * Router options from a `provider.json`: one deployment per model of each
 * provider, named `provider/model_name`; or a named router of its `router`
 * section, over the deployments it lists.
 */
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Llm from "../../Llm.js"
import type { OptionsError } from "../../OptionsError.js"
import * as ProviderConfig from "../../ProviderConfig.js"
import type { Deployment, Options, Router } from "../../Router.js"
import * as Store from "../../Store.js"

// A connected store given for the breakers serves the deployments' limiters and pools too: one connection for all.
const connected = (options: Omit<Options, "deployments"> | undefined): Store.Store | undefined => {
  const store = options?.shared?.store
  return store === undefined || "redis" in store ? undefined : store
}

/** `Router.fromConfig`. */
export const fromConfig = (
  config: ProviderConfig.ProviderConfig,
  options?: Omit<Options, "deployments">
): Effect.Effect<Options<Deployment<OptionsError, HttpClient.HttpClient>>> =>
  Effect.map(ProviderConfig.deployments(config, { store: connected(options) }), (deployments) => ({
    ...(config.store !== undefined ? { shared: { store: config.store } } : {}),
    ...options,
    deployments: deployments.map(({ layer, settings }) => {
      const { entry, provider } = settings
      const price = ProviderConfig.priceOf(settings)
      return {
        name: `${provider}/${entry.model_name}`,
        model: entry.model_name,
        provider,
        llm: layer,
        ...(entry.weight !== undefined ? { weight: entry.weight } : {}),
        ...(entry.context_window !== undefined ? { contextWindow: entry.context_window } : {}),
        ...(entry.groups !== undefined ? { groups: entry.groups } : {}),
        ...(price !== undefined ? { price } : {})
      }
    })
  }))

/** `Router.layerConfig`: the config's store connected once, for the breakers and every deployment. */
export const layerConfig = (
  config: ProviderConfig.ProviderConfig,
  options: Omit<Options, "deployments"> | undefined,
  layer: (
    options: Options<Deployment<OptionsError, HttpClient.HttpClient>>
  ) => Layer.Layer<Llm.Llm | Router, OptionsError, HttpClient.HttpClient>
): Layer.Layer<Llm.Llm | Router, OptionsError, HttpClient.HttpClient> =>
  Layer.unwrap(Effect.gen(function*() {
    const wanted = options?.shared?.store ?? config.store
    const store = wanted === undefined || !("redis" in wanted) ? wanted : yield* Store.make(wanted)
    const shared = store === undefined ? {} : { shared: { ...options?.shared, store } }
    return layer(yield* fromConfig(config, { ...options, ...shared }))
  }))

/** `Router.fromConfigNamed`. */
export const fromConfigNamed = (
  config: ProviderConfig.ProviderConfig,
  name: string
): Effect.Effect<Options<Deployment<OptionsError, HttpClient.HttpClient>>, ProviderConfig.ProviderConfigError> => {
  const router = config.routers[name]
  if (router === undefined) {
    const known = Object.keys(config.routers)
    return Effect.fail(
      new ProviderConfig.ProviderConfigError({
        source: "the provider configuration",
        issues: [{
          path: `router.${name}`,
          message: `no such router; known: ${known.length === 0 ? "none" : known.join(", ")}`
        }]
      })
    )
  }
  return Effect.map(fromConfig(config, router.options), (options) => ({
    ...options,
    // In the router's order: `priority` follows it.
    deployments: router.deployments.map((wanted) =>
      options.deployments.find((deployment) => deployment.name === wanted)!
    )
  }))
}
