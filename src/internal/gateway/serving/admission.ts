/**
 * A call's admission and its failure's answer: the model it names admitted for the request's key (its rate limit and
 * budget checked, the request bounded for it), else the refusal; the engine's failure answered in the route's words.
 * Each is noted in the request's log line.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { LlmError } from "../../../LlmError.js"
import type * as Auth from "../access/authentication.js"
import type { Target } from "../engine.js"
import type * as Errors from "../errorAnswer.js"
import * as Intake from "../intake.js"
import * as Logs from "../observe/record.js"
import { errorResponse, refusal } from "./answers.js"
import { Configuration } from "./configuration.js"
import { ModelNames } from "./modelNames.js"

/** A model to admit for the key of `entry`'s request, and what answers the request once admitted. */
export interface Asked<R, Q extends Auth.Request | undefined> {
  readonly model: string
  /** The request as the body gave it; `Auth.bounded` makes the one sent. */
  readonly request: Q
  readonly entry: Logs.Entry
  readonly handle: (target: Target, request: Q) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  /** The target `model` names: by default the engine's. */
  readonly target?: Target | undefined
}

/** A call's admission and its failure's answer. */
export interface Service {
  /**
   * The target of `model` once the request's key (its `entry`'s caller) may call it (its rate limit and budget
   * checked), else the refusal; `request` as sent for the key (`Auth.bounded`). A model too long to take, or that
   * names nothing, is refused after it took from the key's rate limit too: trying names costs what calling does.
   */
  readonly admitted: <R, Q extends Auth.Request | undefined>(
    asked: Asked<R, Q>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | Scope.Scope>
  /** The answer to the engine's `error`, logged in `entry`, in the route's words (`failures`). */
  readonly failed: (
    entry: Logs.Entry,
    failures: Errors.Failures,
    error: LlmError
  ) => HttpServerResponse.HttpServerResponse
}

/** A call's admission and its failure's answer. */
export class Admission extends Context.Service<Admission, Service>()("effect-llm-router/gateway/serving/Admission") {}

/** The admission of the configuration served. */
export const make = Effect.gen(function*() {
  const { engine, options: { auth } } = yield* Configuration
  const { notFoundAnswer } = yield* ModelNames

  function failed(entry: Logs.Entry, failures: Errors.Failures, error: LlmError) {
    const answer = failures.answer(error)
    Logs.failed(entry, error._tag, answer)
    return errorResponse(answer, failures.errors)
  }

  // A refusal of the call of `entry`, noted in its log line.
  function refused(entry: Logs.Entry, answer: Errors.ErrorAnswer) {
    Logs.failed(entry, answer.code ?? undefined, answer)
    return refusal(entry, answer)
  }

  function admitted<R, Q extends Auth.Request | undefined>(asked: Asked<R, Q>) {
    const { entry, handle, model } = asked
    const target = Intake.oversizedModel(model) === undefined ? asked.target ?? engine.resolve(model) : undefined
    entry.model = Intake.logged(model)
    if (target === undefined) {
      return Effect.match(auth.limit(entry.caller), {
        onFailure: (answer) => refused(entry, answer),
        onSuccess: () => refused(entry, notFoundAnswer(model, entry.caller))
      })
    }
    // A request without a gateway key (a gateway that requires none, or an open path) has no limit or budget.
    if (entry.caller === undefined) return handle(target, asked.request)
    const sent = auth.bounded(entry.caller, asked.request)
    return Effect.matchEffect(auth.admit(entry.caller, model, target, sent), {
      onFailure: (answer) => Effect.succeed(refused(entry, answer)),
      onSuccess: (settle) => {
        entry.settle = settle
        return handle(target, sent)
      }
    })
  }

  return Admission.of({ admitted, failed })
})

/** The admission, over the `Configuration` and `ModelNames` provided. */
export const layer = Layer.effect(Admission, make)
