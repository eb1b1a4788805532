/**
 * The gateway's OpenAI request bodies: `POST /v1/chat/completions` and
 * `POST /v1/embeddings`, their text parsed as JSON and checked against Effect
 * Schemas of the wire (snake_case, unknown fields ignored), then turned into
 * the library's `ChatRequest` and `EmbeddingRequest`. The chat body and its
 * mapping are the Chat Completions codec's (`internal/codec/openAiChat.ts`),
 * shared with `batch` and the client.
 * The wire schemas check shapes and types and name the wire field that is
 * wrong; the ranges (a `temperature` of 5, no messages) are the `ChatRequest`
 * schema's, checked by the `Llm` before anything is sent, and its
 * `InvalidRequestError` paths are renamed here to the wire's.
 *
 * Each schema is its own check (`internal/schemaCheck.ts`).
 */
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Input as EmbeddingInput } from "../../../Embedding.js"
import {
  CreateRequest,
  type MaxTokensField,
  maxTokensField,
  toRequest as toChatRequest
} from "../../codec/openAiChat.js"
import { EmbeddingsBody, toRequest } from "../../codec/openAiEmbeddings.js"
import { checker, Problem, problemOf, Refused } from "../../schemaCheck.js"

export { type MaxTokensField } from "../../codec/openAiChat.js"
export { Problem } from "../../schemaCheck.js"

/** The embeddings body (the codec's). */
export const WireEmbeddingRequest = EmbeddingsBody

const notJson = new Problem(
  undefined,
  "We could not parse the JSON body of your request. The body must be a JSON object."
)

/** The body's text as JSON, checked by `check` (a schema's, `checker`'s), or what is wrong with it. */
export function decodeBody<A>(text: string, check: (u: unknown) => A | Refused): A | Problem {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return notJson
  }
  const checked = check(body)
  return checked instanceof Refused ? problemOf(checked) : checked
}

/** A decoded chat body: the request for the engine (its `model` the address), and how to answer it. */
export interface Chat {
  readonly _tag: "Chat"
  readonly model: string
  readonly request: ChatRequest
  readonly stream: boolean
  readonly includeUsage: boolean
  /** Which of the two names of the reply's limit the body gave. */
  readonly maxTokensField: MaxTokensField
}

/** A decoded embeddings body. */
export interface Embeddings {
  readonly _tag: "Embeddings"
  readonly model: string
  readonly request: EmbeddingInput
  readonly base64: boolean
}

const checkChat = checker(CreateRequest, { errors: "first" })
const checkEmbedding = checker(WireEmbeddingRequest, { errors: "first" })

/** A chat completions body (its text) as the engine's request, or what is wrong with it. */
export const chat = (text: string): Chat | Problem => {
  const wire = decodeBody(text, checkChat)
  if (wire instanceof Problem) return wire
  // The model is the gateway's address, not the engine's: the handler sets it.
  const request = toChatRequest(wire)
  if (request instanceof Problem) return request
  return {
    _tag: "Chat",
    model: wire.model,
    request,
    stream: wire.stream === true,
    includeUsage: wire.stream_options?.include_usage === true,
    maxTokensField: maxTokensField(wire)
  }
}

/** An embeddings body (its text) as the engine's request, or what is wrong with it. */
export const embeddings = (text: string): Embeddings | Problem => {
  const wire = decodeBody(text, checkEmbedding)
  if (wire instanceof Problem) return wire
  return {
    _tag: "Embeddings",
    model: wire.model,
    request: toRequest(wire),
    base64: wire.encoding_format === "base64"
  }
}

// The request's fields as the wire names them, where the engine's differ.
const renamed: Readonly<Record<string, string>> = {
  topP: "top_p",
  toolChoice: "tool_choice",
  responseFormat: "response_format",
  reasoningEffort: "reasoning_effort",
  toolCalls: "tool_calls",
  toolCallId: "tool_call_id"
}

/**
 * A path of the engine's request (`tools[0].name`, `messages[1].toolCallId`)
 * as the wire request writes it (`tools[0].function.name`,
 * `messages[1].tool_call_id`); `maxTokens` is the name the body gave it.
 */
export const wirePath = (path: string, maxTokens: MaxTokensField = "max_tokens"): string =>
  path
    .replace(
      /\b(topP|maxTokens|toolChoice|responseFormat|reasoningEffort|toolCalls|toolCallId)\b/g,
      (name) => name === "maxTokens" ? maxTokens : renamed[name]!
    )
    .replace(/\btools\[(\d+)\]\.(name|description|parameters|strict)/, "tools[$1].function.$2")
    .replace(/(tool_calls\[\d+\])\.(name|arguments)/, "$1.function.$2")
    .replace(/\bresponse_format\.(name|description|schema|strict)/, "response_format.json_schema.$1")
