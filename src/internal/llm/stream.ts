/**
 * `Llm.chatStream`: each attempt opens the provider's stream up to its first chunk, retried only before it; after it a
 * failure fails the stream. The source settles the token budget and the cost at the `Finish` chunk, and on close gives
 * back the key (with the stream's outcome) and the permit.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type * as ChatChunk from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { Usage } from "../../ChatResponse.js"
import type { LlmError } from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import * as RateLimiter from "../../RateLimiter.js"
import * as Telemetry from "../telemetry.js"
import * as ChunkSources from "../transport/chunkSource.js"
import {
  describeAttempt,
  type Due,
  dueOf,
  type Failures,
  type Held,
  hold,
  inCallSpan,
  letGo,
  reconcile,
  retrying,
  withinDeadline
} from "./attempt.js"
import { type Env, invalidChat, withModel } from "./service.js"
import { estimateStreamUsage, isMissing, makeReplyCounter, tokenizer, withFinishCost } from "./usage.js"

type Batch = ChunkSources.Batch

/** A stream's attempt after its first chunk, which is still in `pull`; closing `scope` aborts the request. */
interface Opened {
  readonly pull: Pull.Pull<Batch, LlmError>
  readonly scope: Scope.Closeable
  readonly held: Held
  readonly attemptSpan: Tracer.Span | undefined
}

// The provider's stream, read up to its first chunk within the request's
// timeout (a client's timeout bounds a stream until its first chunk).
function openFirst(env: Env, request: ChatRequest, credentials: Credentials, scope: Scope.Scope) {
  return ChunkSources.openFirst(
    env.client.chatStream(request, credentials),
    scope,
    ChunkSources.endedEmpty(env.client.provider, request.model ?? ""),
    ChunkSources.startingWith
  )
}

// One attempt at a stream, all before the deadline and in the attempt's span: fails, letting go of everything (the
// request first), before the first chunk; after it, the pull, the span and what the attempt holds belong to the stream.
// Untraced (`Held.traced`), no span is made, and the attempt opens in this same step.
function openAttempt(env: Env, request: ChatRequest, due: Due, callSpan: Tracer.Span | undefined) {
  return (attempt: number, failures: Failures | undefined) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        hold(env, request, due, () => RateLimiter.estimateTokens(request), failures),
        (held) => {
          const open = (attemptSpan: Tracer.Span | undefined) => {
            const scope = Scope.makeUnsafe()
            return Effect.onError(
              Effect.map(
                restore(
                  withinDeadline(env, request, due, (bound) => openFirst(env, bound, held.lease.credentials, scope))
                ),
                (pull): Opened => ({ pull, scope, held, attemptSpan })
              ),
              (cause) => {
                const exit = Exit.failCause(cause)
                return Effect.andThen(Scope.close(scope, exit), letGo(env, held, exit))
              }
            )
          }
          return Telemetry.spannedWhen(held.traced, () => ({
            name: Telemetry.llmAttempt,
            parent: callSpan,
            describe: describeAttempt(env, request, attempt, held),
            handedOn: true
          }), open)
        }
      )
    )
}

// The Finish chunk's reply and usage on the call span.
function annotateFinish(span: Tracer.Span, finish: ChatChunk.Finish, usage: Usage) {
  Telemetry.annotateReply(span, finish)
  Telemetry.annotateUsage(span, usage)
}

// The stream after its first chunk: settles the token budget at the Finish chunk (inserting an estimated Usage chunk
// when the provider sent none), puts the final cost on it, and on close gives back the key with the stream's outcome.
function settledSource(
  env: Env,
  request: ChatRequest,
  opened: Opened,
  callSpan: Tracer.Span | undefined
): ChunkSources.ChunkSource {
  const { attemptSpan, held, scope } = opened
  const reply = makeReplyCounter()
  let usage: Usage | undefined
  let outcome: Exit.Exit<unknown, LlmError> = Exit.void
  function settle(chunk: Batch): Effect.Effect<Batch> {
    let finish: ChatChunk.Finish | undefined
    for (const item of chunk) {
      if (item._tag === "Usage") usage = item.usage
      else if (item._tag === "Finish") finish = item
      reply.add(item)
    }
    if (finish === undefined) return reply.waiting() ? Effect.as(tokenizer, chunk) : Effect.succeed(chunk)
    if (!isMissing(usage)) {
      const priced = withFinishCost(env, request, finish, usage!)
      if (callSpan !== undefined) annotateFinish(callSpan, priced, usage!)
      const settled = priced === finish ? chunk : Arr.map(chunk, (item) => (item === finish ? priced : item))
      return held.budget === undefined ? Effect.succeed(settled) : Effect.as(reconcile(held, usage), settled)
    }
    return Effect.map(estimateStreamUsage(request, reply, usage), (estimated): Batch => {
      const before = chunk.filter((item) => item._tag !== "Finish" && item._tag !== "Usage")
      const priced = withFinishCost(env, request, finish, estimated)
      if (callSpan !== undefined) annotateFinish(callSpan, priced, estimated)
      const last: Batch = [{ _tag: "Usage", usage: estimated }, priced]
      return Arr.appendAll(before, last)
    })
  }
  // Traced, the attempt's span is current while the provider's stream is read (a skipped event's span event goes
  // there). One step a pull: a batch is settled, a failure (not the end) kept as the stream's outcome.
  const pull = Effect.matchCauseEffect(
    Telemetry.under(opened.pull, attemptSpan),
    {
      onFailure: (cause) => {
        const failure = Cause.findError(cause)
        if (Result.isSuccess(failure) && !Cause.isDone(failure.success)) outcome = Exit.fail(failure.success)
        return Effect.failCause(cause)
      },
      onSuccess: settle
    }
  )
  // Untraced, there is no span to end: the close is the request's scope and what the attempt holds.
  const traced = attemptSpan !== undefined || callSpan !== undefined
  const close = Effect.suspend(() => {
    const letGoAll = Effect.andThen(Scope.close(scope, outcome), letGo(env, held, outcome))
    return traced
      ? Effect.andThen(letGoAll, Effect.andThen(Telemetry.end(attemptSpan, outcome), Telemetry.end(callSpan, outcome)))
      : letGoAll
  })
  return { pull, close }
}

// The stream's source, opened up to its first chunk in the call's span:
// retried before it, settled (key, permit, budget, cost) after it.
function openSource(env: Env, input: ChatRequest): Effect.Effect<ChunkSources.ChunkSource, LlmError> {
  const invalid = invalidChat(input, env.client.provider, env.model)
  if (invalid !== undefined) return Effect.fail(invalid)
  const request = withModel(env, input)
  return inCallSpan(env, request, { operation: "chat", handedOn: true }, (call, clock) => {
    const due = dueOf(env, call.deadline, clock)
    const startedAt = due.clock.currentTimeMillisUnsafe()
    return (callSpan: Tracer.Span | undefined) =>
      Effect.map(
        retrying(env, request, due, openAttempt(env, request, due, callSpan), call.oneAttempt),
        (opened) => {
          const firstTokenMillis = due.clock.currentTimeMillisUnsafe() - startedAt
          Telemetry.annotate(callSpan, "llm_router.time_to_first_token_ms", firstTokenMillis)
          return settledSource(env, request, opened, callSpan)
        }
      )
  })
}

// A stream whose pull is its source's own: a caller that reads it through
// its channel's pull (a `Router`) gets that pull, with no stream around it.
export function chatStream(env: Env, input: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError> {
  return ChunkSources.streamFromSource(openSource(env, input))
}
