/**
 * OpenAI's routes: `POST /v1/chat/completions` (streamed or whole), `POST /v1/embeddings`, and `GET /v1/models` and
 * `/v1/models/{id}`, in OpenAI's wire (the codecs `codec/openAiChat.ts` and `codec/openAiEmbeddings.ts`, read by `openai/wire.ts`,
 * a stream written by `openai/render.ts`). A reply's id is `chatcmpl-` and a random
 * UUID of the gateway's (never the client's `x-request-id`, which it may choose).
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import { randomUUID } from "node:crypto"
import { completion } from "../../codec/openAiChat.js"
import { embeddingList } from "../../codec/openAiEmbeddings.js"
import * as ChatAnswer from "../chatAnswer.js"
import * as EmbeddingAnswer from "../embeddingAnswer.js"
import type { ModelEntry } from "../engine.js"
import { decodePath, json, problemResponse, type Serving, type WithBody } from "../serving.js"
import * as Render from "./render.js"
import * as Wire from "./wire.js"

/** OpenAI's routes over `serving`. */
export const routes = (serving: Serving) => {
  const { engine } = serving
  const openAi = ChatAnswer.openAiByField(serving.now)
  const seconds = () => Math.floor(serving.now() / 1000)

  // A `/v1/chat/completions` body's answer: refused, or streamed or whole once its model is admitted.
  function chatCompletion(body: WithBody) {
    const decoded = Wire.chat(body.text)
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
    const decoded = Wire.embeddings(body.text)
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

  const modelObject = (model: ModelEntry) => ({ id: model.id, object: "model", created: 0, owned_by: model.ownedBy })
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
