/**
 * Where `chat`'s model comes from, as the `Llm` layer the call runs on: a provider.json (one model, or a router of it),
 * one API given on the command line, or else an in-process simulator speaking the chosen `--api`, so the command
 * works with nothing set up. The per-phase timeout flags override every deployment's own.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { definedFields } from "../internal/json.js"
import { llmOptions, modelParts } from "../internal/providerConfig/layers.js"
import { providerKeys } from "../internal/providerConfig/routerOptions.js"
import * as KeyPool from "../KeyPool.js"
import * as Llm from "../Llm.js"
import type { LlmError } from "../LlmError.js"
import type { OptionsError } from "../OptionsError.js"
import type { ProviderClient } from "../ProviderClient.js"
import * as ProviderConfig from "../ProviderConfig.js"
import * as Presets from "../providers/Presets.js"
import * as RateLimiter from "../RateLimiter.js"
import * as RetryPolicy from "../RetryPolicy.js"
import type * as Simulator from "../simulator/Simulator.js"
import * as UndiciHttpClient from "../UndiciHttpClient.js"
import type { Source, SourceArgs as Args, Timeouts } from "./chatArgs.js"
import type { Io } from "./io.js"
import * as Route from "./route.js"
import { programName, UsageError } from "./usage.js"

/**
 * The model used when neither `--model` nor a provider.json names one.
 */
export const defaultModel = "gpt-4o-mini"

/**
 * The built-in simulator's pace: slow enough that a person watching `npm start` sees the reply stream in.
 */
export const builtInSimulator: Simulator.Options = {
  port: 0,
  replyTokens: 60,
  tokensPerSecond: 40,
  timeToFirstToken: "300 millis"
}

/**
 * Options of `run` beyond the command line.
 */
export interface RunOptions {
  /** Overrides the built-in simulator's options (tests make it fast). Default: `builtInSimulator`. */
  readonly simulator?: Simulator.Options | undefined
}

/**
 * The environment variable a key is read from when `--key` is not given: the preset's, else the API's.
 */
export const keyVariable = (api: ProviderConfig.Api, preset: Presets.Name | undefined): string | undefined =>
  preset !== undefined
    ? Presets.presets[preset].keyVariable
    : { anthropic: "ANTHROPIC_API_KEY", gemini: "GEMINI_API_KEY", ollama: "OLLAMA_API_KEY" }[api as string] ??
      "OPENAI_API_KEY"

/**
 * The one deployment a command addresses, as `Batch` is built over it: its client, key pool and limiter, and the
 * options its `Llm` has (model, price, retries).
 */
export interface Deployment<E = ProviderConfig.ProviderConfigError | OptionsError, R = never> {
  readonly parts: Layer.Layer<ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter, E, R>
  readonly options: Llm.Options
}

/**
 * The call's `Llm`, the one deployment it addresses (none through a router, a fallback or a timeout, which choose
 * or bound each call), and the secrets it holds (every line printed is scrubbed of them).
 */
export interface Resolved {
  readonly layer: Layer.Layer<Llm.Llm, ProviderConfig.ProviderConfigError | OptionsError>
  readonly deployment: Deployment | undefined
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

/** The one provider (or model) of a file, or a usage error naming the choices. */
const pickOne = (
  what: "provider" | "model",
  names: ReadonlyArray<string>,
  file: string
): Effect.Effect<string, UsageError> =>
  names.length === 1
    ? Effect.succeed(names[0]!)
    : Effect.fail(
      new UsageError({
        reason: names.length === 0
          ? `${file} has no ${what}s`
          : `${file} has ${names.length} ${what}s; choose one with --${what}: ${names.join(", ")}`
      })
    )

/** The file with the command line's timeouts in place of every model's own. */
const withTimeouts = (config: ProviderConfig.ProviderConfig, timeouts: Timeouts): ProviderConfig.ProviderConfig =>
  Object.keys(timeouts).length === 0 ? config : {
    ...config,
    providers: Object.fromEntries(
      Object.entries(config.providers).map(([provider, models]) => [
        provider,
        Object.fromEntries(
          Object.entries(models).map(([name, model]) => [name, { ...model, entry: { ...model.entry, ...timeouts } }])
        )
      ])
    )
  }

/**
 * Every key of a configuration, for scrubbing what the command prints.
 */
export const secretsOf: (config: ProviderConfig.ProviderConfig) => ReadonlyArray<Redacted.Redacted<string>> =
  providerKeys

// The registry and memory lease store of the command's one model: its pool this process's alone, unless the file's
// `store` keeps it.
const modelKeys = Layer.mergeAll(KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory)

const fromConfig = (source: Extract<Source, { _tag: "Config" }>, args: Args) =>
  Effect.gen(function*() {
    const loaded = yield* ProviderConfig.load(source.file).pipe(Effect.provide(NodeFileSystem.layer))
    const config = withTimeouts(loaded, args.timeouts)
    const secrets = secretsOf(config)
    const { routing } = args
    if (routing.router !== undefined) {
      return { layer: Route.named(config, routing.router, routing.timeout), deployment: undefined, secrets }
    }
    const provider = source.provider ??
      (yield* pickOne("provider", Object.keys(config.providers), source.file))
    const models = config.providers[provider]
    const model = source.model ??
      (models === undefined
        ? ""
        : yield* pickOne("model", Object.keys(models), `${source.file} (${provider})`))
    // A provider or model not in the file fails with a ProviderConfigError naming the known ones.
    const layer = yield* Route.fromConfig(config, source.file, { provider, model }, routing)
    const settings = yield* ProviderConfig.model(config, provider, model)
    const deployment = Route.isRouted(routing) ? undefined : {
      parts: modelParts(settings, modelKeys, config.store),
      options: llmOptions(settings)
    }
    return { layer, deployment, secrets }
  })

/**
 * The `Llm` of one API with one key, and its deployment. A rejected key is not retried: with no other key to rotate
 * to, the retry would only turn the `AuthError` into a `NoCapacityError` from the pool that just disabled it.
 * With `--fallback` or `--timeout`, a router over it (`Route.oneOff`), and no one deployment.
 */
const direct = (options: {
  readonly client: (model: string) => Layer.Layer<ProviderClient, OptionsError, HttpClient.HttpClient>
  readonly key: Redacted.Redacted<string>
  readonly provider: string
  readonly model: string
  readonly maxRetries: number | undefined
  readonly routing: Route.Routing
}) => {
  const deployment = (model: string) => ({
    parts: Layer.mergeAll(
      options.client(model),
      // One call's key, this process's alone.
      KeyPool.layer({ providerId: options.provider, keys: [options.key] }).pipe(
        Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
      ),
      RateLimiter.unlimited
    ),
    options: {
      model,
      retry: RetryPolicy.make(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }).pipe(
        Schedule.while(({ input }: Schedule.InputMetadata<LlmError>) => input._tag !== "AuthError")
      )
    }
  })
  const routed = (model: string) => {
    const { options: llmOptions, parts } = deployment(model)
    return {
      name: `${options.provider}/${model}`,
      model,
      provider: options.provider,
      llm: Llm.layer(llmOptions).pipe(Layer.provide(parts))
    }
  }
  const { fallback, timeout } = options.routing
  return {
    layer: Route.oneOff(routed(options.model), fallback === undefined ? undefined : routed(fallback), timeout),
    deployment: Route.isRouted(options.routing) ? undefined : deployment(options.model)
  }
}

/** The `Llm` and the deployment as resolved, each over the HTTP client the command sends with. */
const overHttp = <E>(
  made: {
    readonly layer: Layer.Layer<Llm.Llm, E, HttpClient.HttpClient>
    readonly deployment: Deployment<E, HttpClient.HttpClient> | undefined
  },
  secrets: ReadonlyArray<Redacted.Redacted<string>>
) => {
  const http = UndiciHttpClient.layer()
  return {
    layer: Layer.provide(made.layer, http),
    deployment: made.deployment === undefined ? undefined : {
      parts: Layer.provide(made.deployment.parts, http),
      options: made.deployment.options
    },
    secrets
  }
}

/**
 * The call's `Llm`: from `--config`; from `--api`, `--preset`, `--base-url` and a key; or, with none of them, from a
 * simulator started here (closed with the scope), which says so on stderr.
 */
export const resolve = Effect.fnUntraced(function*(args: Args, io: Io, options: RunOptions) {
  const source = args.source
  if (source._tag === "Config") {
    const { secrets, ...made } = yield* fromConfig(source, args)
    return overHttp(made, secrets) satisfies Resolved
  }
  const { api, preset } = source
  const variable = keyVariable(api, preset)
  const fromEnv = variable === undefined ? undefined : Option.getOrUndefined(
    yield* Config.option(Config.Redacted(variable)).pipe(
      // An empty variable is an unset one, not a key.
      Effect.map(Option.filter((value) => Redacted.value(value) !== ""))
    )
  )
  const given = source.key ?? fromEnv
  const openAiStyle = api === "chat-completions" || api === "responses"
  const chosen = preset !== undefined ? ` with --preset ${preset}` : openAiStyle ? "" : ` with --api ${api}`
  if (preset !== undefined && Presets.presets[preset].baseUrl === undefined && source.baseUrl === undefined) {
    return yield* new UsageError({ reason: `--preset ${preset} needs --base-url (the server's root, /v1 included)` })
  }
  const model = source.model ?? defaultModel
  const directly = (provider: string, baseUrl: string | undefined, key: Redacted.Redacted<string>) =>
    direct({
      client: (model) =>
        ProviderConfig.clientLayer(provider, {
          model_name: model,
          api,
          ...definedFields({ preset, base_url: baseUrl }),
          ...args.timeouts
        }),
      key,
      provider,
      model,
      maxRetries: source.maxRetries,
      routing: args.routing
    })
  if (given !== undefined || source.baseUrl !== undefined || preset !== undefined) {
    // A local Ollama (native or /v1) or vLLM checks no key: `none` sends none.
    const keyless = api === "ollama" || (preset !== undefined && !Presets.presets[preset].needsKey)
    const key = given ?? (keyless ? Redacted.make("none") : undefined)
    if (key === undefined) {
      return yield* new UsageError({
        reason:
          `${
            source.baseUrl !== undefined ? "--base-url" : `--preset ${preset}`
          } needs a key: --key KEY or ${variable}` +
          " (a local server that checks none accepts any value)"
      })
    }
    if (source.model === undefined && (preset !== undefined || !openAiStyle)) {
      return yield* new UsageError({ reason: `--model is needed${chosen}` })
    }
    const provider = source.provider ?? preset ?? (openAiStyle ? "openai" : api)
    // The stand-in `none` is no secret: scrubbing it would mangle messages that say "none".
    return overHttp(directly(provider, source.baseUrl, key), given === undefined ? [] : [given]) satisfies Resolved
  }
  // Loaded only here: the server side of effect/http is a good part of startup.
  const Simulator = yield* Effect.promise(() => import("../simulator/Simulator.js"))
  const simulatorOptions = options.simulator ?? builtInSimulator
  const models = simulatorOptions.models ?? Simulator.defaultModels
  const asked = args.routing.fallback === undefined ? [model] : [model, args.routing.fallback]
  const simulator = yield* Simulator.make({
    ...simulatorOptions,
    models: [...models, ...asked.filter((name) => !models.includes(name))]
  })
  const real = api === "ollama" ? "pass --base-url for an Ollama server" : `set ${variable}`
  io.stderr(
    `${programName}: no provider configured; using the built-in simulator at ${simulator.url} ` +
      `(${real} or pass --config FILE for a real provider)\n`
  )
  const provider = source.provider ?? "simulator"
  // The simulator serves every API on one port: the OpenAI-style ones under /v1.
  const baseUrl = openAiStyle ? `${simulator.url}/v1` : simulator.url
  return overHttp(directly(provider, baseUrl, Redacted.make("sk-simulator")), []) satisfies Resolved
})
