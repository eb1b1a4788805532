/**
 * Streams through the router. The call loop opens a deployment's stream up to its first chunk (so a failure before it
 * falls over like a chat's), then hands the stream out holding its deployment until the consumer closes it. A failure
 * after the first chunk restarts the request on the next deployment behind a `Restart` chunk (`midStream: "restart"`),
 * asks it to continue from the text already sent behind a `Continue` chunk, its usage and cost counting the broken
 * attempts too (`"continue"`, `continuation.ts`), or fails the stream (`"fail"`). A reply broken in a tool call is not
 * continued: half a call's arguments cannot be asked for again. Every stream starts with a `Start` chunk naming the
 * deployment and model that answer (and the last failure before it), so the answering model is known from the first
 * chunk.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type * as ChatChunk from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { RateLimitSnapshot, Usage } from "../../ChatResponse.js"
import type { LlmError } from "../../LlmError.js"
import * as Pricing from "../../Pricing.js"
import { withAttempts } from "../llmError/withAttempts.js"
import { RouterCall } from "../routerCall.js"
import * as Telemetry from "../telemetry.js"
import * as ChunkSources from "../transport/chunkSource.js"
import * as Breaker from "./breaker.js"
import * as Continuation from "./continuation.js"
import { holdFor, release, settleStreamFailure, type State } from "./deployment.js"
import {
  callSpan,
  type Core,
  membersOf,
  type Restore,
  type Routing,
  routing as routingOf,
  type Sender,
  unknownAddress
} from "./routing.js"
import type { Settings } from "./settings.js"

/** A deployment's stream after its first chunk; closing `scope` lets go of what the stream holds. */
interface Opened {
  readonly first: ChunkSources.Batch
  readonly rest: Pull.Pull<ChunkSources.Batch, LlmError>
  readonly scope: Scope.Closeable
  readonly state: State
  readonly span: Tracer.Span | undefined
  /** The request it was opened with: a continuation turn's (`Continuation.isTurn`) has its reply judged. */
  readonly routed: ChatRequest
}

// Frees the deployment an opened stream holds and closes its scope with `exit` (and ends its attempt's span).
function close(opened: Opened, exit: Exit.Exit<void, LlmError>): Effect.Effect<void> {
  release(opened.state)
  return Effect.andThen(Scope.close(opened.scope, exit), Telemetry.end(opened.span, exit))
}

// A hedge's second stream to reach its first chunk, after the winner: nothing of it is used.
function discard(opened: Opened) {
  return close(opened, Exit.interrupt())
}

// A deployment's stream read through its own pull (in a scope of the attempt's) up to its first chunk. Any `Llm` is
// read this way: for one built by `Llm.make` or a router, the pull is its source's own.
function openSend(
  state: State,
  routed: ChatRequest,
  restore: Restore | undefined,
  span: Tracer.Span | undefined
): Effect.Effect<Opened, LlmError> {
  const scope = Scope.makeUnsafe()
  return Effect.onError(
    restore!(ChunkSources.openFirst(
      state.llm.chatStream(routed),
      scope,
      ChunkSources.endedEmpty(state.provider, state.model),
      (first, rest): Opened => ({ first, rest, scope, state, span, routed })
    )),
    (cause) => Scope.close(scope, Exit.failCause(cause))
  )
}

const streamSender: Sender<Opened> = { send: openSend, held: true, discard }

// An attempt that failed (before its first chunk, or after it), and its error.
interface Broken {
  readonly state: State
  readonly error: LlmError
}

// The chunk before the reply of `opened`, the call's attempt `attempt`, after `failed` broke with `error`; the stream's
// first chunk (`Start`) after `failed` failed before its first chunk, if one did.
function markerOf(
  tag: "Start" | "Restart" | "Continue",
  attempt: number,
  opened: Opened,
  failed: Broken | undefined
) {
  return {
    _tag: tag,
    attempt,
    deployment: opened.state.name,
    model: opened.state.model,
    ...(failed === undefined ? {} : { from: failed.state.name, error: failed.error._tag })
  } as ChatChunk.ChatChunk
}

// A continued reply's chunks: its usage and cost count the broken attempts' too (a broken attempt on a deployment
// without a price adds no cost).
function withCarried(batch: ChunkSources.Batch, sent: Continuation.Sent): ChunkSources.Batch {
  return Arr.map(batch, (item): ChatChunk.ChatChunk =>
    item._tag === "Usage"
      ? { _tag: "Usage", usage: Continuation.sum(sent.usage, item.usage) }
      : item._tag === "Finish" && item.cost !== undefined
      ? { ...item, cost: item.cost + sent.cost }
      : item)
}

// A Finish chunk's rate-limit headers holding `state` back: the hold, for the breaker's store, when there is one.
function heldBy(
  settings: Settings,
  state: State,
  rateLimit: RateLimitSnapshot,
  clock: Clock.Clock
): Effect.Effect<unknown> | undefined {
  const heldUntil = state.limitedUntil
  holdFor(settings, state, rateLimit, clock.currentTimeMillisUnsafe())
  return Breaker.reportHold(state, heldUntil)
}

// The call span at the reply's Finish chunk: the reply, its usage, the deployment that answered, the attempts made.
function annotateFinish(
  span: Tracer.Span,
  finish: ChatChunk.Finish,
  usage: Usage | undefined,
  deployment: string,
  attempts: number
): void {
  Telemetry.annotateReply(span, finish)
  if (usage !== undefined) Telemetry.annotateUsage(span, usage)
  Telemetry.annotate(span, "llm_router.deployment", deployment)
  Telemetry.annotate(span, "llm_router.attempts", attempts)
}

// What a continuation carries across a stream's attempts: the text forwarded (noted only when `noting`), whether a tool
// call went out, the usage reported and what the broken attempts sent and used; and a continuation turn's reply, held
// back until its opening is judged (`Continuation.judge`).
function makeContinuing(noting: boolean) {
  let text = ""
  let toolCalled = false
  let reported: Usage | undefined
  let carried: Continuation.Sent | undefined
  let judging: { readonly held: Array<ChatChunk.ChatChunk>; opening: string; readonly failed: Broken } | undefined
  // A batch as the deployment sent it, noted, then as it is given out: with the broken attempts' usage and cost.
  function given(batch: ChunkSources.Batch): ChunkSources.Batch {
    if (noting) {
      for (const item of batch) {
        if (item._tag === "TextDelta") text += item.text
        else if (item._tag === "ToolCallDelta") toolCalled = true
        else if (item._tag === "Usage") reported = item.usage
      }
    }
    return carried === undefined ? batch : withCarried(batch, carried)
  }
  // Whether a break can be continued: half a tool call's arguments cannot be asked for again.
  function possible(): boolean {
    return !toolCalled
  }
  // What the broken attempt on `failed` sent and used, carried on with what the attempts before it did.
  function carry(request: ChatRequest, failed: State): Effect.Effect<Continuation.Sent> {
    const before = carried ?? Continuation.nothingSent
    return Effect.map(Continuation.brokenUsage(request, reported, text.slice(before.text.length)), (usage) => {
      const cost = Pricing.cost(failed.price, usage)
      carried = { text, usage: Continuation.sum(before.usage, usage), cost: before.cost + (cost ?? 0) }
      return carried
    })
  }
  // The next attempt `opened` after `failed`: a continuation turn following text sent has its opening judged.
  function opened(next: Opened, marker: "Restart" | "Continue", failed: Broken): void {
    reported = undefined
    if (marker === "Continue" && carried !== undefined && carried.text !== "" && Continuation.isTurn(next.routed)) {
      judging = { held: [], opening: "", failed }
    }
  }
  function isJudging(): boolean {
    return judging !== undefined
  }
  function stopJudging(): void {
    judging = undefined
  }
  // A continuation turn's batch judged with those held before it: what is given out now (none while undecided). A
  // restarted or repeated opening is dropped; an answer given again in other words follows a `Restart` chunk, so a
  // consumer that can start over does, and one that cannot ends with an error.
  function judged(
    batch: ReadonlyArray<ChatChunk.ChatChunk>,
    ended: boolean,
    current: Opened,
    attempt: number
  ): Effect.Effect<ReadonlyArray<ChatChunk.ChatChunk>> {
    const held = judging!
    for (const item of batch) {
      held.held.push(item)
      if (item._tag === "TextDelta") held.opening += item.text
    }
    const verdict = Continuation.judge(carried!.text, held.opening, ended)
    if (verdict._tag === "Undecided") return Effect.succeed([])
    judging = undefined
    const annotations = { from: held.failed.state.name, deployment: current.state.name, dropped: 0 }
    if (verdict._tag === "Restarted") {
      text = ""
      carried = { ...carried!, text: "" }
      return Effect.as(
        Effect.logWarning("A continuation gave the answer again in other words: it restarts the stream.").pipe(
          Effect.annotateLogs(annotations)
        ),
        [markerOf("Restart", attempt, current, held.failed), ...held.held]
      )
    }
    const log = verdict.drop === 0
      ? Effect.logDebug("A continuation goes on from the text sent.")
      : Effect.logInfo("A continuation repeated text already sent: the repeat is dropped.")
    return Effect.as(
      log.pipe(Effect.annotateLogs({ ...annotations, dropped: verdict.drop })),
      Continuation.withoutText(held.held, verdict.drop)
    )
  }
  return { given, possible, carry, opened, isJudging, stopJudging, judged }
}

// The deployment's stream as the router gives it out: a Finish chunk's rate-limit headers hold the deployment back; a
// failure after the first chunk counts towards its cooldown, lets go of it, then restarts or continues elsewhere
// (unless the Finish chunk passed) or fails the stream; closing closes the scope with the stream's outcome (what a
// budget charges by).
function routedSource(
  core: Core,
  routing: Routing<Opened>,
  first: Opened,
  span: Tracer.Span | undefined
): ChunkSources.ChunkSource {
  const settings = core.settings
  const clock = routing.clock
  // Traced, the reply's usage, for the call span at its Finish chunk.
  let usage: Usage | undefined
  // The attempt the stream reads now; undefined once let go (between a failure and the restart's first chunk).
  let current: Opened | undefined = first
  const continues = settings.midStream === "continue"
  const continuing = makeContinuing(continues)
  // Its first batch until given out, then the pull of its rest: one pull that a restart switches over. The batch opens
  // with the deployment that answers, whether or not others failed before it.
  let head: ChunkSources.Batch | undefined = [
    markerOf("Start", routing.tried.length, first, routing.last),
    ...first.first
  ]
  let rest = first.rest
  let outcome: Exit.Exit<void, LlmError> = Exit.void
  // A failure after the Finish chunk comes after a whole reply: restarting would send a second one.
  let finished = false
  // When the pull in progress began, and the longest a pull has waited for the deployment (its learned idle limit).
  let pulledAt: number | undefined
  let longestWait = 0
  function letGo(exit: Exit.Exit<void, LlmError>): Effect.Effect<void> {
    const opened = current
    if (opened === undefined) return Effect.void
    current = undefined
    return close(opened, exit)
  }
  // Runs as the consumer's pull does; the next attempt is opened in an uninterruptible region of its own, so an opened
  // stream is always `current`. `marker`: the chunk the next attempt's reply follows (`Restart` or `Continue`).
  function goOn(
    failed: State,
    error: LlmError,
    marker: "Restart" | "Continue"
  ): Effect.Effect<ChunkSources.Batch, LlmError> {
    const broken = { state: failed, error }
    return Effect.withFiber((fiber) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.andThen(
          letGo(Exit.fail(error)),
          Effect.map(
            routing.attempt({ outer: fiber.getRef(RouterCall), restore, broken }),
            (opened): ChunkSources.Batch => {
              current = opened
              head = opened.first
              rest = opened.rest
              longestWait = 0
              continuing.opened(opened, marker, broken)
              return [markerOf(marker, routing.tried.length, opened, broken)]
            }
          )
        )
      )
    )
  }
  // A continuation: what the broken attempt sent and used carried on, and the next attempt asked for the rest.
  function continueAfter(failed: State, error: LlmError): Effect.Effect<ChunkSources.Batch, LlmError> {
    return Effect.flatMap(continuing.carry(routing.request, failed), (carried) => {
      routing.continuing = carried
      // A continuation every deployment refused as a request (a 400) fails as the stream broke, the refusals
      // listed among its attempts: the client's request was never at fault.
      return Effect.catch(
        goOn(failed, error, "Continue"),
        (final) => Effect.fail(final._tag === "InvalidRequestError" ? withAttempts(error, routing.attempts) : final)
      )
    })
  }
  // After a break counted against `failed`: a restart or a continuation elsewhere, or the stream's failure.
  function afterBreak(failed: State, error: LlmError): Effect.Effect<ChunkSources.Batch, LlmError> {
    if (!finished && settings.midStream === "restart") return goOn(failed, error, "Restart")
    if (!finished && continues && continuing.possible()) return continueAfter(failed, error)
    outcome = Exit.fail(error)
    return Effect.fail(error)
  }
  // A batch given out: noted for a continuation, its usage and cost with the broken attempts', its Finish learned from
  // (a hold its rate-limit headers set goes to the breaker's store before the batch does).
  function given(batch: ChunkSources.Batch): Effect.Effect<ChunkSources.Batch> {
    const chunk = continuing.given(batch)
    let held: Effect.Effect<unknown> | undefined
    for (const item of chunk) {
      if (span !== undefined && item._tag === "Usage") usage = item.usage
      if (item._tag !== "Finish") continue
      finished = true
      const state = current!.state
      state.learned?.gap.add(longestWait)
      if (span !== undefined) annotateFinish(span, item, usage, state.name, routing.tried.length)
      if (item.rateLimit !== undefined) held = heldBy(settings, state, item.rateLimit, clock)
      if (item.skippedEvents !== undefined) state.skippedEvents += item.skippedEvents
    }
    return held === undefined ? Effect.succeed(chunk) : Effect.as(held, chunk)
  }
  // Whether the reply ended while its opening was judged: what was held goes out, then the stream ends.
  let ended = false
  const pull: Pull.Pull<ChunkSources.Batch, LlmError> = Effect.matchEffect(
    Effect.suspend(() => {
      if (head === undefined) {
        if (ended) return Cause.done()
        pulledAt = clock.currentTimeMillisUnsafe()
        return rest
      }
      const batch = head
      head = undefined
      return Effect.succeed(batch)
    }),
    {
      onFailure: (error): Pull.Pull<ChunkSources.Batch, LlmError> => {
        if (Cause.isDone(error)) {
          if (!continuing.isJudging()) return Effect.fail(error)
          // The reply ended before its opening was judged: judged as it is.
          ended = true
          return Effect.flatMap(
            continuing.judged([], true, current!, routing.tried.length),
            (released) => Arr.isReadonlyArrayNonEmpty(released) ? given(released) : Cause.done()
          )
        }
        continuing.stopJudging()
        const failed = current!.state
        settleStreamFailure(settings, failed, error)
        const reported = Breaker.reportStreamFailure(settings, failed, error)
        if (reported === undefined) return afterBreak(failed, error)
        return Effect.andThen(reported, Effect.suspend(() => afterBreak(failed, error)))
      },
      onSuccess: (batch): Pull.Pull<ChunkSources.Batch, LlmError> => {
        if (pulledAt !== undefined) {
          longestWait = Math.max(longestWait, clock.currentTimeMillisUnsafe() - pulledAt)
          pulledAt = undefined
        }
        if (!continuing.isJudging()) return given(batch)
        const ends = batch.some((item) => item._tag === "Finish" || item._tag === "ToolCallDelta")
        return Effect.flatMap(
          continuing.judged(batch, ends, current!, routing.tried.length),
          (released) => Arr.isReadonlyArrayNonEmpty(released) ? given(released) : pull
        )
      }
    }
  )
  return {
    pull,
    close: Effect.suspend(() => Effect.andThen(letGo(outcome), Telemetry.end(span, outcome)))
  }
}

export function chatStream(core: Core) {
  // The call runs in this region (each stream opened through its `restore`), so no interruption lands between a stream
  // opened and the source handed out. Traced, the call's span lasts until the stream closes.
  function openSource(request: ChatRequest): Effect.Effect<ChunkSources.ChunkSource, LlmError> {
    return Effect.withFiber((fiber) => {
      const members = membersOf(core, request)
      if (members === undefined) return unknownAddress(core, request)
      const outer = fiber.getRef(RouterCall)
      return Telemetry.spanned(callSpan(core, request, "chat", true), (span) => {
        const routing = routingOf(core, request, members, streamSender, { fiber, span })
        const startedAt = routing.clock.currentTimeMillisUnsafe()
        return Effect.uninterruptibleMask((restore) =>
          Effect.map(routing.attempt({ outer, restore }), (first) => {
            const firstTokenMillis = routing.clock.currentTimeMillisUnsafe() - startedAt
            Telemetry.annotate(span, "llm_router.time_to_first_token_ms", firstTokenMillis)
            return routedSource(core, routing, first, span)
          })
        )
      })
    })
  }
  return (request: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError> =>
    ChunkSources.streamFromSource(openSource(request))
}
