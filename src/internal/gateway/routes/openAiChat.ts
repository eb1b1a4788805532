/**
 * OpenAI's routes: `POST /v1/chat/completions` (streamed or whole), `POST /v1/embeddings`, and `GET /v1/models` and
 * `/v1/models/{id}`: each body decoded by the Chat Completions dialect (`wire/openAiChat/`), answered through the
 * core (`chatAnswer.ts`, `embeddingAnswer.ts`).
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as OpenAiChat from "../../wire/openAiChat/dialect.js"
import { embeddingList } from "../../wire/openAiChat/embeddings.js"
import * as ChatAnswer from "../chatAnswer.js"
import * as EmbeddingAnswer from "../embeddingAnswer.js"
import type { ModelEntry } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import { RequestContext } from "../request/context.js"
import { decodePath, json, problemOr } from "../serving/answers.js"
import { ModelNames } from "../serving/modelNames.js"
import { Requests, type WithBody } from "../serving/requests.js"

/** OpenAI's routes over the configuration served. */
export const routes = Effect.gen(function*() {
  const serving = yield* ChatAnswer.answering
  const { served, withBody } = yield* Requests
  const { notFound, visibleModels } = yield* ModelNames
  const { engine } = serving
  // The failures of a body by the paths it names (`Decoded.path`: one for each name of the reply's limit), made once.
  const failures = new Map(
    OpenAiChat.maxTokensFields.map((field) => {
      const path = OpenAiChat.pathOf(field)
      return [path, Errors.failures(serving.now, OpenAiChat.dialect.errors, path)] as const
    })
  )

  // A `/v1/chat/completions` body's answer: refused, or streamed or whole once its model is admitted.
  function chatCompletion(body: WithBody) {
    return problemOr(
      OpenAiChat.dialect.decode(body.text, serving.now),
      (decoded) => ChatAnswer.answered(serving, body, { ...decoded, failures: failures.get(decoded.path)! })
    )
  }

  // A `/v1/embeddings` body's answer: refused, or the embeddings once its model is admitted.
  const embeddingFailures = failures.get(OpenAiChat.pathOf("max_tokens"))!
  function embedding(body: WithBody) {
    return problemOr(OpenAiChat.embeddings(body.text), (decoded) =>
      EmbeddingAnswer.answered(serving, body, {
        model: decoded.model,
        request: decoded.request,
        failures: embeddingFailures,
        render: (response) => embeddingList(response.embeddings, decoded.model, response.usage, decoded.base64)
      }))
  }

  function modelObject(model: ModelEntry) {
    return { id: model.id, object: "model", created: 0, owned_by: model.ownedBy }
  }
  const modelList = json(200, JSON.stringify({ object: "list", data: engine.models.map(modelObject) }))
  const modelsById = new Map(engine.models.map((model) => [model.id, json(200, JSON.stringify(modelObject(model)))]))
  // `/v1/models` and `/v1/models/{id}`, both routed here: a deployment's id holds a `/`, sent encoded or not.
  const models = served(() =>
    Effect.map(Effect.all([HttpRouter.params, RequestContext]), ([params, { caller }]) => {
      const id = decodePath(params["*"] ?? "")
      if (caller?.models === undefined) return id === "" ? modelList : modelsById.get(id) ?? notFound(id)
      // A key limited to some models sees those only.
      if (id !== "") return caller.models.has(id) ? modelsById.get(id)! : notFound(id, caller)
      return json(200, JSON.stringify({ object: "list", data: visibleModels(caller).map(modelObject) }))
    })
  )

  return {
    chatCompletions: withBody("/v1/chat/completions", chatCompletion),
    embeddings: withBody("/v1/embeddings", embedding),
    models
  }
})
