/**
 * The model names a caller is told of: those its key may call, and the refusal of a name that is not one of them (or
 * longer than the gateway takes).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import type { Caller } from "../access/caller.js"
import type { ModelEntry } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import * as Intake from "../intake.js"
import { errorResponse } from "./answers.js"
import { Configuration } from "./configuration.js"

/** The model names a caller is told of. */
export interface Service {
  /** The answer to a `model` that names nothing `caller` may call. */
  readonly notFoundAnswer: (model: string, caller?: Caller) => Errors.ErrorAnswer
  /** That answer, in the gateway's own words. */
  readonly notFound: (model: string, caller?: Caller) => HttpServerResponse.HttpServerResponse
  /** The names a key may call, as the configuration lists them: all of them for a key not limited to some. */
  readonly visibleModels: (caller: Caller | undefined) => ReadonlyArray<ModelEntry>
}

/** The model names a caller is told of. */
export class ModelNames
  extends Context.Service<ModelNames, Service>()("effect-llm-router/gateway/serving/ModelNames")
{}

/** The model names of the configuration served. */
export const make = Effect.gen(function*() {
  const { engine } = yield* Configuration
  const known = engine.models.map((model) => model.id)

  // A key limited to some models is told of those only; a name longer than the gateway takes is refused by its length.
  function notFoundAnswer(model: string, caller?: Caller) {
    const oversized = Intake.oversizedModel(model)
    return oversized !== undefined
      ? Errors.modelTooLong(oversized, Intake.maxModelBytes)
      : Errors.modelNotFound(model, caller?.models === undefined ? known : [...caller.models])
  }

  function notFound(model: string, caller?: Caller) {
    return errorResponse(notFoundAnswer(model, caller))
  }

  function visibleModels(caller: Caller | undefined): ReadonlyArray<ModelEntry> {
    const models = caller?.models
    return models === undefined ? engine.models : engine.models.filter((model) => models.has(model.id))
  }

  return ModelNames.of({ notFoundAnswer, notFound, visibleModels })
})

/** The model names, over the `Configuration` provided. */
export const layer = Layer.effect(ModelNames, make)
