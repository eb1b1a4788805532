/**
 * OpenAI Chat Completions as a server answers in it (`Dialect`): a `/v1/chat/completions` body decoded into the
 * engine's request and written back with this folder's writer, and a `/v1/embeddings` body decoded. The `Llm`'s
 * `InvalidRequestError` paths are renamed to the wire's (`wirePath`). A reply's id is `chatcmpl-` and a random UUID,
 * never the client's `x-request-id`, which it may choose.
 */
import * as Result from "effect/Result"
import { randomUUID } from "node:crypto"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Input as EmbeddingInput } from "../../../Embedding.js"
import { checker, decodeBody, type Problem } from "../../schemaCheck.js"
import type { Decoded, Dialect } from "../dialect.js"
import {
  completion,
  CreateRequest,
  type MaxTokensField,
  maxTokensField,
  toRequest as toChatRequest,
  wirePath
} from "./codec.js"
import { EmbeddingsBody, toRequest } from "./embeddings.js"
import { errors, streamEncoder } from "./writer.js"

export { Problem } from "../../schemaCheck.js"

/** The embeddings body (the codec's). */
export const WireEmbeddingRequest = EmbeddingsBody

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
export function chat(text: string): Result.Result<Chat, Problem> {
  return Result.flatMap(decodeBody(text, checkChat), (wire) =>
    // The model is the gateway's address, not the engine's: the handler sets it.
    Result.map(toChatRequest(wire), (request) => ({
      _tag: "Chat",
      model: wire.model,
      request,
      stream: wire.stream === true,
      includeUsage: wire.stream_options?.include_usage === true,
      maxTokensField: maxTokensField(wire)
    })))
}

/** An embeddings body (its text) as the engine's request, or what is wrong with it. */
export function embeddings(text: string): Result.Result<Embeddings, Problem> {
  return Result.map(decodeBody(text, checkEmbedding), (wire) => ({
    _tag: "Embeddings",
    model: wire.model,
    request: toRequest(wire),
    base64: wire.encoding_format === "base64"
  }))
}

// The engine's request paths as a body that named the reply's limit `field` names them, made once for each name.
const pathsByField: Readonly<Record<MaxTokensField, (engine: string) => string>> = {
  max_tokens: (engine) => wirePath(engine, "max_tokens"),
  max_completion_tokens: (engine) => wirePath(engine, "max_completion_tokens")
}

/** The two names a chat body gives the reply's limit. */
export const maxTokensFields: ReadonlyArray<MaxTokensField> = ["max_tokens", "max_completion_tokens"]

/** A path of the engine's request as a chat body that named the reply's limit `field` names it. */
export function pathOf(field: MaxTokensField): (engine: string) => string {
  return pathsByField[field]
}

/** A chat body decoded with how it is answered: this folder's writer, dated by `now` (Clock millis). */
export function decode(text: string, now: () => number): Result.Result<Decoded, Problem> {
  return Result.map(chat(text), (decoded) => {
    const id = `chatcmpl-${randomUUID()}`
    const seconds = () => Math.floor(now() / 1000)
    return {
      model: decoded.model,
      request: decoded.request,
      stream: decoded.stream,
      newEncoder: () => streamEncoder(id, decoded.model, seconds(), decoded.includeUsage),
      render: (response) => completion(response, id, seconds()),
      path: pathOf(decoded.maxTokensField)
    }
  })
}

/** OpenAI Chat Completions, as the gateway answers in it. */
export const dialect: Dialect = { decode, errors }
