/**
 * `effect-llm-router chat`: one prompt to one model, the reply streamed to stdout.
 *
 * The model comes from, in order: `--config FILE` (a provider.json, or its
 * router `--router NAME`); `--api`
 * (the adapter) and/or `--preset` (an OpenAI-compatible provider) with
 * `--base-url` and a key (`--key`, else the conventional variable:
 * `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, or the preset's);
 * or else a simulator started in-process, speaking the chosen `--api`, so the
 * command works with nothing set up. `--fallback MODEL` and `--timeout SECONDS`
 * route one model's call through a router (`route.ts`).
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as UndiciHttpClient from "../UndiciHttpClient.js"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../ChatChunk.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import type { ChatResponse } from "../ChatResponse.js"
import * as KeyPool from "../KeyPool.js"
import * as Llm from "../Llm.js"
import type { LlmError } from "../LlmError.js"
import * as Message from "../Message.js"
import type { OptionsError } from "../OptionsError.js"
import * as ProviderConfig from "../ProviderConfig.js"
import * as Presets from "../providers/Presets.js"
import type { ProviderClient } from "../ProviderClient.js"
import * as RateLimiter from "../RateLimiter.js"
import * as RetryPolicy from "../RetryPolicy.js"
import type * as Simulator from "../simulator/Simulator.js"
import { ExitCode, exitCodeOf, type Io } from "./io.js"
import * as Route from "./route.js"
import { chatUsage, numberFlag, parseFlags, programName, UsageError } from "./usage.js"

/**
 * The OpenAI API root used when a key is given without `--base-url`.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultBaseUrl = "https://api.openai.com/v1"

/**
 * The model used when neither `--model` nor a provider.json names one.
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultModel = "gpt-4o-mini"

/**
 * The built-in simulator's pace: about 60 tokens at 40 tokens a second, so a
 * person watching `npm start` sees the reply stream in.
 *
 * @since 0.1.0
 * @category Constants
 */
export const builtInSimulator: Simulator.Options = {
  port: 0,
  replyTokens: 60,
  tokensPerSecond: 40,
  timeToFirstToken: "300 millis"
}

/**
 * Options of `run` beyond the command line.
 *
 * @since 0.1.0
 * @category Models
 */
export interface RunOptions {
  /** Overrides the built-in simulator's options (tests make it fast). Default: `builtInSimulator`. */
  readonly simulator?: Simulator.Options | undefined
}

/**
 * The values of `--api`.
 *
 * @since 0.1.0
 * @category Constants
 */
export const apis: ReadonlyArray<ProviderConfig.Api> = ["chat-completions", "responses", "anthropic", "gemini", "ollama"]

/**
 * The environment variable a key is read from when `--key` is not given:
 * the preset's, else the API's.
 *
 * @since 0.1.0
 * @category Constants
 */
export const keyVariable = (api: ProviderConfig.Api, preset: Presets.Name | undefined): string | undefined =>
  preset !== undefined
    ? Presets.presets[preset].keyVariable
    : api === "anthropic"
    ? "ANTHROPIC_API_KEY"
    : api === "gemini"
    ? "GEMINI_API_KEY"
    : api === "ollama"
    ? "OLLAMA_API_KEY"
    : "OPENAI_API_KEY"

const isApi = (text: string): text is ProviderConfig.Api => (apis as ReadonlyArray<string>).includes(text)

const flags = {
  config: { type: "string" },
  router: { type: "string" },
  fallback: { type: "string" },
  timeout: { type: "string" },
  api: { type: "string" },
  preset: { type: "string" },
  provider: { type: "string" },
  model: { type: "string" },
  "base-url": { type: "string" },
  key: { type: "string" },
  "max-retries": { type: "string" },
  system: { type: "string" },
  temperature: { type: "string" },
  "max-tokens": { type: "string" },
  "no-stream": { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" }
} as const

type Source =
  | { readonly _tag: "Config"; readonly file: string; readonly provider: string | undefined; readonly model: string | undefined }
  | {
    readonly _tag: "Direct"
    readonly api: ProviderConfig.Api
    readonly preset: Presets.Name | undefined
    readonly baseUrl: string | undefined
    readonly key: Redacted.Redacted<string> | undefined
    readonly provider: string | undefined
    readonly model: string | undefined
    readonly maxRetries: number | undefined
  }

interface Args {
  readonly prompt: string | undefined
  readonly source: Source
  readonly routing: Route.Routing
  readonly system: string | undefined
  readonly temperature: number | undefined
  readonly maxTokens: number | undefined
  readonly stream: boolean
  readonly json: boolean
}

const parse = (argv: ReadonlyArray<string>): Args | "help" | UsageError => {
  const parsed = parseFlags(argv, flags)
  if (parsed instanceof UsageError) return parsed
  const { values, positionals } = parsed
  if (values.help === true) return "help"
  // Read into Redacted at once, so no later code can print it by accident.
  const key = values.key === undefined ? undefined : Redacted.make(values.key)
  const temperature = numberFlag("temperature", values.temperature, { min: 0, max: 2, expected: "a number from 0 to 2" })
  if (temperature instanceof UsageError) return temperature
  const maxTokens = numberFlag("max-tokens", values["max-tokens"], { integer: true, min: 1, expected: "a positive integer" })
  if (maxTokens instanceof UsageError) return maxTokens
  const maxRetries = numberFlag("max-retries", values["max-retries"], { integer: true, min: 0, expected: "an integer, 0 or more" })
  if (maxRetries instanceof UsageError) return maxRetries
  const routing = Route.parse(values)
  if (routing instanceof UsageError) return routing
  if (values["base-url"] !== undefined && !URL.canParse(values["base-url"])) {
    return new UsageError({ reason: `--base-url needs an absolute URL such as ${defaultBaseUrl}, got "${values["base-url"]}"` })
  }
  const api = values.api ?? "chat-completions"
  if (!isApi(api)) return new UsageError({ reason: `--api needs one of ${apis.join(", ")}, got "${api}"` })
  const preset = values.preset
  if (preset !== undefined && !Presets.isName(preset)) {
    return new UsageError({ reason: `--preset needs one of ${Presets.names.join(", ")}, got "${preset}"` })
  }
  if (preset !== undefined && api !== "chat-completions") {
    return new UsageError({ reason: `--preset is for --api chat-completions, not ${api}` })
  }
  let source: Source
  if (values.config !== undefined) {
    const mixed = (["api", "preset", "base-url", "key", "max-retries"] as const).filter((name) => values[name] !== undefined)
    if (mixed.length > 0) {
      return new UsageError({
        reason: `--config cannot be combined with ${mixed.map((name) => `--${name}`).join(", ")} (set them in the file)`
      })
    }
    source = { _tag: "Config", file: values.config, provider: values.provider, model: values.model }
  } else {
    source = {
      _tag: "Direct",
      api,
      preset,
      baseUrl: values["base-url"],
      key,
      provider: values.provider,
      model: values.model,
      maxRetries
    }
  }
  const prompt = positionals.length === 0 ? undefined : positionals.join(" ")
  return {
    prompt,
    source,
    routing,
    system: values.system,
    temperature,
    maxTokens,
    stream: values["no-stream"] !== true,
    json: values.json === true
  }
}

/** The one provider (or model) of a file, or a usage error naming the choices. */
const pickOne = (what: "provider" | "model", names: ReadonlyArray<string>, file: string): string | UsageError =>
  names.length === 1
    ? names[0]!
    : new UsageError({
      reason: names.length === 0
        ? `${file} has no ${what}s`
        : `${file} has ${names.length} ${what}s; choose one with --${what}: ${names.join(", ")}`
    })

interface Resolved {
  readonly layer: Layer.Layer<Llm.Llm, ProviderConfig.ProviderConfigError | OptionsError>
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

const fromConfig = (source: Extract<Source, { _tag: "Config" }>, routing: Route.Routing) =>
  Effect.gen(function*() {
    const config = yield* ProviderConfig.load(source.file).pipe(Effect.provide(NodeFileSystem.layer))
    const secrets = Object.values(config.providers).flatMap((models) =>
      Object.values(models).flatMap((model) =>
        model.keys.map((key) => typeof key.key === "string" ? Redacted.make(key.key) : key.key)
      )
    )
    if (routing.router !== undefined) return { layer: Route.named(config, routing.router, routing.timeout), secrets }
    const provider = source.provider ?? (yield* orUsage(pickOne("provider", Object.keys(config.providers), source.file)))
    const models = config.providers[provider]
    const model = source.model ??
      (models === undefined ? "" : yield* orUsage(pickOne("model", Object.keys(models), `${source.file} (${provider})`)))
    // A provider or model not in the file fails with a ProviderConfigError naming the known ones.
    return { layer: yield* Route.fromConfig(config, source.file, { provider, model }, routing), secrets }
  })

const orUsage = <A>(value: A | UsageError): Effect.Effect<A, UsageError> =>
  value instanceof UsageError ? Effect.fail(value) : Effect.succeed(value)

/**
 * The `Llm` of one API with one key. A rejected key is not
 * retried: with no other key to rotate to, the retry would only turn the
 * `AuthError` into a `NoCapacityError` from the pool that just disabled it.
 * With `--fallback` (another model of the same API) or `--timeout`, a router
 * over it (`Route.oneOff`).
 */
const directLayer = (options: {
  readonly client: (model: string) => Layer.Layer<ProviderClient, OptionsError, HttpClient.HttpClient>
  readonly key: Redacted.Redacted<string>
  readonly provider: string
  readonly model: string
  readonly maxRetries: number | undefined
  readonly routing: Route.Routing
}) => {
  const deployment = (model: string) => ({
    name: `${options.provider}/${model}`,
    model,
    provider: options.provider,
    llm: Llm.layer({
      model,
      retry: RetryPolicy.make(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }).pipe(
        Schedule.while(({ input }: Schedule.InputMetadata<LlmError>) => input._tag !== "AuthError")
      )
    }).pipe(
      Layer.provide(
        Layer.mergeAll(
          options.client(model),
          KeyPool.layer({ providerId: options.provider, keys: [options.key] }).pipe(Layer.provide(KeyPool.KeyPoolRegistry.layer)),
          RateLimiter.unlimited
        )
      )
    )
  })
  const { fallback, timeout } = options.routing
  return Route.oneOff(deployment(options.model), fallback === undefined ? undefined : deployment(fallback), timeout)
}

const resolve = (args: Args, io: Io, options: RunOptions) =>
  Effect.gen(function*() {
    const source = args.source
    if (source._tag === "Config") {
      const { layer, secrets } = yield* fromConfig(source, args.routing)
      return { layer: Layer.provide(layer, UndiciHttpClient.layer()), secrets } satisfies Resolved
    }
    const { api, preset } = source
    const variable = keyVariable(api, preset)
    const fromEnv = variable === undefined ? undefined : Option.getOrUndefined(
      yield* Config.option(Config.Redacted(variable)).pipe(
        // An empty variable is an unset one, not a key.
        Effect.map(Option.filter((value) => Redacted.value(value) !== ""))
      )
    )
    // A local Ollama (native or /v1) or vLLM checks no key: `none` sends none.
    const keyless = api === "ollama" || (preset !== undefined && !Presets.presets[preset].needsKey)
    const given = source.key ?? fromEnv
    const key = given ?? (keyless ? Redacted.make("none") : undefined)
    const openAiStyle = api === "chat-completions" || api === "responses"
    const chosen = preset !== undefined ? ` with --preset ${preset}` : openAiStyle ? "" : ` with --api ${api}`
    if (preset !== undefined && Presets.presets[preset].baseUrl === undefined && source.baseUrl === undefined) {
      return yield* new UsageError({ reason: `--preset ${preset} needs --base-url (the server's root, /v1 included)` })
    }
    if (key !== undefined || source.baseUrl !== undefined || preset !== undefined) {
      if (key === undefined) {
        return yield* new UsageError({
          reason: `${source.baseUrl !== undefined ? "--base-url" : `--preset ${preset}`} needs a key: --key KEY or ${variable}` +
            " (a local server that checks none accepts any value)"
        })
      }
      if (source.model === undefined && (preset !== undefined || !openAiStyle)) {
        return yield* new UsageError({ reason: `--model is needed${chosen}` })
      }
      const model = source.model ?? defaultModel
      const provider = source.provider ?? preset ?? (openAiStyle ? "openai" : api)
      const layer = directLayer({
        client: (model) =>
          ProviderConfig.clientLayer(provider, {
            model_name: model,
            api,
            ...(preset !== undefined ? { preset } : {}),
            ...(source.baseUrl !== undefined ? { base_url: source.baseUrl } : {})
          }),
        key,
        provider,
        model,
        maxRetries: source.maxRetries,
        routing: args.routing
      })
      // The stand-in `none` is no secret: scrubbing it would mangle messages that say "none".
      const secrets = given === undefined ? [] : [given]
      return { layer: Layer.provide(layer, UndiciHttpClient.layer()), secrets } satisfies Resolved
    }
    const model = source.model ?? defaultModel
    // Loaded only here: the server side of effect/http is a good part of startup.
    const Simulator = yield* Effect.promise(() => import("../simulator/Simulator.js"))
    const simulatorOptions = options.simulator ?? builtInSimulator
    const models = simulatorOptions.models ?? Simulator.defaultModels
    const asked = args.routing.fallback === undefined ? [model] : [model, args.routing.fallback]
    const simulator = yield* Simulator.make({
      ...simulatorOptions,
      models: [...models, ...asked.filter((name) => !models.includes(name))]
    })
    io.stderr(
      `${programName}: no provider configured; using the built-in simulator at ${simulator.url} ` +
        `(set ${variable ?? "a key"} or pass --config FILE for a real provider)\n`
    )
    const provider = source.provider ?? "simulator"
    const layer = directLayer({
      // The simulator serves every API on one port: the OpenAI-style ones under /v1.
      client: (model) =>
        ProviderConfig.clientLayer(provider, {
          model_name: model,
          api,
          base_url: openAiStyle ? `${simulator.url}/v1` : simulator.url
        }),
      key: Redacted.make("sk-simulator"),
      provider,
      model,
      maxRetries: source.maxRetries,
      routing: args.routing
    })
    return { layer: Layer.provide(layer, UndiciHttpClient.layer()), secrets: [] } satisfies Resolved
  })

const readPrompt = (args: Args, io: Io) =>
  Effect.gen(function*() {
    if (args.prompt !== undefined && args.prompt.trim() !== "") return args.prompt
    if (args.prompt === undefined && io.readStdin !== undefined) {
      const read = io.readStdin
      const text = yield* Effect.promise(() => read())
      if (text.trim() !== "") return text.replace(/\r?\n$/, "")
    }
    return yield* new UsageError({ reason: "no prompt: pass PROMPT, or pipe it into stdin" })
  })

/**
 * The reply as `--json` prints it. `keyId` is left out: even masked, a key has
 * no business in output that gets pasted into issues.
 *
 * @since 0.1.0
 * @category Output
 */
export const toJson = (response: ChatResponse) => ({
  text: response.text,
  ...(response.reasoning !== undefined ? { reasoning: response.reasoning } : {}),
  ...(response.refusal !== undefined ? { refusal: response.refusal } : {}),
  toolCalls: response.toolCalls.map((call) => ({ id: call.id, name: call.name, arguments: call.arguments })),
  finishReason: response.finishReason,
  usage: {
    promptTokens: response.usage.promptTokens,
    completionTokens: response.usage.completionTokens,
    totalTokens: response.usage.totalTokens,
    cachedPromptTokens: response.usage.cachedPromptTokens,
    reasoningTokens: response.usage.reasoningTokens,
    estimated: response.usage.estimated
  },
  ...(response.cost !== undefined ? { cost: response.cost } : {}),
  model: response.model,
  provider: response.provider,
  id: response.id,
  latencyMs: Math.round(Duration.toMillis(response.latency))
})

const request = (args: Args, prompt: string): ChatRequest => ({
  // Through a router, --model addresses a deployment, group or model of it.
  ...(args.routing.router !== undefined && args.source.model !== undefined ? { model: args.source.model } : {}),
  messages: args.system === undefined ? [Message.user(prompt)] : [Message.system(args.system), Message.user(prompt)],
  ...(args.temperature !== undefined ? { temperature: args.temperature } : {}),
  ...(args.maxTokens !== undefined ? { maxTokens: args.maxTokens } : {})
})

/**
 * Prints a reply's text as it streams in, on a line of its own. A `Restart`
 * chunk (a router restarted the request elsewhere) ends the broken attempt's
 * partial line and says so on stderr, so the reply that follows is the whole
 * one, on a line of its own; `--json` prints the last attempt only.
 *
 * @since 0.1.0
 * @category Commands
 */
export const printStream = <R>(stream: Stream.Stream<ChatChunk.ChatChunk, LlmError, R>, io: Io): Effect.Effect<void, LlmError, R> => {
  let open = false
  return stream.pipe(
    Stream.runForEach((chunk) =>
      Effect.sync(() => {
        if (chunk._tag === "TextDelta" && chunk.text !== "") {
          open = true
          io.stdout(chunk.text)
        } else if (chunk._tag === "Restart") {
          if (open) io.stdout("\n")
          open = false
          io.stderr(`${programName}: the reply broke off (${chunk.error}); it starts again from ${chunk.deployment}\n`)
        }
      })
    ),
    // The newline also ends a partial reply, so the error after it starts a line of its own.
    Effect.ensuring(Effect.sync(() => open && io.stdout("\n")))
  )
}

const converse = (args: Args, prompt: string, io: Io): Effect.Effect<void, LlmError, Llm.Llm> => {
  const req = request(args, prompt)
  if (args.json) {
    const response = args.stream ? ChatChunk.collect(Llm.chatStream(req)) : Llm.chat(req)
    return Effect.map(response, (reply) => io.stdout(`${JSON.stringify(toJson(reply))}\n`))
  }
  if (!args.stream) return Effect.map(Llm.chat(req), (reply) => io.stdout(`${reply.text}\n`))
  return printStream(Llm.chatStream(req), io)
}

/**
 * Runs `chat` with its arguments (those after the word `chat`) and gives the
 * exit code: 0 done, 1 the call or the configuration failed (the first stderr
 * line is `<ErrorTag>: <message>`), 2 bad flags (a reason, then the usage).
 * Interrupting it aborts the request.
 *
 * @since 0.1.0
 * @category Commands
 */
export const run = (argv: ReadonlyArray<string>, io: Io, options: RunOptions = {}): Effect.Effect<number> => {
  let secrets: ReadonlyArray<Redacted.Redacted<string>> = []
  const args = parse(argv)
  const program = Effect.gen(function*() {
    if (args instanceof UsageError) return yield* args
    if (args === "help") {
      io.stdout(chatUsage)
      return ExitCode.ok
    }
    if (args.source._tag === "Direct" && args.source.key !== undefined) secrets = [args.source.key]
    const prompt = yield* readPrompt(args, io)
    const resolved = yield* resolve(args, io, options)
    secrets = [...secrets, ...resolved.secrets]
    yield* Effect.provide(converse(args, prompt, io), resolved.layer)
    return ExitCode.ok
  })
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(io.env)) if (value !== undefined) env[name] = value
  return program.pipe(
    Effect.scoped,
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })),
    exitCodeOf(io, chatUsage, () => secrets)
  )
}
