/**
 * A call's admission and its failure's answer: the model it names admitted for the request's key (its rate limit and
 * budget checked, the request bounded for it), else the refusal; the engine's failure answered in the route's words.
 * Each is noted in the request's context.
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
import { RequestContext } from "../request/context.js"
import type * as Request from "../request/context.js"
import * as Outcome from "../request/outcome.js"
import { errorResponse, notedFailure } from "./answers.js"
import { Configuration } from "./configuration.js"
import { ModelNames } from "./modelNames.js"

/** A model to admit for the key of the request served, and what answers the request once admitted. */
export interface Asked<R, Q extends Auth.Request | undefined> {
  readonly model: string
  /** The request as the body gave it, for the request's context; `Auth.bounded` makes the one sent. */
  readonly request: (context: Request.Service) => Q
  readonly handle: (
    target: Target,
    request: Q,
    context: Request.Service
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  /** The target `model` names: by default the engine's. */
  readonly target?: Target | undefined
}

/** A call's admission and its failure's answer. */
export interface Service {
  /**
   * The target of `model` once the request's key may call it (its rate limit and budget checked), else the refusal;
   * `request` as sent for the key (`Auth.bounded`, `Auth.admit`). A model too long to take, or that names nothing, is
   * refused after it took from the key's rate limit too: trying names costs what calling does.
   */
  readonly admitted: <R, Q extends Auth.Request | undefined>(
    asked: Asked<R, Q>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | Scope.Scope | RequestContext>
  /** The answer to the engine's `error`, noted in the request's outcome, in the route's words (`failures`). */
  readonly failed: (
    context: Request.Service,
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

  function failed(context: Request.Service, failures: Errors.Failures, error: LlmError) {
    const answer = failures.answer(error)
    Outcome.failed(context.outcome, error._tag, answer)
    return errorResponse(answer, failures.errors)
  }

  function admitted<R, Q extends Auth.Request | undefined>(asked: Asked<R, Q>) {
    return RequestContext.use((context) => {
      const { handle, model } = asked
      const { caller } = context
      const target = Intake.oversizedModel(model) === undefined ? asked.target ?? engine.resolve(model) : undefined
      context.model.set(Intake.logged(model))
      if (target === undefined) {
        return Effect.match(auth.limit(caller), {
          onFailure: (answer) => notedFailure(context, answer),
          onSuccess: () => notedFailure(context, notFoundAnswer(model, caller))
        })
      }
      // A request without a gateway key (a gateway that requires none, or an open path) has no limit or budget.
      if (caller === undefined) return handle(target, asked.request(context), context)
      const bounded = auth.bounded(caller, asked.request(context))
      return Effect.matchEffect(auth.admit(caller, model, target, bounded), {
        onFailure: (answer) => Effect.succeed(notedFailure(context, answer)),
        onSuccess: ({ lowered, request, settle }) => {
          context.settlement.set(settle)
          if (lowered !== undefined) context.lowered.set(lowered)
          return handle(target, request, context)
        }
      })
    })
  }

  return Admission.of({ admitted, failed })
})

/** The admission, over the `Configuration` and `ModelNames` provided. */
export const layer = Layer.effect(Admission, make)
