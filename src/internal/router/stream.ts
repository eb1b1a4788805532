/**
 * Streams through the router. The call loop opens a deployment's stream up
 * to its first chunk (so a failure before it falls over like a chat's), then
 * the stream is handed out holding its deployment until the consumer closes
 * it; a failure after the first chunk fails the stream.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as ChatChunk from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { type LlmError, StreamTruncatedError } from "../../LlmError.js"
import * as ChunkSources from "../chunkSource.js"
import { holdFor, release, settleStreamFailure, type State } from "./deployment.js"
import { type Core, type Restore, run, type Send } from "./routing.js"
import type { Settings } from "./settings.js"

/**
 * A deployment's stream after its first chunk: its pull (the first chunk
 * still in it), the scope the pull was taken in (closing it lets go of what
 * the stream holds), and the deployment.
 */
interface Opened {
  readonly pull: Pull.Pull<ChunkSources.Batch, LlmError>
  readonly scope: Scope.Closeable
  readonly state: State
}

// A deployment's stream, read through its own pull (taken in a scope of the
// attempt's, which holds what the stream holds) up to its first chunk, with
// the deployment it holds until the stream is closed. Any `Llm` is read this
// way: for one built by `Llm.make` or a router, the pull is its source's own.
const openSend = (restore: Restore): Send<Opened> => (state, routed) => {
  const scope = Scope.makeUnsafe()
  return Effect.onError(
    Effect.map(
      restore(ChunkSources.openToFirst(state.llm.chatStream(routed), scope, () =>
        new StreamTruncatedError({ provider: state.provider, model: state.model, detail: "the stream ended before any chunk" }))),
      (pull): Opened => ({ pull, scope, state })
    ),
    (cause) => Scope.close(scope, Exit.failCause(cause))
  )
}

// The deployment's stream as the router gives it out: a Finish chunk's
// rate-limit headers hold the deployment back, a failure after the first
// chunk counts towards its cooldown, and closing frees the deployment and
// closes the scope with the stream's outcome (what a budget charges by).
const routedSource = (settings: Settings, { pull, scope, state }: Opened, clock: Clock.Clock): ChunkSources.ChunkSource => {
  let outcome: Exit.Exit<void, LlmError> = Exit.void
  return {
    pull: Effect.matchEffect(pull, {
      onFailure: (error) => {
        if (!Cause.isDone(error)) {
          outcome = Exit.fail(error)
          settleStreamFailure(settings, state, clock, error)
        }
        return Effect.fail(error)
      },
      onSuccess: (chunk) => {
        for (const item of chunk) {
          if (item._tag === "Finish" && item.rateLimit !== undefined) holdFor(state, item.rateLimit, clock.currentTimeMillisUnsafe())
        }
        return Effect.succeed(chunk)
      }
    }),
    close: Effect.suspend(() => {
      release(state)
      return Scope.close(scope, outcome)
    })
  }
}

/** The router's `chatStream`. */
export const chatStream = (core: Core) => {
  // The call runs in this region (each deployment's stream opened through its
  // `restore`), so no interruption lands between a stream opened and the
  // source handed out.
  const openSource = (request: ChatRequest): Effect.Effect<ChunkSources.ChunkSource, LlmError> =>
    Effect.clockWith((clock) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.map(run(core, request, openSend(restore), true, restore), (opened) => routedSource(core.settings, opened, clock))
      )
    )
  return (request: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError> => ChunkSources.streamFromSource(openSource(request))
}
