/**
 * Presets for OpenAI-compatible providers (DeepSeek, OpenRouter, Groq, Together, vLLM, Ollama's `/v1`, Zhipu GLM,
 * DashScope): each fills `OpenAiChat`'s base URL, provider name and the options its quirks need, and any option given
 * overrides the preset's, `baseUrl` included. docs/adapters.md ("Presets") gives each one's base URL, key variable
 * and quirks.
 *
 * ```ts
 * const DeepSeek = Presets.layer("deepseek", { model: "deepseek-chat" })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { definedFields } from "../internal/json.js"
import * as Invalid from "../internal/optionsError.js"
import * as ZhipuJwt from "../internal/providers/presets/zhipuJwt.js"
import type { OptionsError } from "../OptionsError.js"
import { ProviderClient } from "../ProviderClient.js"
import * as OpenAiChat from "./OpenAiChat.js"

/**
 * The names of the presets.
 *
 * @since 0.1.0
 * @category Models
 */
export type Name = "deepseek" | "openrouter" | "groq" | "together" | "vllm" | "ollama" | "zhipu" | "dashscope"

/**
 * One preset.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Preset {
  readonly name: Name
  /** The provider's name in responses, errors and key pools. */
  readonly provider: string
  /** The API root, `/v1` (or the provider's equivalent) included; `undefined` when there is no usual one. */
  readonly baseUrl: string | undefined
  /** The environment variable its key is conventionally read from. */
  readonly keyVariable: string | undefined
  /** Whether a key is needed at all (a local Ollama checks none). */
  readonly needsKey: boolean
  /** The `OpenAiChat` options its quirks need; a function, so state such as a token cache is per client. */
  readonly options: () => Partial<OpenAiChat.Options>
}

// Most compatible servers document `max_tokens`; some reject or ignore `max_completion_tokens`. None documents
// `prompt_cache_key`: they cache by prefix alone. OpenAI's service tiers are OpenAI's: a server names its own or none.
const compatible = (): Partial<OpenAiChat.Options> => ({
  maxTokensField: "max_tokens",
  sendPromptCacheKey: false,
  sendServiceTier: false
})

/** A local Ollama wants no key: the conventional `none` (or an empty key) sends no `Authorization`. */
const optionalBearer = (key: Redacted.Redacted<string>): Readonly<Record<string, string>> => {
  const text = Redacted.value(key)
  return text === "" || text === "none" ? {} : { authorization: `Bearer ${text}` }
}

/**
 * Every preset by name.
 *
 * @example
 * ```ts
 * import { Presets } from "effect-llm-router"
 *
 * Presets.presets.groq.baseUrl // "https://api.groq.com/openai/v1"
 * Presets.presets.deepseek.keyVariable // "DEEPSEEK_API_KEY"
 * ```
 *
 * @since 0.1.0
 * @category Presets
 */
export const presets: { readonly [K in Name]: Preset & { readonly name: K } } = {
  deepseek: {
    name: "deepseek",
    provider: "deepseek",
    baseUrl: "https://api.deepseek.com/v1",
    keyVariable: "DEEPSEEK_API_KEY",
    needsKey: true,
    options: compatible
  },
  openrouter: {
    name: "openrouter",
    provider: "openrouter",
    baseUrl: "https://openrouter.ai/api/v1",
    keyVariable: "OPENROUTER_API_KEY",
    needsKey: true,
    options: compatible
  },
  groq: {
    name: "groq",
    provider: "groq",
    baseUrl: "https://api.groq.com/openai/v1",
    keyVariable: "GROQ_API_KEY",
    needsKey: true,
    options: compatible
  },
  together: {
    name: "together",
    provider: "together",
    baseUrl: "https://api.together.xyz/v1",
    keyVariable: "TOGETHER_API_KEY",
    needsKey: true,
    options: compatible
  },
  vllm: {
    name: "vllm",
    provider: "vllm",
    baseUrl: undefined,
    keyVariable: "VLLM_API_KEY",
    // A server started without --api-key checks none; `optionalBearer` then sends none for `none`.
    needsKey: false,
    // vLLM's OpenAI-compatible server docs: `continue_final_message` continues a last assistant message.
    options: () => ({ ...compatible(), auth: optionalBearer, prefill: "continue_final_message" })
  },
  ollama: {
    name: "ollama",
    provider: "ollama",
    baseUrl: "http://localhost:11434/v1",
    keyVariable: "OLLAMA_API_KEY",
    needsKey: false,
    options: () => ({ ...compatible(), auth: optionalBearer })
  },
  zhipu: {
    name: "zhipu",
    provider: "zhipu",
    baseUrl: "https://open.bigmodel.cn/api/paas/v4",
    keyVariable: "ZHIPUAI_API_KEY",
    needsKey: true,
    options: () => ({ ...compatible(), auth: ZhipuJwt.auth() })
  },
  dashscope: {
    name: "dashscope",
    provider: "dashscope",
    baseUrl: "https://dashscope.aliyuncs.com/compatible-mode/v1",
    keyVariable: "DASHSCOPE_API_KEY",
    needsKey: true,
    options: compatible
  }
}

/**
 * The preset names, in the table's order.
 *
 * @example
 * ```ts
 * import { Presets } from "effect-llm-router"
 *
 * // The presets that need no key (a local server).
 * const keyless = Presets.names.filter((name) => !Presets.presets[name].needsKey) // ["vllm", "ollama"]
 * ```
 *
 * @since 0.1.0
 * @category Presets
 */
export const names: ReadonlyArray<Name> = Object.keys(presets) as Array<Name>

/**
 * Whether `name` is a preset's name.
 *
 * @example
 * ```ts
 * import { Presets } from "effect-llm-router"
 *
 * const provider = process.env.LLM_PROVIDER ?? "deepseek"
 * const Client = Presets.isName(provider) ? Presets.layer(provider) : undefined
 * ```
 *
 * @since 0.1.0
 * @category Guards
 */
export const isName = (name: string): name is Name => Object.hasOwn(presets, name)

/**
 * `OpenAiChat.Options` with `baseUrl` optional: a preset supplies it.
 *
 * @since 0.1.0
 * @category Models
 */
export type Overrides = Omit<OpenAiChat.Options, "baseUrl"> & { readonly baseUrl?: string | undefined }

/**
 * The `OpenAiChat` options of a preset, `overrides` applied over them. Fails
 * with `OptionsError` when neither gives a base URL (`vllm`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { OpenAiChat, Presets } from "effect-llm-router"
 *
 * const groq = Effect.flatMap(Presets.options("groq", { model: "llama-3.1-8b-instant" }), OpenAiChat.make)
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const options = (name: Name, overrides: Overrides = {}): Effect.Effect<OpenAiChat.Options, OptionsError> =>
  Effect.suspend(() => {
    const preset: Preset = presets[name]
    const baseUrl = overrides.baseUrl ?? preset.baseUrl
    if (baseUrl === undefined) {
      return Effect.fail(
        Invalid.make(
          "Presets",
          "baseUrl",
          baseUrl,
          `given for the ${name} preset, which has no usual base URL (your server's root, /v1 included)`
        )
      )
    }
    return Effect.succeed({ provider: preset.provider, ...preset.options(), ...definedFields(overrides), baseUrl })
  })

/**
 * The `OpenAiChat` client of a preset, as a layer. Building it fails with
 * `OptionsError` when no base URL is known (`vllm` without `baseUrl`).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyPool, Llm, Presets, RateLimiter } from "effect-llm-router"
 *
 * const DeepSeek = Llm.layer({ model: "deepseek-chat" }).pipe(
 *   Layer.provide(Presets.layer("deepseek")),
 *   Layer.provide(KeyPool.layer({ providerId: "deepseek", keys: [process.env.DEEPSEEK_API_KEY!] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide(RateLimiter.layer({ capacity: 20, refillRate: 5 })),
 *   Layer.provide(RateLimiter.layerStoreMemory)
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  name: Name,
  overrides: Overrides = {}
): Layer.Layer<ProviderClient, OptionsError, HttpClient.HttpClient> =>
  Layer.effect(ProviderClient, Effect.flatMap(options(name, overrides), OpenAiChat.make))
