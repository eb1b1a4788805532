/**
 * `chat`'s command line: the flag table, and the arguments parsed from it (model source, routing, per-phase timeouts,
 * request, output mode), or the `UsageError` naming the flag in the wrong.
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as ProviderConfig from "../ProviderConfig.js"
import * as Presets from "../providers/Presets.js"
import * as Route from "./route.js"
import { failUsage, numberFlag, parseFlags, positiveIntegerFlag, secondsFlag, type UsageError } from "./usage.js"

/**
 * The OpenAI API root used when a key is given without `--base-url`.
 */
export const defaultBaseUrl = "https://api.openai.com/v1"

/**
 * The values of `--api`.
 */
export const apis: ReadonlyArray<ProviderConfig.Api> = [
  "chat-completions",
  "responses",
  "anthropic",
  "gemini",
  "ollama"
]

const isApi = (text: string): text is ProviderConfig.Api => (apis as ReadonlyArray<string>).includes(text)

/**
 * The flags that choose the model (and its routing and timeouts), shared by every command that calls one.
 */
export const sourceFlags = {
  config: { type: "string" },
  router: { type: "string" },
  fallback: { type: "string" },
  timeout: { type: "string" },
  "headers-timeout": { type: "string" },
  "first-token-timeout": { type: "string" },
  "idle-timeout": { type: "string" },
  api: { type: "string" },
  preset: { type: "string" },
  provider: { type: "string" },
  model: { type: "string" },
  "base-url": { type: "string" },
  key: { type: "string" },
  "max-retries": { type: "string" }
} as const

const flags = {
  ...sourceFlags,
  system: { type: "string" },
  temperature: { type: "string" },
  "max-tokens": { type: "string" },
  "no-stream": { type: "boolean" },
  json: { type: "boolean" }
} as const

/**
 * Where the model comes from: a provider.json, or one API on the command line (no base URL, preset or key: the
 * built-in simulator).
 */
export type Source =
  | {
    readonly _tag: "Config"
    readonly file: string
    readonly provider: string | undefined
    readonly model: string | undefined
  }
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

/**
 * The per-phase timeouts from the command line, as provider.json fields (seconds): they override every deployment's.
 */
export type Timeouts = Pick<ProviderConfig.ModelEntry, "headers_timeout" | "first_token_timeout" | "idle_timeout">

/**
 * Where the model comes from, with its routing and timeouts: what `chatSource.resolve` reads.
 */
export interface SourceArgs {
  readonly source: Source
  readonly routing: Route.Routing
  readonly timeouts: Timeouts
}

/**
 * One `chat`'s arguments.
 */
export interface Args extends SourceArgs {
  readonly prompt: string | undefined
  readonly system: string | undefined
  readonly temperature: number | undefined
  readonly maxTokens: number | undefined
  readonly stream: boolean
  readonly json: boolean
}

const timeoutFlags = ["headers-timeout", "first-token-timeout", "idle-timeout"] as const

// Each timeout flag given as its provider.json field (`--idle-timeout` as `idle_timeout`).
const parseTimeouts = (values: SourceValues): Result.Result<Timeouts, UsageError> =>
  Result.map(
    Result.all(timeoutFlags.map((flag) => secondsFlag(flag, values[flag]))),
    (seconds) =>
      Object.fromEntries(
        timeoutFlags.flatMap((flag, i) => seconds[i] === undefined ? [] : [[flag.replaceAll("-", "_"), seconds[i]]])
      )
  )

/**
 * The values of `sourceFlags` as `parseFlags` gives them.
 */
export type SourceValues = { readonly [K in keyof typeof sourceFlags]?: string | undefined }

/**
 * Where the model comes from, its routing and timeouts, from `sourceFlags`' values.
 */
export const parseSource = (values: SourceValues): Result.Result<SourceArgs, UsageError> =>
  Result.gen(function*() {
    // Read into Redacted at once, so no later code can print it by accident.
    const key = values.key === undefined ? undefined : Redacted.make(values.key)
    const maxRetries = yield* numberFlag("max-retries", values["max-retries"], {
      integer: true,
      min: 0,
      expected: "an integer, 0 or more"
    })
    const routing = yield* Route.parse(values)
    const timeouts = yield* parseTimeouts(values)
    if (values["base-url"] !== undefined && !URL.canParse(values["base-url"])) {
      return yield* failUsage(`--base-url needs an absolute URL such as ${defaultBaseUrl}, got "${values["base-url"]}"`)
    }
    const api = values.api ?? "chat-completions"
    if (!isApi(api)) {
      return yield* failUsage(`--api needs one of ${apis.join(", ")}, got "${api}"`)
    }
    const preset = values.preset
    if (preset !== undefined && !Presets.isName(preset)) {
      return yield* failUsage(`--preset needs one of ${Presets.names.join(", ")}, got "${preset}"`)
    }
    if (preset !== undefined && api !== "chat-completions") {
      return yield* failUsage(`--preset is for --api chat-completions, not ${api}`)
    }
    if (values.config !== undefined) {
      const mixed = (["api", "preset", "base-url", "key", "max-retries"] as const).filter((name) =>
        values[name] !== undefined
      )
      if (mixed.length > 0) {
        return yield* failUsage(
          `--config cannot be combined with ${mixed.map((name) => `--${name}`).join(", ")} (set them in the file)`
        )
      }
      return {
        source: { _tag: "Config", file: values.config, provider: values.provider, model: values.model },
        routing,
        timeouts
      }
    }
    const source: Source = {
      _tag: "Direct",
      api,
      preset,
      baseUrl: values["base-url"],
      key,
      provider: values.provider,
      model: values.model,
      maxRetries
    }
    return { source, routing, timeouts }
  })

/**
 * Parses `chat`'s arguments (those after the word `chat`).
 */
export const parse = (argv: ReadonlyArray<string>): Result.Result<Args | "help", UsageError> =>
  Result.gen(function*() {
    const { positionals, values } = yield* parseFlags(argv, flags)
    if (values.help === true) return "help" as const
    const temperature = yield* numberFlag("temperature", values.temperature, {
      min: 0,
      max: 2,
      expected: "a number from 0 to 2"
    })
    const maxTokens = yield* positiveIntegerFlag("max-tokens", values["max-tokens"])
    const source = yield* parseSource(values)
    const prompt = positionals.length === 0 ? undefined : positionals.join(" ")
    return {
      prompt,
      ...source,
      system: values.system,
      temperature,
      maxTokens,
      stream: values["no-stream"] !== true,
      json: values.json === true
    }
  })
