/**
 * OpenAI's routes: `POST /v1/chat/completions` (streamed or whole), `POST /v1/embeddings`, and `GET /v1/models` and
 * `/v1/models/{id}`, in OpenAI's wire (the codecs `codec/openAiChat.ts` and `codec/openAiEmbeddings.ts`, a stream
 * written by `openai/render.ts`). A reply's id is `chatcmpl-` and a random UUID of the gateway's (never the client's
 * `x-request-id`, which it may choose).
 *
 * The request bodies they read: their text parsed as JSON and checked against Effect Schemas of the wire (snake_case,
 * unknown fields ignored), then turned into the library's `ChatRequest` and `EmbeddingRequest`. The chat body and its
 * mapping are the Chat Completions codec's, shared with `batch` and the client. The wire schemas check shapes and types
 * and name the wire field that is wrong; the ranges (a `temperature` of 5, no messages) are the `ChatRequest` schema's,
 * checked by the `Llm` before anything is sent, and its `InvalidRequestError` paths are renamed here to the wire's
 * (`openai/errors.ts`'s `wirePath`). Each schema is its own check (`internal/schemaCheck.ts`); `decodeBody` serves
 * every route's body.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import { randomUUID } from "node:crypto"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Input as EmbeddingInput } from "../../../Embedding.js"
import {
  completion,
  CreateRequest,
  type MaxTokensField,
  maxTokensField,
  toRequest as toChatRequest
} from "../../codec/openAiChat.js"
import { embeddingList, EmbeddingsBody, toRequest } from "../../codec/openAiEmbeddings.js"
import { checker, Problem, problemOf, Refused } from "../../schemaCheck.js"
import * as ChatAnswer from "../chatAnswer.js"
import * as EmbeddingAnswer from "../embeddingAnswer.js"
import type { ModelEntry } from "../engine.js"
import { decodePath, json, problemResponse, type Serving, type WithBody } from "../serving.js"
import * as Render from "./render.js"

/** OpenAI's routes over `serving`. */
export function routes(serving: Serving) {
  const { engine } = serving
  const openAi = ChatAnswer.openAiByField(serving.now)
  function seconds() {
    return Math.floor(serving.now() / 1000)
  }

  // A `/v1/chat/completions` body's answer: refused, or streamed or whole once its model is admitted.
  function chatCompletion(body: WithBody) {
    const decoded = chat(body.text)
    if (decoded._tag === "Problem") return Effect.succeed(problemResponse(decoded))
    const id = `chatcmpl-${randomUUID()}`
    return ChatAnswer.answered(serving, body, {
      model: decoded.model,
      request: decoded.request,
      stream: decoded.stream,
      failures: openAi(decoded.maxTokensField),
      newEncoder: () => Render.streamEncoder(id, decoded.model, seconds(), decoded.includeUsage),
      render: (response) => completion(response, id, seconds())
    })
  }

  // A `/v1/embeddings` body's answer: refused, or the embeddings once its model is admitted.
  function embedding(body: WithBody) {
    const decoded = embeddings(body.text)
    if (decoded._tag === "Problem") {
      return Effect.succeed(problemResponse(decoded))
    }
    return EmbeddingAnswer.answered(serving, body, {
      model: decoded.model,
      request: decoded.request,
      failures: openAi("max_tokens"),
      render: (response) => embeddingList(response.embeddings, decoded.model, response.usage, decoded.base64)
    })
  }

  function modelObject(model: ModelEntry) {
    return { id: model.id, object: "model", created: 0, owned_by: model.ownedBy }
  }
  const modelList = json(200, JSON.stringify({ object: "list", data: engine.models.map(modelObject) }))
  const modelsById = new Map(engine.models.map((model) => [model.id, json(200, JSON.stringify(modelObject(model)))]))
  // `/v1/models` and `/v1/models/{id}` (`HttpRouter` routes both here); a deployment's id holds a `/`,
  // which a client may send encoded or not.
  const models = serving.served(({ entry: { caller } }) =>
    Effect.map(HttpRouter.params, (params) => {
      const id = decodePath(params["*"] ?? "")
      if (caller?.models === undefined) return id === "" ? modelList : modelsById.get(id) ?? serving.notFound(id)
      // A key limited to some models sees those only.
      if (id !== "") return caller.models.has(id) ? modelsById.get(id)! : serving.notFound(id, caller)
      return json(200, JSON.stringify({ object: "list", data: serving.visibleModels(caller).map(modelObject) }))
    })
  )

  return {
    chatCompletions: serving.withBody("/v1/chat/completions", chatCompletion),
    embeddings: serving.withBody("/v1/embeddings", embedding),
    models
  }
}

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
export function chat(text: string): Chat | Problem {
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
export function embeddings(text: string): Embeddings | Problem {
  const wire = decodeBody(text, checkEmbedding)
  if (wire instanceof Problem) return wire
  return {
    _tag: "Embeddings",
    model: wire.model,
    request: toRequest(wire),
    base64: wire.encoding_format === "base64"
  }
}
