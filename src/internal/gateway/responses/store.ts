/**
 * The responses the gateway keeps (`store`, on by default as on OpenAI's Responses API): each one's `response`
 * object, as `GET /v1/responses/{id}` answers it, and its whole conversation (its request's messages but
 * `instructions`, which a later turn does not inherit, then its reply's), which a request naming it as its
 * `previous_response_id` continues on whichever deployment answers that one. A response is kept for `ttl` after it
 * completed; a response is its key's: with gateway keys, another key is told it does not exist, and cannot replace
 * it (its id is random: `responses/render.ts`).
 *
 * A response a Responses deployment answered and keeps upstream (`store` on it) is kept with that deployment's own id
 * of it, its provider and the key that made it (`Upstream`): a request continuing it carries them as its
 * `ChatRequest.previousResponse`, so that deployment, called with that key, is sent `previous_response_id` and only
 * the new input; any other attempt (another deployment or key, after a failover) sends the whole conversation.
 *
 * A response is bounded by bytes: one larger than `maxResponseBytes` (its body and its conversation) is not kept, and
 * a chain of responses continued from one another ends at `maxChain` responses (`responses/route.ts` refuses a
 * request that continues it past either). One store service, `StoredResponses`, whose steps are a response's
 * (`put`, `get`, `remove`), and two layers of it, which the gateway provides as it is configured: in memory
 * (`layerStoreMemory`, read on the gateway's `Clock`), within a budget of `maxBytes` and `maxEntries`, the least
 * recently used going first; or in the gateway's shared store (`layerStoreRedis`, `responses/storeRedis.ts`), where
 * every instance on the same Redis sees the same responses and a restart of an instance loses none, each bounded by
 * the bounds above and its time to live. Both keep one contract (`test/contract/responsesStore.ts`).
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { PreviousResponse } from "../../../ChatRequest.js"
import type { ChatResponse } from "../../../ChatResponse.js"
import type { Message } from "../../../Message.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { storedOf } from "../../codec/openAiResponses.js"

/** A response as the deployment that answered it keeps it: its own id, its provider and the key that made it. */
export type Upstream = Omit<PreviousResponse, "messages">

/**
 * What of a reply (a whole one, or a stream's `Finish`) its deployment keeps upstream: the reply of a Responses
 * deployment with `store` that names its key, else nothing.
 */
export const upstreamOf = (
  reply: Pick<ChatResponse, "id" | "provider" | "keyId" | "providerMetadata">
): Upstream | undefined =>
  reply.id !== "" && reply.keyId !== undefined && storedOf(reply.providerMetadata)
    ? { id: reply.id, provider: reply.provider, keyId: reply.keyId }
    : undefined

/** A kept response. */
export interface StoredResponse {
  /** The `response` object's JSON. */
  readonly body: string
  /** The conversation up to and including its reply, without `instructions`. */
  readonly conversation: ReadonlyArray<Message>
  /** The session its request belonged to (`intake.ts`), which a request continuing it belongs to as well. */
  readonly session?: string | undefined
  /** The response as its deployment keeps it upstream (`upstreamOf`), when it does. */
  readonly upstream?: Upstream | undefined
  /** How many responses its chain holds, itself included; absent: 1 (a response that continues none). */
  readonly chain?: number | undefined
}

/** How long responses are kept, and how much of them. */
export interface StoreOptions {
  /** Default: one hour. */
  readonly ttl?: Duration.Input | undefined
  /** In memory, how many at most. Default: 10 000. */
  readonly maxEntries?: number | undefined
  /** In memory, how many bytes of responses (`bytesOf`) at most. Default `defaults.maxBytes`. */
  readonly maxBytes?: number | undefined
  /** The most bytes one response (`bytesOf`: its body and its whole conversation) may take. */
  readonly maxResponseBytes?: number | undefined
  /** The most responses one chain (`StoredResponse.chain`) may hold. */
  readonly maxChain?: number | undefined
}

/** The bounds a store has unless told otherwise: sized for a small machine. */
export const defaults = {
  maxBytes: 64 * 1024 * 1024,
  maxResponseBytes: 4 * 1024 * 1024,
  maxChain: 100
} as const

/** A store's bounds on one response and one chain (`StoreOptions`). */
export interface Bounds {
  readonly maxResponseBytes: number
  readonly maxChain: number
}

/** The bounds of `options`, defaults filled in. */
export const boundsOf = (options: StoreOptions): Bounds => ({
  maxResponseBytes: options.maxResponseBytes ?? defaults.maxResponseBytes,
  maxChain: options.maxChain ?? defaults.maxChain
})

/**
 * What a response takes, counted as its bounds count it: the bytes (UTF-8) of its body, of its conversation as JSON,
 * of its session and of its upstream's ids.
 */
export const bytesOf = (response: StoredResponse): number =>
  Buffer.byteLength(response.body) + Buffer.byteLength(JSON.stringify(response.conversation)) +
  Buffer.byteLength(response.session ?? "") +
  (response.upstream === undefined
    ? 0
    : Buffer.byteLength(response.upstream.id) + Buffer.byteLength(response.upstream.keyId))

/** The kept responses' steps; `owner` is the gateway key's name (none without keys). */
export interface Service {
  /** Its bounds on one response and one chain, which a request continuing a chain is checked against first. */
  readonly bounds: Bounds
  /**
   * Keeps `response` as `owner`'s `id`, unless that id is another owner's live response; false when it is larger
   * (`bytesOf`) than `bounds.maxResponseBytes`, and so not kept.
   */
  readonly put: (
    id: string,
    owner: string | undefined,
    response: StoredResponse
  ) => Effect.Effect<boolean, StoreUnavailableError>
  /** The response `id` of `owner`, unless it is unknown, expired or another key's. */
  readonly get: (
    id: string,
    owner: string | undefined
  ) => Effect.Effect<StoredResponse | undefined, StoreUnavailableError>
  /** Whether `owner`'s response `id` was kept (and is no more). */
  readonly remove: (id: string, owner: string | undefined) => Effect.Effect<boolean, StoreUnavailableError>
  /** What the store holds now, for the gateway's gauges, when it knows it without asking a server (in memory). */
  readonly usage: (() => Usage) | undefined
}

/** The store of the gateway's kept responses, which the Responses routes read. */
export class StoredResponses extends Context.Service<StoredResponses, Service>()(
  "effect-llm-router/Gateway/StoredResponses"
) {}

/** The time to live of `options`, in milliseconds. */
export const ttlMillis = (options: StoreOptions): number =>
  Duration.toMillis(Duration.fromInputUnsafe(options.ttl ?? Duration.hours(1)))

interface Entry {
  readonly owner: string | undefined
  readonly response: StoredResponse
  readonly bytes: number
  readonly expires: number
}

/** What a store in memory holds now: its responses and their bytes (`bytesOf`). */
export interface Usage {
  readonly entries: number
  readonly bytes: number
}

/** A store in memory, which tells what it holds. */
export interface MemoryStore extends Service {
  readonly usage: () => Usage
}

/** A store in memory, its time in milliseconds from `now` (the gateway's `Clock`). */
export const make = (now: () => number, options: StoreOptions = {}): MemoryStore => {
  const ttl = ttlMillis(options)
  const maxEntries = options.maxEntries ?? 10_000
  const maxBytes = options.maxBytes ?? defaults.maxBytes
  const bounds = boundsOf(options)
  const { maxResponseBytes } = bounds
  // In the order of their last use, the least recently used first: each `get` and `put` moves its entry last.
  const entries = new Map<string, Entry>()
  let bytes = 0

  const drop = (id: string, entry: Entry): void => {
    entries.delete(id)
    bytes -= entry.bytes
  }
  // The least recently used go until the rest is within the budget.
  const evict = (): void => {
    for (const [id, entry] of entries) {
      if (bytes <= maxBytes && entries.size <= maxEntries) return
      drop(id, entry)
    }
  }
  const live = (id: string, owner: string | undefined): Entry | undefined => {
    const entry = entries.get(id)
    if (entry === undefined || entry.owner !== owner) return undefined
    entries.delete(id)
    if (entry.expires > now()) {
      entries.set(id, entry)
      return entry
    }
    bytes -= entry.bytes
    return undefined
  }

  return {
    bounds,
    put: (id, owner, response) =>
      Effect.sync(() => {
        const size = bytesOf(response)
        const at = now()
        const kept = entries.get(id)
        if (kept !== undefined && kept.owner !== owner && kept.expires > at) return true
        if (kept !== undefined) drop(id, kept)
        if (size > maxResponseBytes) return false
        entries.set(id, { owner, response, bytes: size, expires: at + ttl })
        bytes += size
        evict()
        return true
      }),
    get: (id, owner) => Effect.sync(() => live(id, owner)?.response),
    remove: (id, owner) =>
      Effect.sync(() => {
        const entry = live(id, owner)
        if (entry === undefined) return false
        drop(id, entry)
        return true
      }),
    usage: () => ({ entries: entries.size, bytes })
  }
}

/** The responses in this process' memory, on the `Clock`. */
export const layerStoreMemory = (options: StoreOptions = {}): Layer.Layer<StoredResponses> =>
  Layer.effect(
    StoredResponses,
    Effect.clockWith((clock) => Effect.succeed(make(() => clock.currentTimeMillisUnsafe(), options)))
  )
