/**
 * An optional cache of replies in front of any `Llm`: a request asked again within the time to live is answered from a
 * `CacheStore` without calling the provider. Off unless you add `ResponseCache.layer`.
 *
 * ```ts
 * const cached = ResponseCache.layer({ ttl: "1 hour" }).pipe(
 *   Layer.provide(Layer.merge(llmLayer, CacheStore.layerStoreMemory({ capacity: 500 })))
 * )
 * ```
 *
 * The key is `namespace` and a SHA-256 of the request's fields that make its reply (`canonical`); `user` and `timeout`
 * are not part of it. A request that leaves `model` to the layer below has no model in its key, so give each cached
 * `Llm` of a shared store its own `namespace`.
 *
 * A streamed hit is replayed as chunks; a streamed miss is stored when its `Finish` chunk arrives, never one that
 * failed, was cut or was abandoned. Failures are never stored, and a store that fails counts in `storeErrors` as a
 * miss: a cache never fails a call. Identical requests that miss at once are not merged: that would tie one caller's
 * interruption, timeout and retries to the others'. A hit's `cost` is that of the call stored; to count only what is
 * spent, put `UsageLedger.track` and `Budget.guard` below the cache. See docs/cost.md.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { hash } from "node:crypto"
import { CacheStore, type Service as Store } from "./CacheStore.js"
import * as ChatChunk from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import { canonicalJson } from "./internal/json.js"
import { Llm, type Service as LlmService } from "./Llm.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** How long a reply is served from the cache. Default: 1 hour. */
  readonly ttl?: Duration.Input
  /** Prefixed to every key, to keep apart the `Llm`s that share a store. Default: empty. */
  readonly namespace?: string
}

/**
 * Counts since the layer was built.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stats {
  readonly hits: number
  readonly misses: number
  /** Store reads and writes that failed (each read counted as a miss too). */
  readonly storeErrors: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly stats: Effect.Effect<Stats>
  /** The key a request is cached under. */
  readonly key: (request: ChatRequest) => string
}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ResponseCache } from "effect-llm-router"
 *
 * const hitRate = ResponseCache.ResponseCache.use((cache) =>
 *   Effect.map(cache.stats, ({ hits, misses }) => hits / Math.max(1, hits + misses))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class ResponseCache extends Context.Service<ResponseCache, Service>()("effect-llm-router/ResponseCache") {}

/**
 * The canonical form of the fields of a request that make its reply: equal for requests that differ only in key
 * order, `user` or `timeout`.
 *
 * @example
 * ```ts
 * import { Message, ResponseCache } from "effect-llm-router"
 *
 * const a = ResponseCache.canonical({ messages: [Message.user("Hi")], temperature: 0, user: "alice" })
 * const b = ResponseCache.canonical({ temperature: 0, messages: [Message.user("Hi")], user: "bob" })
 * // a === b: key order and `user` do not change a reply
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const canonical = (request: ChatRequest): string =>
  canonicalJson({
    messages: request.messages,
    model: request.model,
    temperature: request.temperature,
    topP: request.topP,
    maxTokens: request.maxTokens,
    stop: request.stop,
    tools: request.tools,
    toolChoice: request.toolChoice,
    parallelToolCalls: request.parallelToolCalls,
    responseFormat: request.responseFormat,
    reasoningEffort: request.reasoningEffort,
    seed: request.seed,
    providerOptions: request.providerOptions
  })

/**
 * The key of a request: `namespace`, then the SHA-256 of its canonical form.
 *
 * @example
 * ```ts
 * import { Message, ResponseCache } from "effect-llm-router"
 *
 * ResponseCache.key({ model: "gpt-4o-mini", messages: [Message.user("Hi")] }, "faq:") // "faq:chat:" and 64 hex digits
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const key = (request: ChatRequest, namespace = ""): string =>
  `${namespace}chat:${hash("sha256", canonical(request), "hex")}`

const defaultTtl: Duration.Input = "1 hour"

/**
 * Wraps `llm` with a cache over `store`; returns the wrapped `Llm` and the cache's own service (its counts).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CacheStore, Llm, Message, ResponseCache } from "effect-llm-router"
 *
 * // A cache for one part of the program; the Llm in context stays uncached.
 * const faq = Effect.gen(function*() {
 *   const store = yield* CacheStore.makeMemory({ capacity: 500 })
 *   const { llm, cache } = ResponseCache.make(yield* Llm.Llm, store, { ttl: "10 minutes", namespace: "faq:" })
 *   const reply = yield* llm.chat({ messages: [Message.user("What are your opening hours?")] })
 *   return { text: reply.text, stats: yield* cache.stats }
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  llm: LlmService,
  store: Store,
  options?: Options
): { readonly llm: LlmService; readonly cache: Service } => {
  const ttl = options?.ttl ?? defaultTtl
  const namespace = options?.namespace ?? ""
  let hits = 0
  let misses = 0
  let storeErrors = 0
  const keyOf = (request: ChatRequest) => key(request, namespace)

  const lookup = (cacheKey: string): Effect.Effect<ChatResponse | undefined> =>
    store.get(cacheKey).pipe(
      Effect.map(Option.getOrUndefined),
      Effect.catch(() =>
        Effect.sync(() => {
          storeErrors++
          return undefined
        })
      ),
      Effect.tap((found) =>
        Effect.sync(() => {
          if (found === undefined) misses++
          else hits++
        })
      )
    )
  const save = (cacheKey: string, response: ChatResponse) =>
    Effect.catch(store.set(cacheKey, response, ttl), () => Effect.sync(() => void storeErrors++))

  const chat: LlmService["chat"] = (request) =>
    Effect.suspend(() => {
      const cacheKey = keyOf(request)
      return Effect.flatMap(lookup(cacheKey), (found) =>
        found !== undefined
          ? Effect.succeed(found)
          : Effect.tap(llm.chat(request), (response) => save(cacheKey, response)))
    })

  const chatStream: LlmService["chatStream"] = (request) =>
    Stream.unwrap(Effect.suspend(() => {
      const cacheKey = keyOf(request)
      return Effect.map(lookup(cacheKey), (found) =>
        found !== undefined
          ? Stream.fromIterable(ChatChunk.fromResponse(found))
          : recording(llm.chatStream(request), (response) => save(cacheKey, response)))
    }))

  return {
    // Embeddings and token counts pass through: the cache holds chat replies only.
    llm: Llm.of({ chat, chatStream, embed: llm.embed, countTokens: llm.countTokens }),
    cache: ResponseCache.of({
      stats: Effect.sync(() => ({ hits, misses, storeErrors })),
      key: keyOf
    })
  }
}

// Passes the chunks through and hands the whole reply to `done` when the
// Finish chunk arrives, before that chunk goes on.
const recording = <E, R>(
  stream: Stream.Stream<ChatChunk.ChatChunk, E, R>,
  done: (response: ChatResponse) => Effect.Effect<void>
) =>
  Stream.suspend(() => {
    const accumulator = ChatChunk.makeAccumulator()
    let finished = false
    return Stream.mapArrayEffect(stream, (chunk) => {
      if (finished) return Effect.succeed(chunk)
      for (const item of chunk) {
        accumulator.add(item)
        if (item._tag === "Finish") finished = true
      }
      return finished ? Effect.as(done(accumulator.response()!), chunk) : Effect.succeed(chunk)
    })
  })

/**
 * A layer that puts a cache in front of the `Llm` below it, and provides the cache's counts as `ResponseCache`.

 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { CacheStore, type Llm, ResponseCache } from "effect-llm-router"
 *
 * declare const OpenAi: Layer.Layer<Llm.Llm>
 *
 * const Cached = ResponseCache.layer({ ttl: "1 hour" }).pipe(
 *   Layer.provide(Layer.merge(OpenAi, CacheStore.layerStoreMemory({ capacity: 500 })))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options?: Options): Layer.Layer<Llm | ResponseCache, never, Llm | CacheStore> =>
  Layer.effectContext(
    Effect.zipWith(Llm, CacheStore, (llm, store) => {
      const cached = make(llm, store, options)
      return Context.make(Llm, cached.llm).pipe(Context.add(ResponseCache, cached.cache))
    })
  )
