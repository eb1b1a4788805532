/**
 * The responses the gateway keeps (`store`, on by default as on OpenAI's Responses API): each one's `response`
 * object, as `GET /v1/responses/{id}` answers it, and its whole conversation (its request's messages but
 * `instructions`, which a later turn does not inherit, then its reply's), which a request naming it as its
 * `previous_response_id` continues on whichever deployment answers that one. A response is kept for `ttl` after it
 * completed; a response is its key's: with gateway keys, another key is told it does not exist, and cannot replace
 * it (a response's id repeats its request's `x-request-id`, which the client may choose).
 *
 * A response a Responses deployment answered and keeps upstream (`store` on it) is kept with that deployment's own id
 * of it, its provider and the key that made it (`Upstream`): a request continuing it carries them as its
 * `ChatRequest.previousResponse`, so that deployment, called with that key, is sent `previous_response_id` and only
 * the new input; any other attempt (another deployment or key, after a failover) sends the whole conversation.
 *
 * One interface, two stores: in memory (`make`, read on the gateway's `Clock`; past `maxEntries` the oldest goes
 * first), or in the gateway's shared store (`responsesStoreRedis.ts`), where every instance on the same Redis sees
 * the same responses and a restart loses none.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { PreviousResponse } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { Message } from "../../Message.js"
import type { StoreUnavailableError } from "../../Store.js"
import { storedOf } from "../providers/openAiResponses/wire.js"

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
  /** The session its request belonged to (`session.ts`), which a request continuing it belongs to as well. */
  readonly session?: string | undefined
  /** The response as its deployment keeps it upstream (`upstreamOf`), when it does. */
  readonly upstream?: Upstream | undefined
}

/** How long responses are kept, and how many at most. */
export interface StoreOptions {
  /** Default: one hour. */
  readonly ttl?: Duration.Input | undefined
  /** Default: 10 000. In Redis, the TTL alone bounds them. */
  readonly maxEntries?: number | undefined
}

/** The kept responses; `owner` is the gateway key's name (none without keys). */
export interface ResponsesStore {
  /** Keeps `response` as `owner`'s `id`, unless that id is another owner's live response. */
  readonly put: (
    id: string,
    owner: string | undefined,
    response: StoredResponse
  ) => Effect.Effect<void, StoreUnavailableError>
  /** The response `id` of `owner`, unless it is unknown, expired or another key's. */
  readonly get: (
    id: string,
    owner: string | undefined
  ) => Effect.Effect<StoredResponse | undefined, StoreUnavailableError>
  /** Whether `owner`'s response `id` was kept (and is no more). */
  readonly remove: (id: string, owner: string | undefined) => Effect.Effect<boolean, StoreUnavailableError>
}

/** The time to live of `options`, in milliseconds. */
export const ttlMillis = (options: StoreOptions): number =>
  Duration.toMillis(Duration.fromInputUnsafe(options.ttl ?? Duration.hours(1)))

interface Entry {
  readonly owner: string | undefined
  readonly response: StoredResponse
  readonly expires: number
}

/** A store in memory, its time in milliseconds from `now` (the gateway's `Clock`). */
export const make = (now: () => number, options: StoreOptions = {}): ResponsesStore => {
  const ttl = ttlMillis(options)
  const maxEntries = options.maxEntries ?? 10_000
  // In insertion order, which is expiry order: every entry lives for the same `ttl`.
  const entries = new Map<string, Entry>()

  const prune = (at: number): void => {
    for (const [id, entry] of entries) {
      if (entry.expires > at && entries.size <= maxEntries) return
      entries.delete(id)
    }
  }
  const live = (id: string, owner: string | undefined): Entry | undefined => {
    const entry = entries.get(id)
    if (entry === undefined || entry.owner !== owner) return undefined
    if (entry.expires > now()) return entry
    entries.delete(id)
    return undefined
  }

  return {
    put: (id, owner, response) =>
      Effect.sync(() => {
        const at = now()
        const kept = entries.get(id)
        if (kept !== undefined && kept.owner !== owner && kept.expires > at) return
        entries.delete(id)
        entries.set(id, { owner, response, expires: at + ttl })
        prune(at)
      }),
    get: (id, owner) => Effect.sync(() => live(id, owner)?.response),
    remove: (id, owner) => Effect.sync(() => live(id, owner) !== undefined && entries.delete(id))
  }
}
