/**
 * The gateway's kept responses (`responses/store.ts`'s `StoredResponses`) in its shared store: each one a Redis hash
 * (its owner, its `response` JSON, its conversation's JSON, its session, what its deployment keeps upstream and its
 * chain's length), none larger than the store's bound on one response, under `<prefix>:responses:<id>`, with Redis' own
 * expiry, so every instance on the same Redis reads, continues and deletes the same responses, and a restart loses
 * none. A write and a deletion check the owner in the script that does them, so another key can never replace or delete
 * a response it cannot read. An entry this version cannot read counts as unknown.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redis from "effect/persistence/Redis"
import * as Schema from "effect/Schema"
import * as Struct from "effect/Struct"
import { PreviousResponse } from "../../../ChatRequest.js"
import { Message } from "../../../Message.js"
import type * as Store from "../../../Store.js"
import { boundsOf, bytesOf, type Service, StoredResponses, type StoreOptions, ttlMillis } from "./store.js"

// A response as a hash's fields: its owner, its JSON, its conversation's JSON, its session and its upstream's JSON
// (each empty for none), how many responses its chain holds, and how long it is kept (ms).
interface Entry {
  readonly owner: string
  readonly body: string
  readonly conversation: string
  readonly session: string
  readonly upstream: string
  readonly chain: number
  readonly ttl: number
}

// KEYS: the entry. ARGV: the owner, the response's JSON, the conversation's JSON, the time to live (ms), the
// session, the upstream's JSON (each empty for none), the chain's length. Another owner's live entry stays as it is.
const putScript = Redis.script(
  (key: string, entry: Entry) => [
    key,
    entry.owner,
    entry.body,
    entry.conversation,
    entry.ttl,
    entry.session,
    entry.upstream,
    entry.chain
  ],
  {
    numberOfKeys: 1,
    lua: `
local kept = redis.call("HGET", KEYS[1], "owner")
if kept and kept ~= ARGV[1] then return 0 end
redis.call("DEL", KEYS[1])
redis.call("HSET", KEYS[1], "owner", ARGV[1], "body", ARGV[2], "conversation", ARGV[3], "session", ARGV[5],
  "upstream", ARGV[6], "chain", ARGV[7])
redis.call("PEXPIRE", KEYS[1], ARGV[4])
return 0
`
  }
)

// KEYS: the entry. ARGV: the owner. Whether the owner's entry was removed.
const removeScript = Redis.script((key: string, owner: string) => [key, owner], {
  numberOfKeys: 1,
  lua: `
if redis.call("HGET", KEYS[1], "owner") == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
`
}).withReturnType<number>()

const Conversation = Schema.fromJsonString(Schema.toCodecJson(Schema.Array(Message)))
const encodeConversation = Schema.encodeSync(Conversation)
const decodeConversation = Schema.decodeUnknownOption(Conversation)

const UpstreamJson = Schema.fromJsonString(PreviousResponse.mapFields(Struct.omit(["messages"])))
const encodeUpstream = Schema.encodeSync(UpstreamJson)
const decodeUpstream = Schema.decodeUnknownOption(UpstreamJson)

// An owner as kept: JSON, so that no key's name can pass for none.
const ownerOf = (owner: string | undefined): string => JSON.stringify(owner ?? null)

/** The responses of `store`'s Redis, each kept for `options.ttl`. */
export const make = (store: Store.Store, options: StoreOptions = {}): Service => {
  const { connection } = store
  const ttl = Math.max(1, Math.ceil(ttlMillis(options)))
  const keyOf = (id: string) => `${connection.prefix}:responses:${id}`
  const put = connection.eval(putScript)
  const remove = connection.eval(removeScript)
  const bounds = boundsOf(options)
  return {
    bounds,
    put: (id, owner, response) =>
      bytesOf(response) > bounds.maxResponseBytes ? Effect.succeed(false) : Effect.as(
        put(keyOf(id), {
          owner: ownerOf(owner),
          body: response.body,
          conversation: encodeConversation(response.conversation),
          ttl,
          session: response.session ?? "",
          upstream: response.upstream === undefined ? "" : encodeUpstream(response.upstream),
          chain: response.chain ?? 1
        }),
        true
      ),
    get: (id, owner) =>
      Effect.map(
        connection.send<ReadonlyArray<string | null>>(
          "HMGET",
          keyOf(id),
          "owner",
          "body",
          "conversation",
          "session",
          "upstream",
          "chain"
        ),
        ([kept, body, conversation, session, upstream, chain]) => {
          if (kept !== ownerOf(owner) || typeof body !== "string") return undefined
          const decoded = decodeConversation(conversation)
          if (Option.isNone(decoded)) return undefined
          // An upstream that does not decode (or none, from an older version) leaves the response continued whole.
          const upstreamRead = upstream === null || upstream === "" ? Option.none() : decodeUpstream(upstream)
          return {
            body,
            conversation: decoded.value,
            // An entry of an older version, which kept no length, counts as a chain's first.
            ...(Number(chain) > 1 ? { chain: Number(chain) } : {}),
            ...(typeof session === "string" && session !== "" ? { session } : {}),
            ...(Option.isSome(upstreamRead) ? { upstream: upstreamRead.value } : {})
          }
        }
      ),
    remove: (id, owner) => Effect.map(remove(keyOf(id), ownerOf(owner)), (removed) => removed > 0),
    usage: undefined
  }
}

/** The responses in `store`'s Redis, shared by every instance on it. */
export const layerStoreRedis = (store: Store.Store, options: StoreOptions = {}): Layer.Layer<StoredResponses> =>
  Layer.succeed(StoredResponses, make(store, options))
