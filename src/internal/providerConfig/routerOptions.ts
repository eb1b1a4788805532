/**
 * What a `provider.json` configures: a router's options (a deployment per model, named `provider/model_name`, or a
 * named router over the deployments it lists), a router's layer on one connection to the file's store, and what a
 * gateway serves.
 */
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Llm from "../../Llm.js"
import type { OptionsError } from "../../OptionsError.js"
import { type ProviderConfig, type ProviderConfigError } from "../../ProviderConfig.js"
import * as Router from "../../Router.js"
import * as Store from "../../Store.js"
import type * as Gateway from "../gatewayConfig/config.js"
import { deployments as deploymentsOf } from "./layers.js"
import { configIssue, priceOf } from "./lookup.js"

type Options = Router.Options<Router.Deployment<OptionsError, HttpClient.HttpClient>>

/** Every model of `config` as a router's deployment, its `Llm` built on `store` when given. */
function routerDeployments(
  config: ProviderConfig,
  store: Store.Store | undefined
): Effect.Effect<ReadonlyArray<Gateway.Deployment>> {
  return Effect.map(deploymentsOf(config, { store }), (deployments) =>
    deployments.map(({ layer, settings }) => {
      const { entry, provider } = settings
      const price = priceOf(settings)
      return {
        name: `${provider}/${entry.model_name}`,
        model: entry.model_name,
        provider,
        api: entry.api ?? "chat-completions",
        llm: layer,
        ...(entry.weight !== undefined ? { weight: entry.weight } : {}),
        ...(entry.context_window !== undefined ? { contextWindow: entry.context_window } : {}),
        // A chat-completions style (`"prefix"`) says the model takes a prefill, and how its client sends one.
        ...(entry.prefill !== undefined ? { prefill: entry.prefill !== false } : {}),
        ...(entry.groups !== undefined ? { groups: entry.groups } : {}),
        ...(entry.guardrails !== undefined ? { guardrails: entry.guardrails } : {}),
        ...(price !== undefined ? { price } : {})
      }
    }))
}

/** `ProviderConfig.routerOptions`: each deployment's layer connects to the file's store when built. */
export function routerOptions(
  config: ProviderConfig,
  options?: Omit<Router.Options, "deployments">
): Effect.Effect<Options> {
  return Effect.map(routerDeployments(config, undefined), (deployments) => ({ ...options, deployments }))
}

/**
 * `ProviderConfig.routerLayer`: the store connected once, for every deployment's limits and, as
 * `Router.layerStoreRedis`, the router's breakers and pins; without a store, they are kept in memory of its own.
 */
export function routerLayer(
  config: ProviderConfig,
  options?: Omit<Router.Options, "deployments">
): Layer.Layer<Llm.Llm | Router.Router, OptionsError, HttpClient.HttpClient> {
  return Layer.unwrap(Effect.gen(function*() {
    const store = config.store === undefined ? undefined : yield* Store.make(config.store)
    const deployments = yield* routerDeployments(config, store)
    const router = Router.layer({ ...options, deployments })
    return Layer.provide(router, store === undefined ? Router.layerStoreMemory : Router.layerStoreRedis(store))
  }))
}

/** `ProviderConfig.namedRouterOptions`. */
export function namedRouterOptions(
  config: ProviderConfig,
  name: string
): Effect.Effect<Options, ProviderConfigError> {
  const router = Object.hasOwn(config.routers, name) ? config.routers[name] : undefined
  if (router === undefined) {
    const known = Object.keys(config.routers)
    return configIssue(`router.${name}`, `no such router; known: ${known.length === 0 ? "none" : known.join(", ")}`)
  }
  return Effect.map(routerOptions(config, router.options), (options) => ({
    ...options,
    // In the router's order: `priority` follows it.
    deployments: router.deployments.map((wanted) =>
      options.deployments.find((deployment) => deployment.name === wanted)!
    )
  }))
}

/**
 * Every provider key of a configuration: those its entries list. The stand-in of an entry without `api_keys` (a
 * cloud credential's identity, a keyless server's `none`) is no secret: masking it would garble words like "none".
 */
export function providerKeys(config: ProviderConfig): ReadonlyArray<Redacted.Redacted<string>> {
  return Object.values(config.providers).flatMap((models) =>
    Object.values(models).flatMap((model) =>
      model.entry.api_keys === undefined
        ? []
        : model.keys.map((key) => typeof key.key === "string" ? Redacted.make(key.key) : key.key)
    )
  )
}

/** `ProviderConfig.gatewayConfig`. */
export function gatewayConfig(config: ProviderConfig): Gateway.Config {
  return {
    deployments: (store) => routerDeployments(config, store),
    routers: config.routers,
    store: config.store,
    keys: config.gateway,
    database: config.database,
    providerKeys: providerKeys(config),
    mcpServers: config.mcpServers,
    guardrails: config.guardrails
  }
}
