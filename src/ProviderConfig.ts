/**
 * `provider.json`: providers, their models, keys and limits, and the `Llm` layers
 * built from them. The format is a superset of SimpleLLMFunc's:
 *
 * ```json
 * {
 *   "openai": [
 *     { "model_name": "gpt-4o", "api_keys": ["env:OPENAI_API_KEY", { "key": "sk-...", "weight": 2 }],
 *       "base_url": "https://api.openai.com/v1", "max_retries": 5, "retry_delay": 1.0,
 *       "rate_limit_capacity": 20, "rate_limit_refill_rate": 3.0, "max_concurrency": 100,
 *       "pricing": { "input_per_mtok": 2.5, "cached_input_per_mtok": 1.25, "output_per_mtok": 10 } }
 *   ]
 * }
 * ```
 *
 * `ModelEntry` documents each field (`api` picks the adapter, `chat-completions` by default). The `router` section
 * names routers over the file's models (`RouterEntry`), `store` shares limits and key pools with other instances
 * (`StoreEntry`), `gateway` holds the keys clients call `Gateway` with (`GatewayEntry`). `env:NAME` reads a key (and
 * `store.redis`, `store.sql`) from the environment as `Redacted`. A model's keys go only to its endpoint (provider,
 * `api`, `base_url`). A file that is too large, too deep, names `__proto__` or does not decode fails with
 * `ProviderConfigError` naming every bad path; an unknown field is a warning log. Neither shows a key value. See
 * docs/configuration.md.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Guardrail from "./Guardrail.js"
// The gateway's configuration, named as `Gateway` exports it: the library reads it without importing the gateway.
import type * as Gateway from "./internal/gatewayConfig/config.js"
import * as internalGateway from "./internal/providerConfig/gateway.js"
import * as internalLayers from "./internal/providerConfig/layers.js"
import * as internalLookup from "./internal/providerConfig/lookup.js"
import * as internalModelEntry from "./internal/providerConfig/modelEntry.js"
import * as internalRead from "./internal/providerConfig/read.js"
import * as internalRouter from "./internal/providerConfig/router.js"
import * as internalRouterOptions from "./internal/providerConfig/routerOptions.js"
import * as internalStore from "./internal/providerConfig/store.js"
import type * as KeyPool from "./KeyPool.js"
import type * as Llm from "./Llm.js"
import type { OptionsError } from "./OptionsError.js"
import type * as Pricing from "./Pricing.js"
import type { ProviderClient } from "./ProviderClient.js"
import type * as RateLimiter from "./RateLimiter.js"
import type * as Router from "./Router.js"
import type * as Store from "./Store.js"

/**
 * A key as written in the file: the key itself, `env:NAME`, or an object with a weight.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const KeyEntry = internalModelEntry.KeyEntry

/**
 * A model's prices as written in the file, US dollars per million tokens.
 * `cached_input_per_mtok` (prompt-cache hits) and `cache_write_per_mtok` (writes for the default five minutes)
 * default to `input_per_mtok`, `cache_write_1h_per_mtok` (writes for an hour) to `cache_write_per_mtok`.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const PricingEntry = internalModelEntry.PricingEntry

/**
 * The adapters `api` selects.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const Api = internalModelEntry.Api

/**
 * @since 0.1.0
 * @category Schemas
 */
export type Api = typeof Api.Type

/**
 * One model of a provider, as written in the file (each field documented where the schema declares it).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ModelEntry = internalModelEntry.ModelEntry

/**
 * @since 0.1.0
 * @category Schemas
 */
export type ModelEntry = typeof ModelEntry.Type

/**
 * The providers of the file: provider name to its models (every key but `router`, `store`, `gateway` and
 * `mcp_servers`).
 *
 * @since 0.1.0
 * @category Schemas
 */
export const ProviderFile = Schema.Record(Schema.String, Schema.Array(ModelEntry))

/**
 * The file's `store` section: `Store.Options` in snake_case, durations in seconds, `redis` a URL or `env:NAME`.
 * @since 0.3.0
 * @category Schemas
 */
export const StoreEntry = internalStore.StoreEntry

/**
 * The file's `gateway` section, `Gateway.Keys` in snake_case: `keys` (each `{ name, key, models?, tools?,
 * rate_limit_capacity?, rate_limit_refill_rate?, budget?: { limit, period?, default_max_tokens? } }`: `Gateway.Key`;
 * a request without `max_tokens` is sent and reserved with `default_max_tokens`, default 4,096), `admin_keys`,
 * `allow_keyless`, `hosted_tools`, `audit`, `log_payloads` and the bounds on what the gateway keeps. Each field and its
 * default: docs/configuration.md and docs/gateway.md.
 * @since 0.3.0
 * @category Schemas
 */
export const GatewayEntry = internalGateway.GatewayEntry

/**
 * A named router of the file's `router` section: `Router.Options` in snake_case, with `deployments` named as
 * `named` takes them, `fallbacks` keys and `to` naming a listed deployment, its model or one of its `groups`,
 * and durations in seconds or as strings such as `"30 seconds"`.
 *
 * @since 0.1.0
 * @category Schemas
 */
export const RouterEntry = internalRouter.RouterEntry

/**
 * @since 0.1.0
 * @category Schemas
 */
export type RouterEntry = typeof RouterEntry.Type

/**
 * One problem in a configuration: where (`openai[0].rate_limit_capacity`) and what.
 *
 * @since 0.1.0
 * @category Errors
 */
export const Issue = Schema.Struct({ path: Schema.String, message: Schema.String })

/**
 * A configuration that cannot be used: a file that cannot be read or does not decode (every bad path listed), a
 * missing `env:` variable (named, never its value), or a provider, model or router that is not in it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ProviderConfigError extends Schema.TaggedError<ProviderConfigError>()("ProviderConfigError", {
  source: Schema.String,
  issues: Schema.Array(Issue)
}) {
  override get message() {
    const count = this.issues.length === 1 ? "a problem" : `${this.issues.length} problems`
    return `${this.source} has ${count}:\n${
      this.issues.map((issue) => `  ${issue.path === "" ? "" : `${issue.path}: `}${issue.message}`).join("\n")
    }`
  }
}

/**
 * A model's settings with its keys read.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ModelConfig {
  readonly provider: string
  readonly entry: ModelEntry
  readonly keys: ReadonlyArray<KeyPool.KeyOptions>
}

/**
 * A named router of the file: its deployments (`provider/model_name`, in order) and its other `Router.Options`.
 *
 * @since 0.1.0
 * @category Models
 */
export type RouterConfig = Gateway.NamedRouter

/**
 * A decoded configuration: provider name to model name to settings, and the named routers of the `router` section.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ProviderConfig {
  readonly providers: Readonly<Record<string, Readonly<Record<string, ModelConfig>>>>
  readonly routers: Readonly<Record<string, RouterConfig>>
  /** The `store` section: the models' limiters and key pools keep their state there. Absent: in memory. */
  readonly store?: Store.Options | undefined
  /** The `gateway` section: the keys clients call the gateway with. Absent: none (the gateway serves loopback only). */
  readonly gateway?: Gateway.Keys | undefined
  /** The `store` section's `sql`: the gateway's database. Absent: `serve`'s SQLite file, or none in the library. */
  readonly database?: Gateway.Database | undefined
  /**
   * The `mcp_servers` section: the MCP servers whose tools the gateway serves at `/mcp`, by name (docs/mcp.md).
   * Absent: none.
   *
   * @since 0.3.0
   */
  readonly mcpServers?: Readonly<Record<string, Gateway.McpServer>> | undefined
  /**
   * The `guardrails` section: named guardrails, each built with the gateway that serves the file (on its
   * `HttpClient`), which the `gateway` section, its keys, the models and the routers name (docs/guardrails.md).
   * Absent: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?:
    | Readonly<Record<string, Effect.Effect<Guardrail.Guardrail, OptionsError, HttpClient.HttpClient>>>
    | undefined
}

/**
 * Decodes a configuration from a parsed JSON value. `source` names it in errors.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ProviderConfig } from "effect-llm-router"
 *
 * const config = ProviderConfig.fromJson({
 *   openai: [{ model_name: "gpt-4o-mini", api_keys: ["env:OPENAI_API_KEY"] }],
 *   local: [{ model_name: "llama3.2", api: "ollama" }]
 * }, "settings")
 *
 * // A bad value fails with every bad path listed:
 * const bad = Effect.flip(
 *   ProviderConfig.fromJson({ openai: [{ model_name: "gpt-4o", rate_limit_capacity: 0 }] }, "settings")
 * )
 * // message: "settings has a problem:\n  openai[0].rate_limit_capacity: expected a positive number"
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromJson: (json: unknown, source?: string) => Effect.Effect<ProviderConfig, ProviderConfigError> =
  internalRead.fromJson

/**
 * Reads and decodes a `provider.json` file.
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import { Effect } from "effect"
 * import { ProviderConfig } from "effect-llm-router"
 *
 * const providers = ProviderConfig.load("provider.json").pipe(
 *   Effect.map((config) => Object.keys(config.providers)), // ["openai", "anthropic", ...]
 *   Effect.provide(NodeFileSystem.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const load: (path: string) => Effect.Effect<ProviderConfig, ProviderConfigError, FileSystem.FileSystem> =
  internalRead.load

/**
 * The settings of one model, or a `ProviderConfigError` naming what exists.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ProviderConfig } from "effect-llm-router"
 *
 * declare const config: ProviderConfig.ProviderConfig
 *
 * const capacity = Effect.map(
 *   ProviderConfig.model(config, "openai", "gpt-4o-mini"),
 *   (settings) => settings.entry.rate_limit_capacity ?? "unlimited"
 * )
 * // A model not in the file: "openai.gpt-5: no such model; known: gpt-4o-mini"
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const model: (
  config: ProviderConfig,
  provider: string,
  modelName: string
) => Effect.Effect<ModelConfig, ProviderConfigError> = internalLookup.model

/**
 * The model a deployment name names, as the `router` section's `deployments` do: `provider/model_name`, or a
 * `model_name` only one provider has; else a `ProviderConfigError` saying why (no such model, or several).
 *
 * @example
 * ```ts
 * import { ProviderConfig } from "effect-llm-router"
 *
 * declare const config: ProviderConfig.ProviderConfig
 *
 * const mini = ProviderConfig.named(config, "gpt-4o-mini") // as "openai/gpt-4o-mini", if only openai has it
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const named: (config: ProviderConfig, name: string) => Effect.Effect<ModelConfig, ProviderConfigError> =
  internalLookup.named

/**
 * The price of a configured model: its `pricing` entry, else the built-in price of its `model_name`
 * (`Pricing.lookup`), else `undefined`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ProviderConfig } from "effect-llm-router"
 *
 * declare const config: ProviderConfig.ProviderConfig
 *
 * // gpt-4o-mini without `pricing`: the built-in { input: 0.15, cachedInput: 0.075, output: 0.6 }
 * const price = Effect.map(ProviderConfig.model(config, "openai", "gpt-4o-mini"), ProviderConfig.priceOf)
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const priceOf: (settings: ModelConfig) => Pricing.Price | undefined = internalLookup.priceOf

/**
 * The `ProviderClient` a model entry's `api` (and `preset`) selects; `provider` names it in responses and errors.
 *
 * @example
 * ```ts
 * import { ProviderConfig } from "effect-llm-router"
 *
 * // DeepSeek through its preset: OpenAiChat with DeepSeek's base URL and quirks.
 * const DeepSeekClient = ProviderConfig.clientLayer("deepseek", { model_name: "deepseek-chat", preset: "deepseek" })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const clientLayer: (
  provider: string,
  entry: ModelEntry
) => Layer.Layer<ProviderClient, OptionsError, HttpClient.HttpClient> = internalLayers.clientLayer

/**
 * The `Llm` of one model of a configuration. Models of one provider and endpoint share
 * their key pool when built from the same `layers` call; this builds a pool of its own.
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import { Effect, Layer } from "effect"
 * import { Llm, Message, ProviderConfig, UndiciHttpClient } from "effect-llm-router"
 *
 * const Claude = Layer.unwrap(
 *   Effect.map(ProviderConfig.load("provider.json"), (config) =>
 *     ProviderConfig.layer(config, "anthropic", "claude-sonnet-4-5"))
 * ).pipe(Layer.provide([NodeFileSystem.layer, UndiciHttpClient.layer()]))
 *
 * const reply = Llm.chat({ messages: [Message.user("Hi")] }).pipe(Effect.provide(Claude))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer: (
  config: ProviderConfig,
  provider: string,
  modelName: string
) => Layer.Layer<Llm.Llm, ProviderConfigError | OptionsError, HttpClient.HttpClient> = internalLayers.layer

/**
 * Every model's `Llm` layer, addressable as `models.openai["gpt-4o"]`. The models of a provider on one endpoint (`api`
 * and `base_url`) share its keys' load and cooldowns; a key is never sent to another endpoint.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message, ProviderConfig } from "effect-llm-router"
 *
 * declare const config: ProviderConfig.ProviderConfig
 *
 * // Both models of "openai" draw on the same keys.
 * const answers = Effect.flatMap(ProviderConfig.layers(config), (models) =>
 *   Effect.all([models["openai"]!["gpt-4o"]!, models["openai"]!["gpt-4o-mini"]!].map((model) =>
 *     Effect.provide(Llm.chat({ messages: [Message.user("Hi")] }), model))))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layers: (
  config: ProviderConfig
) => Effect.Effect<
  Readonly<Record<string, Readonly<Record<string, Layer.Layer<Llm.Llm, OptionsError, HttpClient.HttpClient>>>>>
> = internalLayers.layers

/**
 * A model of a configuration with its `Llm` layer, as `deployments` lists them.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Deployment {
  readonly settings: ModelConfig
  /** The model's `Llm`, with the `KeyPool` and `RateLimiter` it is built on (for status). */
  readonly layer: Layer.Layer<Llm.Llm | KeyPool.KeyPool | RateLimiter.RateLimiter, OptionsError, HttpClient.HttpClient>
}

/**
 * Every model of a configuration, in file order, with layers sharing one key-pool registry. With a `store` section,
 * each layer connects to it when built; given a connected `store` (`Store.make`), every layer uses that one instead.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ProviderConfig } from "effect-llm-router"
 *
 * declare const config: ProviderConfig.ProviderConfig
 *
 * // ["openai/gpt-4o-mini", "local/llama3.2"] for a file with those two models
 * const names = Effect.map(ProviderConfig.deployments(config), (deployments) =>
 *   deployments.map(({ settings }) => `${settings.provider}/${settings.entry.model_name}`))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const deployments: (
  config: ProviderConfig,
  options?: { readonly store?: Store.Store | undefined }
) => Effect.Effect<ReadonlyArray<Deployment>> = internalLayers.deployments

/**
 * Router options over every model of a configuration (`deployments`), named `provider/model_name`, with its `weight`,
 * `groups`, `context_window` and price; with a `store` section, each deployment's limits are kept there (its layer
 * connects when built). The router's breakers and pins are where the provided stores are (`Router.layerStoreRedis`);
 * `routerLayer` provides them in the file's store. Filter `deployments` for a router over some of them.
 *
 * @since 0.3.0
 * @category Constructors
 */
export const routerOptions: (
  config: ProviderConfig,
  options?: Omit<Router.Options, "deployments">
) => Effect.Effect<Router.Options<Router.Deployment<OptionsError, HttpClient.HttpClient>>> =
  internalRouterOptions.routerOptions

/**
 * A router over every model of a configuration (see `routerOptions`), on one connection to its store: the
 * deployments' limits and the router's breakers and pins (`Router.layerStoreRedis`) are all kept there.
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import { Effect, Layer } from "effect"
 * import { ProviderConfig } from "effect-llm-router"
 *
 * const router = Layer.unwrap(Effect.map(ProviderConfig.load("provider.json"), (config) =>
 *   ProviderConfig.routerLayer(config, { strategy: "lowest-latency" }))).pipe(Layer.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const routerLayer: (
  config: ProviderConfig,
  options?: Omit<Router.Options, "deployments">
) => Layer.Layer<Llm.Llm | Router.Router, OptionsError, HttpClient.HttpClient> = internalRouterOptions.routerLayer

/**
 * Router options for the router `name` of the `router` section (`RouterEntry`), its deployments in its order; a name
 * not there fails with `ProviderConfigError` listing the routers there are.

 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { ProviderConfig, Router } from "effect-llm-router"
 *
 * // "router": { "main": { "deployments": ["gpt-4o-mini", "local/llama3.2"] } }: those two, in that order
 * declare const config: ProviderConfig.ProviderConfig
 *
 * const main = Layer.unwrap(Effect.map(ProviderConfig.namedRouterOptions(config, "main"), Router.layer)).pipe(
 *   Layer.provide(Router.layerStoreMemory)
 * )
 * ```
 *
 * @since 0.3.0
 * @category Constructors
 */
export const namedRouterOptions: (
  config: ProviderConfig,
  name: string
) => Effect.Effect<Router.Options<Router.Deployment<OptionsError, HttpClient.HttpClient>>, ProviderConfigError> =
  internalRouterOptions.namedRouterOptions

/**
 * What a gateway serves from a configuration (`Gateway.make`'s `config`): every model, the named routers, the
 * `store` section and the `gateway` section's keys.
 *
 * @since 0.3.0
 * @category Constructors
 */
export const gatewayConfig: (config: ProviderConfig) => Gateway.Config = internalRouterOptions.gatewayConfig
