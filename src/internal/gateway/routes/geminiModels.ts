/**
 * Google's model routes (the Gemini API's `models.list` and `models.get`): `GET /v1beta/models`, a page (`pageSize`,
 * default 50, at most 1000; `pageToken`), and `GET /v1beta/models/{model}`, as `@google/genai` reads them. The models
 * are the names `GET /v1/models` lists (a key limited to some names sees those only), each `models/<name>`.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Result from "effect/Result"
import type { ModelEntry } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import { RequestContext } from "../request/context.js"
import { decodePath, json, refusal } from "../serving/answers.js"
import { ModelNames } from "../serving/modelNames.js"
import { Requests } from "../serving/requests.js"
import { modelOf, queryOf } from "./gemini.js"

const defaultPageSize = 50
const maxPageSize = 1000

// What the gateway serves for every model under `/v1beta/models/{model}:`; embeddings depend on the deployment.
const supportedGenerationMethods = ["generateContent", "streamGenerateContent", "countTokens"]

/** A name the gateway serves as a Gemini API `Model`. */
export const modelObject = (model: ModelEntry) => ({
  name: `models/${model.id}`,
  baseModelId: model.id,
  displayName: model.id,
  supportedGenerationMethods
})

// The page `query` asks for (its first model and its size), or what is wrong with it.
function pageOf(query: URLSearchParams): Result.Result<{ readonly start: number; readonly size: number }, string> {
  const size = query.get("pageSize")
  const token = query.get("pageToken")
  const pageSize = size === null ? defaultPageSize : Number(size)
  if (!Number.isInteger(pageSize) || pageSize < 0) {
    return Result.fail(`pageSize: expected a whole number, got '${size}'`)
  }
  const start = token === null || token === "" ? 0 : Number(token)
  if (!Number.isInteger(start) || start < 0) {
    return Result.fail(`pageToken: '${token}' is not a page token of this gateway`)
  }
  return Result.succeed({ start, size: pageSize === 0 ? defaultPageSize : Math.min(pageSize, maxPageSize) })
}

/** `GET /v1beta/models` and `GET /v1beta/models/{model}` over the configuration served. */
export const route = Effect.gen(function*() {
  const { served } = yield* Requests
  const { notFoundAnswer, visibleModels } = yield* ModelNames
  return served(() =>
    Effect.map(
      Effect.all([HttpRouter.params, HttpServerRequest.HttpServerRequest, RequestContext]),
      ([params, request, context]) => {
        const caller = context.caller
        const visible = visibleModels(caller)
        const id = modelOf(decodePath(params["*"] ?? ""))
        if (id !== "") {
          const model = visible.find((model) => model.id === id)
          return model === undefined
            ? refusal(context, notFoundAnswer(id, caller))
            : json(200, JSON.stringify(modelObject(model)))
        }
        const paged = pageOf(queryOf(request.url))
        if (Result.isFailure(paged)) return refusal(context, Errors.invalidRequest(paged.failure, undefined))
        const page = paged.success
        const end = page.start + page.size
        return json(
          200,
          JSON.stringify({
            models: visible.slice(page.start, end).map(modelObject),
            ...(end < visible.length ? { nextPageToken: String(end) } : {})
          })
        )
      }
    )
  )
})
