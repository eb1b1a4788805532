/**
 * The entry points `Router` had before the configuration side moved to `ProviderConfig` (0.3.0), kept one minor
 * version as deprecated aliases: each gives what its replacement gives.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ProviderConfig from "../src/ProviderConfig.js"
import * as Router from "../src/Router.js"

const configured = ProviderConfig.fromJson({
  openai: [{ model_name: "gpt-4o-mini", api_keys: ["sk-deprecated-0001"] }, {
    model_name: "gpt-4o",
    api_keys: ["sk-deprecated-0001"]
  }],
  router: { main: { deployments: ["openai/gpt-4o"], strategy: "priority" } }
})

const names = (options: Router.Options) => options.deployments.map((deployment) => deployment.name)

describe("Router's deprecated configuration entry points", () => {
  it.effect("fromConfig and fromConfigNamed give the options ProviderConfig's give", () =>
    Effect.gen(function*() {
      const config = yield* configured
      expect(names(yield* Router.fromConfig(config, { strategy: "priority" }))).toEqual(
        names(yield* ProviderConfig.routerOptions(config, { strategy: "priority" }))
      )
      expect(names(yield* Router.fromConfigNamed(config, "main"))).toEqual(
        names(yield* ProviderConfig.namedRouterOptions(config, "main"))
      )
      const missing = yield* Effect.flip(Router.fromConfigNamed(config, "nope"))
      expect(missing).toBeInstanceOf(ProviderConfig.ProviderConfigError)
    }))

  it.effect("layerConfig builds the router routerLayer builds", () =>
    Effect.gen(function*() {
      const config = yield* configured
      const status = (layer: Layer.Layer<Router.Router, unknown>) =>
        Effect.scoped(Effect.flatMap(Router.Router.pipe(Effect.provide(layer)), (router) => router.status))
      const old = yield* status(Router.layerConfig(config).pipe(Layer.provide(NodeHttpClient.layerUndici)))
      const current = yield* status(ProviderConfig.routerLayer(config).pipe(Layer.provide(NodeHttpClient.layerUndici)))
      expect(Object.keys(old.details)).toEqual(Object.keys(current.details))
    }))
})
