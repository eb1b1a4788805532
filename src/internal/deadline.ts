/**
 * One deadline for a whole call, handed down from a caller that spans several
 * `Llm` calls (a `Router`'s attempts and fallbacks) to each `Llm`, which
 * bounds its own retries by it. An `Llm` already runs its retries under a
 * timer, so the router needs no timer (no forked fiber per call) of its own
 * when every deployment honours the deadline handed down.
 *
 * A service that honours deadlines takes one as an optional second argument
 * of `chat`, `chatStream` and `embed` (epoch milliseconds of the `Clock`),
 * and is marked with `honour`; the router calls it through `chat`,
 * `chatStream` and `embed` here. Neither a `Context.Reference` provided per
 * call (a new `Context` per call, and the fiber's cached view of it rebuilt)
 * nor a field on the request (a copy of the request per call, and an extra
 * hidden class that every wire encoder's reads then meet) is as cheap as an
 * argument. Such a service may also hand over a stream's
 * source opened up to its first chunk (`openStream`), which a router reads
 * without building a second `Stream`.
 *
 * A caller that runs a call uninterruptibly (a router, so that it settles its
 * bookkeeping however the call ends) hands down, as the third argument of
 * `chat`, the `Restore` that gives the call back its caller's
 * interruptibility. A service that honours it runs through it what must stay
 * interruptible (its provider call, its backoff), and needs no uninterruptible
 * region of its own per attempt; to any other service the router applies it
 * to the whole call.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { ChatChunk } from "../ChatChunk.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import type { ChatResponse } from "../ChatResponse.js"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "../Embedding.js"
import type { LlmError } from "../LlmError.js"
import type { ChunkSource } from "../ProviderClient.js"
import * as ChunkSources from "./chunkSource.js"
import { timeoutFail } from "./timeout.js"

/**
 * Gives an effect its caller's interruptibility back, inside a region that is
 * uninterruptible (as `Effect.uninterruptibleMask` hands out).
 */
export type Restore = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

/**
 * The calls of a service that honours a deadline: `at` is `Infinity` or
 * absent when none was handed down; `restore`, when present, says that the
 * caller runs `chat` uninterruptibly and how to run interruptibly again.
 */
export interface Honouring {
  readonly chat: (request: ChatRequest, at?: number, restore?: Restore) => Effect.Effect<ChatResponse, LlmError>
  readonly chatStream: (request: ChatRequest, at?: number) => Stream.Stream<ChatChunk, LlmError>
  readonly embed: (request: EmbeddingRequest, at?: number) => Effect.Effect<EmbeddingResponse, LlmError>
  /**
   * `chatStream`'s source, opened up to its first chunk (see
   * `chunkSource.openToFirst`), for a caller that reads it without a second
   * `Stream` (a `Router`). Optional: without it, `chatStream` is read.
   */
  readonly openStream?: (request: ChatRequest, at?: number) => Effect.Effect<ChunkSource, LlmError>
}

const honouring = new WeakSet<object>()

/** Marks a service whose calls take the deadline handed down as their second argument (what `Llm.make` builds). */
export const honour = <S extends Honouring>(service: S): S => {
  honouring.add(service)
  return service
}

export const honours = (service: object): boolean => honouring.has(service)

/** `decorated`, marked with `honour` when the service it wraps (and hands a deadline on to) is. */
export const honourLike = <S extends Honouring>(wrapped: object, decorated: S): S =>
  honouring.has(wrapped) ? honour(decorated) : decorated

// The calls below hand `at` to a service marked with `honour`; to any other
// service the extra argument means nothing, and it is not given.
const target = (service: object, at: number): Honouring | undefined =>
  at !== Infinity && honouring.has(service) ? service as Honouring : undefined

/**
 * `service.chat(request)`, with the deadline `at` handed down when the service
 * honours one. With `restore` (the caller runs uninterruptibly), a service
 * that honours deadlines is handed it too; any other's call runs through it.
 */
export const chat = (
  service: Pick<Honouring, "chat">,
  request: ChatRequest,
  at: number,
  restore?: Restore
): Effect.Effect<ChatResponse, LlmError> => {
  if (restore === undefined) return target(service, at)?.chat(request, at) ?? service.chat(request)
  return honouring.has(service) ? service.chat(request, at, restore) : restore(service.chat(request))
}

/** `service.chatStream(request)`, with the deadline `at` handed down when the service honours one. */
export const chatStream = (
  service: Pick<Honouring, "chatStream">,
  request: ChatRequest,
  at: number
): Stream.Stream<ChatChunk, LlmError> => target(service, at)?.chatStream(request, at) ?? service.chatStream(request)

/**
 * The stream of `service.chatStream(request)` opened up to its first chunk,
 * with the deadline `at` handed down when the service honours one: through
 * the service's `openStream` when it has one, else by reading its stream.
 */
export const openStream = (
  service: Pick<Honouring, "chatStream" | "openStream">,
  request: ChatRequest,
  at: number,
  ended: () => LlmError
): Effect.Effect<ChunkSource, LlmError> => {
  const own = honouring.has(service) ? service.openStream : undefined
  return own !== undefined
    ? own(request, at)
    : ChunkSources.openToFirst(ChunkSources.fromStream(chatStream(service, request, at)), ended)
}

/** `service.embed(request)`, with the deadline `at` handed down when the service honours one. */
export const embed = (
  service: Pick<Honouring, "embed">,
  request: EmbeddingRequest,
  at: number
): Effect.Effect<EmbeddingResponse, LlmError> => target(service, at)?.embed(request, at) ?? service.embed(request)

/** `self` bounded by `own` and by the deadline `at` handed down, whichever ends first. */
export const within = <A, E, E2>(
  self: Effect.Effect<A, E>,
  own: Duration.Duration,
  at: number,
  onTimeout: (timeout: Duration.Duration) => E2
): Effect.Effect<A, E | E2> =>
  at === Infinity
    ? timeoutFail(self, own, () => onTimeout(own))
    : Effect.clockWith((clock) => {
      const left = Duration.millis(Math.max(0, at - clock.currentTimeMillisUnsafe()))
      const bound = Duration.isLessThan(left, own) ? left : own
      return timeoutFail(self, bound, () => onTimeout(bound))
    })
