/**
 * What a caller asks of a model: the provider-neutral request every adapter translates to its wire format.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { JsonSchemaObject, jsonSchemaOf, Message, ToolDefinition } from "./Message.js"

/**
 * Plain text output (the default).
 *
 * @since 0.1.0
 * @category Models
 */
export class TextFormat extends Schema.Opaque<TextFormat>()(Schema.Struct({
  type: Schema.tag("text")
})) {}

/**
 * Any JSON object (OpenAI `json_object`; the prompt must also ask for JSON).
 *
 * @since 0.1.0
 * @category Models
 */
export class JsonObjectFormat extends Schema.Opaque<JsonObjectFormat>()(Schema.Struct({
  type: Schema.tag("json_object")
})) {}

/**
 * JSON that follows a schema. Build it from an Effect Schema with `jsonSchemaFormat`.
 *
 * @since 0.1.0
 * @category Models
 */
export class JsonSchemaFormat extends Schema.Opaque<JsonSchemaFormat>()(Schema.Struct({
  type: Schema.tag("json_schema"),
  name: Schema.String,
  description: Schema.optional(Schema.String),
  schema: JsonSchemaObject,
  /** Ask the provider to enforce the schema exactly. Default: on. */
  strict: Schema.optional(Schema.Boolean)
})) {}

/**
 * @since 0.1.0
 * @category Models
 */
export const ResponseFormat = Schema.Union([TextFormat, JsonObjectFormat, JsonSchemaFormat])

/**
 * @since 0.1.0
 * @category Models
 */
export type ResponseFormat = typeof ResponseFormat.Type

/**
 * A `json_schema` response format whose schema is made from an Effect Schema. The name is made fit for every provider
 * (OpenAI wants `^[a-zA-Z0-9_-]{1,64}$`; Anthropic sends the format as a tool of that name): other characters become
 * `_`, and it is cut at 64.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { ChatRequest, Llm, Message } from "effect-llm-router"
 *
 * const Verdict = Schema.Struct({ spam: Schema.Boolean, reason: Schema.String })
 *
 * const classify = Llm.chat({
 *   messages: [Message.user("Is this spam? 'You have won a prize!'")],
 *   responseFormat: ChatRequest.jsonSchemaFormat("verdict", Verdict, { strict: true })
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const jsonSchemaFormat = <A, I>(
  name: string,
  schema: Schema.Codec<A, I>,
  options?: { readonly description?: string; readonly strict?: boolean }
): JsonSchemaFormat => {
  const cleaned = name.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64)
  return { type: "json_schema", name: cleaned === "" ? "output" : cleaned, schema: jsonSchemaOf(schema), ...options }
}

/**
 * Which tool the model may or must call: `auto` (default), `none`, `required` (some tool), or `{ tool: name }`.
 *
 * @since 0.1.0
 * @category Models
 */
export const ToolChoice = Schema.Union([
  Schema.Literals(["auto", "none", "required"]),
  Schema.Struct({ tool: Schema.String })
])

/**
 * @since 0.1.0
 * @category Models
 */
export type ToolChoice = typeof ToolChoice.Type

/**
 * @since 0.1.0
 * @category Models
 */
export const ReasoningEffort = Schema.Literals(["none", "minimal", "low", "medium", "high", "xhigh", "max"])

/**
 * @since 0.1.0
 * @category Models
 */
export type ReasoningEffort = typeof ReasoningEffort.Type

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * A reply the provider keeps under its own id (OpenAI's Responses API with `store`), which a request continues: its
 * id, the provider and key that made it, and how many of the request's first messages it already holds. A client that
 * keeps replies (`OpenAiResponses.Options.store`) sends that id and only the later messages when called as that
 * provider with that key; any other client, or another key, sends every message.
 *
 * @since 0.3.0
 * @category Models
 */
export const PreviousResponse = Schema.Struct({
  id: Schema.String,
  provider: Schema.String,
  keyId: Schema.String,
  messages: NonNegativeInt
})

/**
 * @since 0.3.0
 * @category Models
 */
export type PreviousResponse = typeof PreviousResponse.Type

/**
 * A chat request. Every field but `messages` is optional; unset fields are not sent, so the provider's defaults apply.
 * An `Llm` checks every request against this schema before sending it: one out of range (a `temperature` of 5 or
 * `NaN`, no messages) or of the wrong shape fails with `InvalidRequestError` naming the path.
 *
 * @since 0.1.0
 * @category Models
 */
export class ChatRequest extends Schema.Opaque<ChatRequest>()(Schema.Struct({
  messages: Schema.Array(Message).check(Schema.isMinLength(1, { message: "a request needs at least one message" })),
  /** The model; when unset, the layer's default model is used. */
  model: Schema.optional(Schema.String),
  temperature: Schema.optional(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 2 }))),
  topP: Schema.optional(Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  /** The most tokens to generate (sent as `max_completion_tokens` or `max_tokens` as the provider wants). */
  maxTokens: Schema.optional(PositiveInt),
  stop: Schema.optional(Schema.Array(Schema.String)),
  tools: Schema.optional(Schema.Array(ToolDefinition)),
  toolChoice: Schema.optional(ToolChoice),
  /**
   * Whether the model may call several tools in one reply (OpenAI's `parallel_tool_calls`, Anthropic's
   * `disable_parallel_tool_use` the other way round). Sent with tools only, to Chat Completions, Responses and
   * Anthropic; Gemini, Bedrock and Ollama have no such setting. Default: the provider's (parallel calls allowed).
   *
   * @since 0.3.0
   */
  parallelToolCalls: Schema.optional(Schema.Boolean),
  responseFormat: Schema.optional(ResponseFormat),
  reasoningEffort: Schema.optional(ReasoningEffort),
  seed: Schema.optional(NonNegativeInt),
  /** An end-user id for the provider's abuse monitoring. */
  user: Schema.optional(Schema.String),
  /**
   * The conversation the call belongs to, for a router with `affinity`: calls of one session go to the deployment and
   * key that answered the last one while it is healthy, so its prompt cache stays warm. Never sent to a provider.
   */
  session: Schema.optional(Schema.String),
  /**
   * A key shared by requests with the same long prompt prefix, so the provider serves them from one prompt cache
   * (OpenAI's `prompt_cache_key`). Sent to OpenAI's Chat Completions (`OpenAiChat.Options.sendPromptCacheKey`) and
   * Responses APIs; not to Anthropic, Gemini or Ollama, which cache by prefix (to Anthropic, a request with a key and
   * no `Message.CacheBreakpoint` is sent one of five minutes on its last block). Default: none.
   */
  promptCacheKey: Schema.optional(Schema.String),
  /**
   * The service tier to serve the request at, in OpenAI's names (`auto`, `default`, `flex`, `scale`, `priority`,
   * `fast`; an OpenAI-compatible server's own names pass as they are). Sent to OpenAI's APIs, Anthropic and Bedrock in
   * their own names; not to Gemini or Ollama, nor where the target has no such tier (docs/adapters.md). A budget
   * reserves at the dearest tier the request may be served at (`auto` at priority too). Default: the provider's tier.
   * @since 0.3.0
   */
  serviceTier: Schema.optional(Schema.String),
  /**
   * Whether to ask for the model's 1M-token context window where the API gates it behind an opt-in (Anthropic's
   * `context-1m-2025-08-07` beta, on Anthropic, Vertex and Bedrock); other APIs have no such setting
   * (docs/adapters.md). Default: not asked, so Claude Sonnet 4 and 4.5 take 200,000 tokens.
   *
   * @since 0.3.0
   */
  longContext: Schema.optional(Schema.Boolean),
  /**
   * The kept reply this request continues (`PreviousResponse`): a client that keeps replies sends its id and only the
   * messages after it, when its key is the one that made it. Never sent otherwise. Default: none.
   */
  previousResponse: Schema.optional(PreviousResponse),
  /** How long to wait for the whole reply (for a stream: for its first chunk). Default: the client's timeout. */
  timeout: Schema.optional(Schema.Duration),
  /**
   * Fields merged into the provider's request body untouched (for example `{ "logprobs": true }`), after the fields
   * this library sets, so they win.
   */
  providerOptions: Schema.optional(Schema.Record(Schema.String, Schema.Unknown))
})) {}

/**
 * The fields of a request, as a plain object literal: what `Llm.chat` and the provider clients accept.
 *
 * @since 0.1.0
 * @category Models
 */
export type Input = typeof ChatRequest.Type

/**
 * Checks a request built from untrusted input; fails with a `SchemaError` that names every bad field (with
 * `{ errors: "all" }`).

 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatRequest, Llm } from "effect-llm-router"
 *
 * // A request from an HTTP body, checked before it is sent.
 * const relay = (body: unknown) => Effect.flatMap(ChatRequest.decode(body, { errors: "all" }), Llm.chat)
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const decode = Schema.decodeUnknownEffect(ChatRequest)
