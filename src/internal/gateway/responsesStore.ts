/**
 * The responses the gateway keeps (`store`, on by default as on OpenAI's Responses API), in memory: each one's
 * `response` object, as `GET /v1/responses/{id}` answers it, and its whole conversation (its request's messages but
 * `instructions`, which a later turn does not inherit, then its reply's), which a request naming it as its
 * `previous_response_id` continues on whichever deployment answers that one. A response is kept for `ttl` after it
 * completed, read on the gateway's `Clock`; past `maxEntries` the oldest goes first. A response is its key's: with
 * gateway keys, another key is told it does not exist.
 */
import * as Duration from "effect/Duration"
import type { Message } from "../../Message.js"

/** A kept response. */
export interface StoredResponse {
  /** The `response` object's JSON. */
  readonly body: string
  /** The conversation up to and including its reply, without `instructions`. */
  readonly conversation: ReadonlyArray<Message>
  /** The session its request belonged to (`session.ts`), which a request continuing it belongs to as well. */
  readonly session?: string | undefined
}

/** How long responses are kept, and how many at most. */
export interface StoreOptions {
  /** Default: one hour. */
  readonly ttl?: Duration.Input | undefined
  /** Default: 10 000. */
  readonly maxEntries?: number | undefined
}

/** The kept responses; `owner` is the gateway key's name (none without keys). */
export interface ResponsesStore {
  readonly put: (id: string, owner: string | undefined, response: StoredResponse) => void
  /** The response `id` of `owner`, unless it is unknown, expired or another key's. */
  readonly get: (id: string, owner: string | undefined) => StoredResponse | undefined
  /** Whether `owner`'s response `id` was kept (and is no more). */
  readonly remove: (id: string, owner: string | undefined) => boolean
}

interface Entry {
  readonly owner: string | undefined
  readonly response: StoredResponse
  readonly expires: number
}

/** A store in memory, its time in milliseconds from `now` (the gateway's `Clock`). */
export const make = (now: () => number, options: StoreOptions = {}): ResponsesStore => {
  const ttl = Duration.toMillis(Duration.fromInputUnsafe(options.ttl ?? Duration.hours(1)))
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
    put: (id, owner, response) => {
      const at = now()
      entries.delete(id)
      entries.set(id, { owner, response, expires: at + ttl })
      prune(at)
    },
    get: (id, owner) => live(id, owner)?.response,
    remove: (id, owner) => live(id, owner) !== undefined && entries.delete(id)
  }
}
