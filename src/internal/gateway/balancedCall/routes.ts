/**
 * LLM-API-BalancedCall's routes (`balancedCall/wire.ts` is their wire): `POST /llm/chat` and `/llm/chat/stream` through
 * the same admission and answers as `/v1/chat/completions`, `GET /llm/system-load` and `/llm/system-capacity` from
 * the router's status (to a key limited to some models, only the deployments they reach, without their provider keys
 * or endpoints), and the opt-in, admin-only `GET /llm/model-load/<deployment>`.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type { Status } from "../../../Router.js"
import * as OpenAiChat from "../../wire/openAiChat/dialect.js"
import { errors } from "../../wire/openAiChat/writer.js"
import { AdminCheck } from "../access/adminCheck.js"
import * as Auth from "../access/authentication.js"
import * as ChatAnswer from "../chatAnswer.js"
import * as Errors from "../errorAnswer.js"
import * as Intake from "../intake.js"
import { RequestContext } from "../request/context.js"
import { decodePath, errorResponse, json, problemOr } from "../serving/answers.js"
import { Requests, type WithBody } from "../serving/requests.js"
import * as BalancedCall from "./wire.js"

/** The `/llm/*` routes over the configuration served. */
export const routes = Effect.gen(function*() {
  const serving = yield* ChatAnswer.answering
  const { plain, served, withBody } = yield* Requests
  const { adminOnly } = yield* AdminCheck
  const { engine } = serving
  // A body's failures by the name it gives the reply's limit (OpenAI's chat body, `OpenAiChat.pathOf`), made once.
  const failures = new Map(
    OpenAiChat.maxTokensFields.map((field) => [field, Errors.failures(serving.now, errors, OpenAiChat.pathOf(field))])
  )

  // `POST /llm/chat` (a whole reply) and `/llm/chat/stream`: the same engine and paths, in its wire.
  function chat(route: string, stream: boolean) {
    return withBody(route, (body: WithBody) => {
      return problemOr(BalancedCall.chat(body.text), (decoded) =>
        ChatAnswer.answered(serving, body, {
          model: decoded.model,
          request: decoded.request,
          stream,
          failures: failures.get(decoded.maxTokensField)!,
          newEncoder: BalancedCall.streamEncoder,
          render: BalancedCall.reply,
          target: decoded.model === BalancedCall.everyModel ? engine.balanced : engine.resolve(decoded.model)
        }))
    })
  }

  // `GET /llm/model-load/<deployment>`: only when the configuration opts in, and as an admin path.
  const modelLoad = Effect.flatMap(HttpRouter.params, (params) => {
    if (!serving.options.modelLoadDetails) return Effect.succeed(errorResponse(BalancedCall.disabled))
    const name = decodePath(params["*"] ?? "")
    // A name longer than the gateway takes is refused by its length, never repeated (as every route's model).
    const oversized = Intake.oversizedModel(name)
    return adminOnly(Effect.map(engine.status, (status) => {
      if (oversized !== undefined) return errorResponse(Errors.modelTooLong(oversized, Intake.maxModelBytes))
      // A client's name is never a key of a plain object: `__proto__` would be found there.
      const load = new Map(Object.entries(status.details)).get(name)
      return load === undefined
        ? errorResponse(BalancedCall.noDeployment(name, Object.keys(status.details)))
        : json(200, BalancedCall.modelLoad(load))
    }))
  })

  // The status as the key may see it: whole to a key allowed every model or without keys, else `BalancedCall.shownTo`.
  function visibleStatus(render: (status: Status) => string) {
    return served(() =>
      Effect.map(Effect.all([engine.status, RequestContext]), ([status, { caller }]) => {
        const models = caller?.models
        if (models === undefined) return json(200, render(status))
        const visible = new Set([...models].flatMap((model) => engine.resolve(model)?.deployments ?? []))
        return json(200, render(BalancedCall.shownTo(status, visible)))
      })
    )
  }

  return [
    HttpRouter.route("POST", "/llm/chat", chat("/llm/chat", false)),
    HttpRouter.route("POST", "/llm/chat/stream", chat("/llm/chat/stream", true)),
    HttpRouter.route("GET", "/llm/system-load", visibleStatus(BalancedCall.systemLoad)),
    HttpRouter.route("GET", "/llm/system-capacity", visibleStatus(BalancedCall.systemCapacity)),
    HttpRouter.route("GET", `${Auth.adminPrefix}*`, plain(modelLoad))
  ]
})
