/**
 * A call's start: the deployments its address names, the router's call span
 * (`chat {model}`, `embeddings {model}`) and, for a whole answer (a chat, an
 * embedding), its attempts under the deadline it inherits and the router's own.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import type * as Tracer from "effect/Tracer"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { type LlmError, ModelNotFoundError } from "../../LlmError.js"
import { RouterCall } from "../routerCall.js"
import * as Telemetry from "../telemetry.js"
import type { State } from "./deployment.js"
import { type Core, Routing, type Sender } from "./routing.js"
import { provider } from "./settings.js"

/** The deployments `request`'s model names (every one, for none); `undefined` when it names nothing. */
export const membersOf = (core: Core, request: ChatRequest): ReadonlyArray<State> | undefined =>
  request.model === undefined ? core.everyone : core.addresses.get(request.model)

/** The error of a request whose model names no deployment, group or model. */
export const unknownAddress = (core: Core, request: ChatRequest) =>
  Effect.fail(
    new ModelNotFoundError({
      provider,
      model: request.model!,
      detail: `no deployment, group or model is named ${request.model}; known: ${[...core.addresses.keys()].join(", ")}`
    })
  )

/** The model a call span names: the address asked for, else the router's own model. */
const calledModel = (core: Core, request: ChatRequest): string | undefined => request.model ?? core.settings.model

/** The router's call span (a stream's handed on with the stream, which ends it when it closes). */
export const callSpan = (
  core: Core,
  request: ChatRequest,
  operation: Telemetry.Operation,
  handedOn: boolean
): Telemetry.SpanOf<unknown> => {
  const model = calledModel(core, request)
  return {
    name: Telemetry.callName(operation, model),
    describe: Telemetry.describeCall(operation, provider, request.model === model ? request : { ...request, model }),
    call: true,
    handedOn
  }
}

/** What a call is made of, with the fiber's clock and random source (a seeded one reproduces every pick). */
export const routing = <A>(
  core: Core,
  request: ChatRequest,
  members: ReadonlyArray<State>,
  sender: Sender<A>,
  traced: { readonly fiber: Fiber.Fiber<unknown, unknown>; readonly span: Tracer.Span | undefined }
): Routing<A> =>
  new Routing({
    core,
    request,
    address: request.model ?? core.settings.model ?? "",
    members,
    sender,
    clock: traced.fiber.getRef(Clock.Clock),
    random: traced.fiber.getRef(Random.Random),
    span: traced.span
  })

/**
 * Runs a whole call (a chat, an embedding) under the deadline it inherits and
 * the router's own; traced, in a call span with one span per attempt.
 */
export const run = <A>(
  core: Core,
  request: ChatRequest,
  sender: Sender<A>,
  operation: Telemetry.Operation
): Effect.Effect<A, LlmError> =>
  Effect.withFiber((fiber) => {
    const members = membersOf(core, request)
    if (members === undefined) return unknownAddress(core, request)
    return Telemetry.spanned(
      callSpan(core, request, operation, false),
      (span) => routing(core, request, members, sender, { fiber, span }).attempt({ outer: fiber.getRef(RouterCall) })
    ) as Effect.Effect<A, LlmError>
  })
