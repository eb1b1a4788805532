/**
 * Chat messages, their content parts, tool definitions and tool calls, discriminated by `role` as on the wire. Every
 * type is an `effect/Schema` struct of plain objects (`Schema.Opaque` only names the type): decode one from JSON or
 * write an object literal; `Schema.encode` takes either.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A prompt-cache breakpoint: the provider caches the prompt up to and including the block that carries it, for `ttl`
 * (Anthropic's `cache_control`, Bedrock's `cachePoint`: `5m` or `1h`; default: the provider's, five minutes). Both take
 * an hour's breakpoint only before every shorter one, so one after a shorter one is sent for five minutes. Providers
 * that cache prefixes on their own (OpenAI, Gemini, DeepSeek) are sent nothing for it.
 *
 * @example
 * ```ts
 * import { Message } from "effect-llm-router"
 *
 * // A long, stable system prompt cached for an hour.
 * const rules: Message.SystemMessage = { role: "system", content: "You review Go code...", cache: { ttl: "1h" } }
 * ```
 *
 * @since 0.2.0
 * @category Models
 */
export class CacheBreakpoint extends Schema.Opaque<CacheBreakpoint>()(Schema.Struct({
  ttl: Schema.optional(Schema.Literals(["5m", "1h"]))
})) {}

/**
 * A piece of text inside a multi-part user message.
 *
 * @since 0.1.0
 * @category Models
 */
export class TextPart extends Schema.Opaque<TextPart>()(Schema.Struct({
  type: Schema.tag("text"),
  text: Schema.String,
  /** A prompt-cache breakpoint after this part. Default: none. */
  cache: Schema.optional(CacheBreakpoint)
})) {}

/**
 * A medium inside a multi-part user message, by an `https:` URL (`gs://` for Vertex) or a `data:` URL. Most often an
 * image, the only medium Chat Completions, Responses, Bedrock and Ollama take; Anthropic also takes a PDF, Gemini
 * audio, video, PDFs and text documents. A deployment that cannot read it refuses it by its path; a budget reserves a
 * URL whose size is unknown before the call at the model's whole context window (docs/cost.md, "Media").
 *
 * @since 0.1.0
 * @category Models
 */
export class ImagePart extends Schema.Opaque<ImagePart>()(Schema.Struct({
  type: Schema.tag("image"),
  url: Schema.String,
  /**
   * The IANA media type of what `url` holds (`video/mp4`, `application/pdf`), as a Gemini `fileData` names it.
   * Default: the `data:` URL's own type, else what the URL's extension or host says, else an image by a web URL and
   * a file of no stated type by any other.
   *
   * @since 0.3.0
   */
  mediaType: Schema.optional(Schema.String),
  /** How closely the model looks at the image. Default: the provider's (`auto`). */
  detail: Schema.optional(Schema.Literals(["auto", "low", "high"])),
  /**
   * A document's (a PDF's) `title`, a `context` the model reads but does not cite, and whether it may cite it
   * (`citations`), as Anthropic's `document` block carries them (also on Bedrock and Vertex); Bedrock's Converse
   * names a tool result's document by its `title`; other APIs have no place for it. Default: none.
   *
   * @since 0.3.0
   */
  document: Schema.optional(Schema.Struct({
    title: Schema.optional(Schema.String),
    context: Schema.optional(Schema.String),
    citations: Schema.optional(Schema.Boolean)
  })),
  /** A prompt-cache breakpoint after this part. Default: none. */
  cache: Schema.optional(CacheBreakpoint)
})) {}

/**
 * @since 0.1.0
 * @category Models
 */
export const ContentPart = Schema.Union([TextPart, ImagePart])

/**
 * @since 0.1.0
 * @category Models
 */
export type ContentPart = typeof ContentPart.Type

/**
 * A JSON Schema object, as tools and structured outputs send it.
 *
 * @since 0.1.0
 * @category Models
 */
export const JsonSchemaObject = Schema.Record(Schema.String, Schema.Unknown)

/**
 * Opaque data a provider needs sent back unchanged in the next turn (signed reasoning blocks, thought signatures),
 * keyed by provider API; callers carry it along by building the next assistant message with `fromResponse`.
 *
 * @since 0.1.0
 * @category Models
 */
export const ProviderMetadata = Schema.Record(Schema.String, Schema.Unknown)

/**
 * @since 0.1.0
 * @category Models
 */
export type ProviderMetadata = typeof ProviderMetadata.Type

/**
 * A function the model may call.
 *
 * @since 0.1.0
 * @category Models
 */
export class ToolDefinition extends Schema.Opaque<ToolDefinition>()(Schema.Struct({
  name: Schema.String.check(Schema.isPattern(/^[a-zA-Z0-9_-]{1,64}$/, {
    message: "a tool name is 1 to 64 characters from a-z, A-Z, 0-9, _ and -"
  })),
  description: Schema.optional(Schema.String),
  /** The JSON Schema of the arguments object. */
  parameters: JsonSchemaObject,
  /** Ask the provider to enforce the schema exactly (OpenAI `strict`). Default: off. */
  strict: Schema.optional(Schema.Boolean),
  /**
   * A prompt-cache breakpoint after this tool's definition (tools come first in the prompt); never sent on a
   * deferred tool (`deferLoading`), which is not part of the prompt's prefix. Default: none.
   */
  cache: Schema.optional(CacheBreakpoint),
  /**
   * Tool search: the definition is loaded only where a tool result names it (`ToolMessage.toolReferences`), as
   * Anthropic's `defer_loading`. A deployment whose API has no tool search is sent the deferred tools a result of the
   * conversation names as plain tools, and not the others. Default: off.
   *
   * @since 0.3.0
   */
  deferLoading: Schema.optional(Schema.Boolean)
})) {
  /**
   * A tool whose parameters are described by an Effect Schema; throws a `SchemaError` for an invalid tool name.
   *
   * @example
   * ```ts
   * import { Schema } from "effect"
   * import { Message } from "effect-llm-router"
   *
   * const weatherTool = Message.ToolDefinition.fromSchema({
   *   name: "get_weather",
   *   description: "The current weather in a city",
   *   parameters: Schema.Struct({ city: Schema.String })
   * })
   * ```
   *
   * @since 0.1.0
   */
  static fromSchema<A, I>(options: {
    readonly name: string
    readonly description?: string
    readonly parameters: Schema.Codec<A, I>
    readonly strict?: boolean
  }): ToolDefinition {
    return checkToolDefinition({
      name: options.name,
      ...(options.description !== undefined ? { description: options.description } : {}),
      parameters: jsonSchemaOf(options.parameters),
      ...(options.strict !== undefined ? { strict: options.strict } : {})
    })
  }
}

// Decoding checks the name, so a bad one is a SchemaError that says what is wrong.
const checkToolDefinition = Schema.decodeSync(ToolDefinition)

/**
 * The JSON Schema of an Effect Schema's JSON form, refusing excess properties, with definitions under `$defs` and no
 * `$schema` marker (some providers reject it). Decode what a model sends for it with `decodeJson`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Message } from "effect-llm-router"
 *
 * const Weather = Schema.Struct({ city: Schema.String, unit: Schema.Literals(["celsius", "fahrenheit"]) })
 *
 * const weatherTool: Message.ToolDefinition = {
 *   name: "get_weather",
 *   description: "The current weather in a city",
 *   parameters: Message.jsonSchemaOf(Weather)
 * }
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function jsonSchemaOf<A, I>(schema: Schema.Codec<A, I>): Record<string, unknown> {
  const document = Schema.toJsonSchemaDocument(schema, { onExcessProperty: "error" })
  return Object.keys(document.definitions).length > 0
    ? { ...document.schema, $defs: document.definitions }
    : { ...document.schema }
}

/**
 * Decodes JSON text a model wrote for `jsonSchemaOf(schema)` through the schema's JSON form, so whatever that JSON
 * Schema allows decodes (`null` for an optional field, a `Date` as its ISO string).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * const Person = Schema.Struct({ name: Schema.String, born: Schema.Int })
 *
 * const person = Effect.gen(function*() {
 *   const reply = yield* Llm.chat({
 *     messages: [Message.user("Who wrote Dune? Answer as JSON.")],
 *     responseFormat: { type: "json_schema", name: "person", schema: Message.jsonSchemaOf(Person) }
 *   })
 *   return yield* Message.decodeJson(Person)(reply.text)
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function decodeJson<A, I>(schema: Schema.Codec<A, I>) {
  return Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.toCodecJson(schema)))
}

/**
 * A call the model asked for. `arguments` is the JSON text exactly as the model sent it: it can be invalid JSON, so
 * decode it with `ToolCall.decodeArguments`.
 *
 * @since 0.1.0
 * @category Models
 */
export class ToolCall extends Schema.Opaque<ToolCall>()(Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.String,
  /** What a provider needs back unchanged with this call in the next turn (Gemini's `thoughtSignature`). */
  providerMetadata: Schema.optional(ProviderMetadata)
})) {
  /**
   * Decodes the arguments as `decodeJson` does; fails with a `SchemaError` when the JSON is invalid or does not match.
   *
   * @example
   * ```ts
   * import { Effect, Schema } from "effect"
   * import { Message } from "effect-llm-router"
   *
   * const decodeWeather = Message.ToolCall.decodeArguments(Schema.Struct({ city: Schema.String }))
   *
   * const city = (call: Message.ToolCall) => Effect.map(decodeWeather(call), (args) => args.city)
   * ```
   *
   * @since 0.1.0
   */
  static decodeArguments<A, I>(schema: Schema.Codec<A, I>) {
    const decode = decodeJson(schema)
    return (call: Pick<ToolCall, "arguments">) => decode(call.arguments)
  }
}

/**
 * @since 0.1.0
 * @category Models
 */
export class SystemMessage extends Schema.Opaque<SystemMessage>()(Schema.Struct({
  role: Schema.tag("system"),
  content: Schema.String,
  /** A prompt-cache breakpoint after this message. Default: none. */
  cache: Schema.optional(CacheBreakpoint)
})) {}

/**
 * @since 0.1.0
 * @category Models
 */
export class UserMessage extends Schema.Opaque<UserMessage>()(Schema.Struct({
  role: Schema.tag("user"),
  content: Schema.Union([Schema.String, Schema.Array(ContentPart)]).annotate({
    expected: "a string or an array of parts"
  })
})) {}

/**
 * An earlier reply of the model, sent back as history. `reasoning` is kept so it can be sent back where a provider
 * requires it (DeepSeek with tool calls).
 *
 * @since 0.1.0
 * @category Models
 */
export class AssistantMessage extends Schema.Opaque<AssistantMessage>()(Schema.Struct({
  role: Schema.tag("assistant"),
  content: Schema.String,
  toolCalls: Schema.optional(Schema.Array(ToolCall)),
  reasoning: Schema.optional(Schema.String),
  /** What the provider needs back from this reply (see `ProviderMetadata`). */
  providerMetadata: Schema.optional(ProviderMetadata),
  /** A prompt-cache breakpoint after this message. Default: none. */
  cache: Schema.optional(CacheBreakpoint)
})) {}

/**
 * The result of a tool call, answered to the call with the same id.
 *
 * @example
 * ```ts
 * import { Message } from "effect-llm-router"
 *
 * // A tool that fetched a PDF answers with a note and the document itself.
 * const result: Message.ToolMessage = {
 *   role: "tool",
 *   toolCallId: "toolu_01",
 *   content: [Message.text("The report, as filed:"), Message.image("data:application/pdf;base64,JVBERi0xLjQ...")]
 * }
 * ```
 *
 * @since 0.1.0
 * @category Models
 */
export class ToolMessage extends Schema.Opaque<ToolMessage>()(Schema.Struct({
  role: Schema.tag("tool"),
  toolCallId: Schema.String,
  /** The tool's name; some providers (Gemini, Ollama) match results by name. */
  name: Schema.optional(Schema.String),
  /**
   * What the tool returned: text, or parts (since 0.3.0) where a tool returns media. A deployment whose API has no
   * place for a part refuses it by its path (`InvalidRequestError`), never dropping it: Anthropic takes images and
   * PDFs; Gemini PNG, JPEG and WebP images, PDFs and plain text; Bedrock's Converse images, PDFs and text documents;
   * Responses images; Chat Completions and Ollama text only.
   */
  content: Schema.Union([Schema.String, Schema.Array(ContentPart)]).annotate({
    expected: "a string or an array of parts"
  }),
  /**
   * Tool search: the deferred tools (`ToolDefinition.deferLoading`) this result loads, by name, after its content
   * (Anthropic's `tool_reference` blocks). A deployment whose API has no tool search is sent them as a line of the
   * result's text naming them, and their definitions as plain tools. Default: none.
   *
   * @since 0.3.0
   */
  toolReferences: Schema.optional(Schema.Array(Schema.String)),
  /** A prompt-cache breakpoint after this result. Default: none. */
  cache: Schema.optional(CacheBreakpoint)
})) {}

/**
 * @since 0.1.0
 * @category Models
 */
export const Message = Schema.Union([SystemMessage, UserMessage, AssistantMessage, ToolMessage]).annotate({
  expected: "a message with role system, user, assistant or tool"
})

/**
 * @since 0.1.0
 * @category Models
 */
export type Message = typeof Message.Type

/**
 * @example
 * ```ts
 * import { Llm, Message } from "effect-llm-router"
 *
 * const answer = Llm.chat({
 *   messages: [Message.system("Answer in one sentence."), Message.user("What is Effect?")]
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function system(content: string): SystemMessage {
  return { role: "system", content }
}

/**
 * @example
 * ```ts
 * import { Message } from "effect-llm-router"
 *
 * const question = Message.user("What is the capital of France?")
 * const withImage = Message.user([
 *   Message.text("What is in this picture?"),
 *   Message.image("https://example.com/cat.png")
 * ])
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function user(content: string | ReadonlyArray<ContentPart>): UserMessage {
  return { role: "user", content }
}

/**
 * @example
 * ```ts
 * import { Llm, Message } from "effect-llm-router"
 *
 * // A conversation so far, replayed as history.
 * const next = Llm.chat({
 *   messages: [
 *     Message.user("My name is Ada."),
 *     Message.assistant("Nice to meet you, Ada."),
 *     Message.user("What is my name?")
 *   ]
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function assistant(
  content: string,
  options?: { readonly toolCalls?: ReadonlyArray<ToolCall>; readonly reasoning?: string }
): AssistantMessage {
  return { role: "assistant", content, ...options }
}

/**
 * The assistant message that records a reply in the history, with its tool calls, reasoning and provider metadata, so
 * the next turn of a tool loop sends back everything the provider requires.

 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * const conversation = Effect.gen(function*() {
 *   const history: Array<Message.Message> = [Message.user("Name a prime number.")]
 *   const first = yield* Llm.chat({ messages: history })
 *   history.push(Message.fromResponse(first), Message.user("And a larger one?"))
 *   return yield* Llm.chat({ messages: history })
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function fromResponse(response: {
  readonly text: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly reasoning?: string | undefined
  readonly providerMetadata?: ProviderMetadata | undefined
}): AssistantMessage {
  return {
    role: "assistant",
    content: response.text,
    ...(response.toolCalls.length > 0 ? { toolCalls: response.toolCalls } : {}),
    ...(response.reasoning !== undefined ? { reasoning: response.reasoning } : {}),
    ...(response.providerMetadata !== undefined ? { providerMetadata: response.providerMetadata } : {})
  }
}

/**
 * The answer to a tool call. A value that is not a string is sent as JSON.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * declare const tools: ReadonlyArray<Message.ToolDefinition>
 *
 * // One turn of a tool loop: run each call the model asked for, then ask again.
 * const turn = Effect.gen(function*() {
 *   const history: Array<Message.Message> = [Message.user("What is the weather in Paris?")]
 *   const reply = yield* Llm.chat({ messages: history, tools })
 *   history.push(Message.fromResponse(reply))
 *   for (const call of reply.toolCalls) history.push(Message.toolResult(call, { celsius: 18 }))
 *   return yield* Llm.chat({ messages: history, tools })
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function toolResult(
  call: Pick<ToolCall, "id" | "name">,
  result: unknown
): ToolMessage {
  return {
    role: "tool",
    toolCallId: call.id,
    name: call.name,
    content: typeof result === "string" ? result : JSON.stringify(result)
  }
}

/**
 * @example
 * ```ts
 * import { Message } from "effect-llm-router"
 *
 * const message = Message.user([Message.text("Describe this chart."), Message.image("https://example.com/chart.png")])
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function text(value: string): TextPart {
  return { type: "text", text: value }
}

/**
 * @example
 * ```ts
 * import { Message } from "effect-llm-router"
 *
 * const message = Message.user([
 *   Message.text("What is written on this sign?"),
 *   Message.image("data:image/png;base64,iVBORw0KGgo...", "high")
 * ])
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function image(url: string, detail?: "auto" | "low" | "high"): ImagePart {
  return detail === undefined ? { type: "image", url } : { type: "image", url, detail }
}

/**
 * The text of a message's content, with image parts left out.
 *
 * @example
 * ```ts
 * import { Message } from "effect-llm-router"
 *
 * const message = Message.user([
 *   Message.text("Hello, "),
 *   Message.image("https://example.com/a.png"),
 *   Message.text("world")
 * ])
 * Message.textOf(message.content) // "Hello, world"
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export function textOf(content: string | ReadonlyArray<ContentPart>): string {
  if (typeof content === "string") return content
  let out = ""
  for (const part of content) {
    if (part.type === "text") out += part.text
  }
  return out
}
