/**
 * What a configuration says about one model: its settings (or an error naming the providers and models there are) and
 * its price.
 */
import * as Effect from "effect/Effect"
import * as Pricing from "../../Pricing.js"
import { type ModelConfig, type ProviderConfig, ProviderConfigError } from "../../ProviderConfig.js"
import type * as Media from "../tokens/media.js"
import { findModel } from "./router.js"

/** A `ProviderConfigError` of the configuration, its one issue `message` at `path`. */
export const configIssue = (path: string, message: string): Effect.Effect<never, ProviderConfigError> =>
  Effect.fail(new ProviderConfigError({ source: "the provider configuration", issues: [{ path, message }] }))

/** `record`'s entry `name`, or a `ProviderConfigError` at `path` naming the `kind`s there are. */
const entryOf = <A>(record: Readonly<Record<string, A>>, name: string, path: string, kind: string) => {
  // Own names only: `constructor` names no provider unless the file has one.
  const found = Object.hasOwn(record, name) ? record[name] : undefined
  return found === undefined
    ? configIssue(path, `no such ${kind}; known: ${Object.keys(record).join(", ") || "none"}`)
    : Effect.succeed(found)
}

/** The settings of one model, or a `ProviderConfigError` naming what exists. */
export const model = (
  config: ProviderConfig,
  provider: string,
  modelName: string
): Effect.Effect<ModelConfig, ProviderConfigError> =>
  Effect.flatMap(
    entryOf(config.providers, provider, provider, "provider"),
    (models) => entryOf(models, modelName, `${provider}.${modelName}`, "model")
  )

/**
 * The model's `pricing` entry, else the built-in price of its `model_name`, else `undefined`. An entry states money;
 * tokens per medium are the model's, so a rate the entry leaves unset comes from the built-in price when it has one
 * (a Claude model priced in provider.json reads PDFs at Claude's page rate). URL reading is the adapter's
 * (`urlReading`); the most billed, reserved for a part of unknowable size, is `context_window`, else the built-in
 * price's, and none (such a part refused for a budgeted key) where `media_by_url` is `"refuse"`.
 */
export const priceOf = (settings: ModelConfig): Pricing.Price | undefined => {
  const { entry } = settings
  const builtIn = Pricing.lookup(entry.model_name)
  const price = entry.pricing === undefined
    ? builtIn
    : { ...mediaRates(builtIn), ...Pricing.fromPerMtok(entry.pricing) }
  if (price === undefined) return undefined
  const contextWindow = entry.media_by_url === "refuse" ? undefined : entry.context_window ?? builtIn?.contextWindow
  const { contextWindow: _builtIn, ...rest } = price
  return {
    ...rest,
    mediaUrls: urlReading(settings, builtIn),
    ...(contextWindow === undefined ? {} : { contextWindow })
  }
}

/**
 * How a model's adapter has its provider read a part by URL: Gemini's (`gemini`, and `vertex` but for Anthropic's
 * models) sends `fileData`, fetched as whatever the URL holds; the others a field read only as an image (or an
 * Anthropic PDF), or nothing, unless the built-in price says the model fetches URLs (Gemini behind an OpenAI endpoint).
 */
const urlReading = (settings: ModelConfig, builtIn: Pricing.Price | undefined): Media.UrlReading => {
  const { api, publisher } = settings.entry
  if (api === "gemini" || (api === "vertex" && publisher !== "anthropic")) return "fetched"
  return builtIn?.mediaUrls === "fetched" ? "fetched" : "typed"
}

/** The token rates of a price's media that it states. */
const mediaRates = (price: Pricing.Price | undefined): Partial<Pricing.Price> => {
  if (price === undefined) return {}
  const { audioTokensPerSecond, imageTokens, pdfPageTokens, videoTokensPerSecond } = price
  return Object.fromEntries(
    Object.entries({ audioTokensPerSecond, imageTokens, pdfPageTokens, videoTokensPerSecond })
      .filter(([, rate]) => rate !== undefined)
  )
}

/** The model a deployment name (`provider/model_name`, or a `model_name` one provider has) names. */
export const named = (config: ProviderConfig, name: string): Effect.Effect<ModelConfig, ProviderConfigError> => {
  const found = findModel(config.providers, name)
  return typeof found === "string" ? configIssue(name, found) : Effect.succeed(found)
}
