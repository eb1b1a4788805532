/**
 * Router options from a `provider.json`: one deployment per model of each
 * provider, named `provider/model_name`.
 */
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type { OptionsError } from "../../OptionsError.js"
import * as ProviderConfig from "../../ProviderConfig.js"
import type { Deployment, Options } from "../../Router.js"

/** `Router.fromConfig`. */
export const fromConfig = (
  config: ProviderConfig.ProviderConfig,
  options?: Omit<Options, "deployments">
): Effect.Effect<Options<Deployment<OptionsError, HttpClient.HttpClient>>> =>
  Effect.map(ProviderConfig.deployments(config), (deployments) => ({
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
