/**
 * The responses the gateway keeps (`store`, on by default as on OpenAI's Responses API): each one's `response` object
 * and its whole conversation (without `instructions`, which a later turn does not inherit), which a request naming it
 * as `previous_response_id` continues on whichever deployment answers. A response is kept for `ttl` and is its key's:
 * another key is told it does not exist and cannot replace it (its id is random: `wire/openAiResponses/writer.ts`).
 * One a Responses deployment keeps upstream is kept with that deployment's id and key (`Upstream`), so that a request
 * continuing it sends that deployment only the new input; any other attempt sends the whole conversation.
 *
 * The responses are bounded by their bytes (`bytesOf`), per response, per chain (`maxChain`), per key (so that no key
 * fills the store) and in all. `StoredResponses` has two layers under one contract
 * (`test/contract/responsesStore.ts`): memory (`layerStoreMemory`, the least recently used going first, as
 * `persistence/bounded.ts` bounds every store), or the shared Redis store (`layerStoreRedis`), which every instance
 * sees and a restart does not lose, the oldest put going first.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Struct from "effect/Struct"
import { PreviousResponse } from "../../../ChatRequest.js"
import type { ChatResponse } from "../../../ChatResponse.js"
import { Message } from "../../../Message.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { definedFields } from "../../json.js"
import * as Bounded from "../../persistence/bounded.js"
import { type BodyTool, storedOf, WireTool } from "../../wire/openAiResponses/codec.js"

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
  /**
   * The tools its conversation made available beside each request's own (`additional_tools` items', those the
   * client's tool search loaded), as they came: a request continuing it is offered them too. Absent: none.
   */
  readonly tools?: ReadonlyArray<BodyTool> | undefined
}

/** How long responses are kept, and how much of them. */
export interface StoreOptions {
  /** Default: one hour. */
  readonly ttl?: Duration.Input | undefined
  /** In memory, how many at most. Default: 10 000. */
  readonly maxEntries?: number | undefined
  /** How many bytes of responses (`bytesOf`) at most, in memory or Redis. Default `defaults.maxBytes`. */
  readonly maxBytes?: number | undefined
  /**
   * How many bytes of one key's responses (counted as `maxBytes` counts them) at most. Default: a quarter of
   * `maxBytes`, and at least `maxResponseBytes`.
   */
  readonly maxKeyBytes?: number | undefined
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

/** A store's bounds (`StoreOptions`), defaults filled in. */
export interface Bounds {
  /** On one response: the least of `maxResponseBytes`, `maxKeyBytes` and `maxBytes`. */
  readonly maxResponseBytes: number
  readonly maxChain: number
  readonly maxKeyBytes: number
  readonly maxBytes: number
}

/** The bounds of `options`, defaults filled in. */
export const boundsOf = (options: StoreOptions): Bounds => {
  const maxBytes = options.maxBytes ?? defaults.maxBytes
  const maxResponseBytes = options.maxResponseBytes ?? defaults.maxResponseBytes
  const maxKeyBytes = options.maxKeyBytes ?? Math.max(Math.floor(maxBytes / 4), maxResponseBytes)
  return {
    maxResponseBytes: Math.min(maxResponseBytes, maxKeyBytes, maxBytes),
    maxChain: options.maxChain ?? defaults.maxChain,
    maxKeyBytes: Math.min(maxKeyBytes, maxBytes),
    maxBytes
  }
}

/** The bound on `owner`'s responses: a key's, or, without gateway keys (no owner), the whole store's. */
export const keyBound = (bounds: Bounds, owner: string | undefined): number =>
  owner === undefined ? bounds.maxBytes : bounds.maxKeyBytes

/** A kept response's conversation as JSON, as both stores keep it. */
export const ConversationJson = Schema.fromJsonString(Schema.toCodecJson(Schema.Array(Message)))

/** What a deployment keeps upstream of a response (`Upstream`) as JSON. */
export const UpstreamJson = Schema.fromJsonString(PreviousResponse.mapFields(Struct.omit(["messages"])))

/** The tools a kept response's conversation made available (`StoredResponse.tools`) as JSON. */
export const ToolsJson = Schema.fromJsonString(Schema.Array(WireTool))

const StoredJson = Schema.fromJsonString(Schema.toCodecJson(Schema.Struct({
  body: Schema.String,
  conversation: Schema.Array(Message),
  session: Schema.optional(Schema.String),
  upstream: Schema.optional(PreviousResponse.mapFields(Struct.omit(["messages"]))),
  chain: Schema.optional(Schema.Number),
  tools: Schema.optional(Schema.Array(WireTool))
})))
const encodeStored = Schema.encodeSync(StoredJson)
const decodeStored = Schema.decodeUnknownOption(StoredJson)

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/**
 * A response as the memory store holds it: the UTF-8 bytes of its JSON, in a buffer of their own, whose length is what
 * it holds (a string read from a request may hold twice its UTF-8 length, or keep the request's whole text alive).
 */
export const heldOf = ({ body, conversation, ...rest }: StoredResponse): Uint8Array =>
  utf8.encode(encodeStored({ body, conversation, ...definedFields(rest) }))

/** The response `heldOf` holds; none when it does not decode. */
export const fromHeld = (held: Uint8Array): StoredResponse | undefined =>
  Option.getOrUndefined(decodeStored(fromUtf8.decode(held)))

/**
 * What a response held in memory holds beyond its JSON's bytes (`heldOf`): its id, its entry, the map's slot and its
 * buffer's object. Measured, not computed (docs/performance.md); Redis's key, hash and index places count the same.
 */
export const entryBytes = 400

/**
 * What a response takes, counted as its bounds count it: the bytes (UTF-8) of it as JSON (`heldOf`), which the memory
 * store holds, and the Redis store holds in its fields, and what holding them takes beside (`entryBytes`).
 */
export const bytesOf = (response: StoredResponse): number => heldOf(response).byteLength + entryBytes

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

/** An owner's responses, as a scope of the store's bounds. */
interface Owner {
  readonly owner: string | undefined
}

interface Entry {
  readonly owner: string | undefined
  readonly held: Uint8Array
  readonly expires: number
}

/** What an entry counts (`bytesOf`). */
const countedOf = (entry: Entry): number => entry.held.byteLength + entryBytes

/** What a store in memory holds now: its responses and the bytes they hold (`bytesOf` each). */
export interface Usage {
  readonly entries: number
  readonly bytes: number
}

// A store in memory, its time in milliseconds from `now` (the gateway's `Clock`): `layerStoreMemory`'s.
const make = (now: () => number, options: StoreOptions = {}): Service => {
  const ttl = ttlMillis(options)
  const maxEntries = options.maxEntries ?? 10_000
  const bounds = boundsOf(options)
  const { maxBytes, maxResponseBytes } = bounds
  // In the order of their last use, the least recently used first: each `get` and `put` moves its entry last.
  const entries = new Map<string, Entry>()
  // The bytes held in all, and the responses and bytes of each owner.
  let bytes = 0
  const owned = new Map<string | undefined, Bounded.Held>()

  const count = (entry: Entry, sign: 1 | -1): void => {
    const size = sign * countedOf(entry)
    bytes += size
    const held = owned.get(entry.owner) ?? { count: 0, bytes: 0 }
    if (held.count + sign > 0) owned.set(entry.owner, { count: held.count + sign, bytes: held.bytes + size })
    else owned.delete(entry.owner)
  }
  const drop = (id: string, entry: Entry): void => {
    entries.delete(id)
    count(entry, -1)
  }
  // `owner`'s bound, then the whole store's.
  const boundsFor = (owner: Owner): ReadonlyArray<Bounded.Bound<Owner>> => [
    { scope: owner, count: Infinity, bytes: keyBound(bounds, owner.owner) },
    { scope: undefined, count: maxEntries, bytes: maxBytes }
  ]
  // The entries as `Bounded.keep` takes them in one go, the oldest the least recently used. A scope's search for its
  // oldest goes on from where its last stopped (the entries it passed are another owner's, or gone), so that letting
  // go of many of one owner's reads the entries once.
  const room = (): Bounded.Room<Owner, never> => {
    const searches = new Map<Owner | undefined, Iterator<[string, Entry]>>()
    return {
      held: (scope) =>
        Effect.sync(() =>
          scope === undefined ? { count: entries.size, bytes } : owned.get(scope.owner) ?? { count: 0, bytes: 0 }
        ),
      oldest: (scope) =>
        Effect.sync(() => {
          const search = searches.get(scope) ?? entries.entries()
          searches.set(scope, search)
          for (let next = search.next(); !next.done; next = search.next()) {
            const [id, entry] = next.value
            if (scope === undefined || entry.owner === scope.owner) return id
          }
          return undefined
        }),
      remove: (id) =>
        Effect.sync(() => {
          const entry = entries.get(id)
          if (entry !== undefined) drop(id, entry)
        })
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
    count(entry, -1)
    return undefined
  }

  return {
    bounds,
    put: (id, owner, response) =>
      Effect.suspend(() => {
        const at = now()
        const kept = entries.get(id)
        if (kept !== undefined && kept.owner !== owner && kept.expires > at) return Effect.succeed(true)
        if (kept !== undefined) drop(id, kept)
        const entry: Entry = { owner, held: heldOf(response), expires: at + ttl }
        if (countedOf(entry) > maxResponseBytes) return Effect.succeed(false)
        entries.set(id, entry)
        count(entry, 1)
        return Effect.as(Bounded.keep(room(), boundsFor({ owner })), true)
      }),
    get: (id, owner) =>
      Effect.sync(() => {
        const entry = live(id, owner)
        return entry === undefined ? undefined : fromHeld(entry.held)
      }),
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
