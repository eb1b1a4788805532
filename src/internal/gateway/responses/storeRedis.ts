/**
 * The gateway's kept responses (`StoredResponses`) in its shared store: each a Redis hash under
 * `<prefix>:responses:<id>` with Redis's own expiry, so that every instance reads, continues and deletes the same
 * responses and a restart loses none. A write and a deletion check the owner in the script that does them, so that
 * another key can never replace or delete a response it cannot read. An entry this version cannot read counts as
 * unknown.
 *
 * What they hold is bounded in total and per key, so that no key fills Redis (a full Redis refuses every write of every
 * store, every instance's limits and budgets with them): an index (`<prefix>:responses-index:*`) keeps each response's
 * bytes and owner, the totals, and the order they expire, which is the order they were put. A write drops the expired
 * responses (Redis forgot their hashes; the index still counts them), then its owner's oldest past its bound, then the
 * oldest of all past the total, in the same script.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Store from "../../../Store.js"
import * as OwnedIndex from "../../persistence/ownedIndex.js"
import { overKeys } from "../../persistence/script.js"
import { SharedStore } from "../../store/sharedStore.js"
import {
  boundsOf,
  bytesOf,
  ConversationJson,
  entryBytes,
  keyBound,
  type Service,
  StoredResponses,
  type StoreOptions,
  ToolsJson,
  ttlMillis,
  UpstreamJson
} from "./store.js"

// A response as a hash's fields: its owner, its JSON, its conversation's JSON, its session and its upstream's JSON
// (each empty for none), how many responses its chain holds, its tools' JSON, and how long it is kept (ms).
interface Entry {
  readonly owner: string
  readonly body: string
  readonly conversation: string
  readonly session: string
  readonly upstream: string
  readonly chain: number
  /** The tools its conversation made available, as JSON; empty for none. */
  readonly tools: string
  readonly ttl: number
}

/** The bounds a write keeps, in bytes, and the entry's size (what its fields hold). */
interface Bounds {
  readonly bytes: number
  readonly maxKeyBytes: number
  readonly maxBytes: number
}

// The index (`ownedIndex.ts`' steps), the last three keys: the order of all, each one's bytes and owner, the bytes of
// all and of each owner; an owner's order is `ownerPrefix .. owner`; an entry is `entryPrefix .. id`.
const index = `
local order, sizes, totals = KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS]
${OwnedIndex.steps}`

// KEYS: the entry, then the index (`index`). ARGV: the owner, the response's JSON, the conversation's JSON, the time to
// live (ms), the session, the upstream's JSON (each empty for none), the chain's length, the entry's bytes, the
// owner's bound, the total bound, the entries' key prefix, the owners' orders' key prefix, the entry's id, the tools'
// JSON (empty for none). Another owner's live entry stays as it is.
const putScript = overKeys(
  (entry: Entry, bounds: Bounds, prefixes: readonly [string, string], id: string) => [
    entry.owner,
    entry.body,
    entry.conversation,
    entry.ttl,
    entry.session,
    entry.upstream,
    entry.chain,
    bounds.bytes,
    bounds.maxKeyBytes,
    bounds.maxBytes,
    ...prefixes,
    id,
    entry.tools
  ],
  index + `
local owner, ttl, bytes = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[8])
local maxKey, maxAll = tonumber(ARGV[9]), tonumber(ARGV[10])
local entryPrefix, ownerPrefix, id = ARGV[11], ARGV[12], ARGV[13]
for _, gone in ipairs(redis.call("ZRANGEBYSCORE", order, "-inf", now, "LIMIT", 0, 100)) do
  drop(gone, entryPrefix, ownerPrefix)
end
local kept = redis.call("HGET", KEYS[1], "owner")
if kept and kept ~= owner then return 0 end
drop(id, entryPrefix, ownerPrefix)
-- Room for the response, by the owner's bound then the whole's.
keep(ownerPrefix .. owner, owner, math.huge, maxKey - bytes, entryPrefix, ownerPrefix)
keep(order, "*", math.huge, maxAll - bytes, entryPrefix, ownerPrefix)
redis.call("HSET", KEYS[1], "owner", owner, "body", ARGV[2], "conversation", ARGV[3], "session", ARGV[5],
  "upstream", ARGV[6], "chain", ARGV[7], "tools", ARGV[14])
redis.call("PEXPIRE", KEYS[1], ttl)
add(id, owner, bytes, now + ttl, ownerPrefix)
-- The index outlives its last entry by a minute, no more.
for _, key in ipairs({ order, sizes, totals, ownerPrefix .. owner }) do redis.call("PEXPIRE", key, ttl + 60000) end
return 1
`
)

// Entries kept before the index existed, taken into it so its bounds count them. KEYS: the index (`index`). ARGV: the
// entries' key prefix, the owners' orders' key prefix, then the ids found. An entry's bytes are its fields' and
// `entryBytes` (what `bytesOf` counts, near enough: its JSON's fields without their names), its place in the order
// when Redis will forget it. How many were taken in.
const adoptScript = overKeys(
  (prefixes: readonly [string, string], ids: ReadonlyArray<string>) => [...prefixes, ...ids],
  index + `
local entryPrefix, ownerPrefix = ARGV[1], ARGV[2]
local taken = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local key = entryPrefix .. id
  local owner = redis.call("HGET", key, "owner")
  -- PTTL counts from the clock as it reads it, which moves while the script runs: the time is read beside it, so
  -- that an entry's place is when it expires, whenever in the batch it is taken in.
  local time = redis.call("TIME")
  local ttl = redis.call("PTTL", key)
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  if owner and ttl > 0 and redis.call("HEXISTS", sizes, id) == 0 then
    local bytes = ${entryBytes}
    for _, field in ipairs({ "body", "conversation", "session", "upstream", "chain", "tools" }) do
      bytes = bytes + redis.call("HSTRLEN", key, field)
    end
    add(id, owner, bytes, now + ttl, ownerPrefix)
    for _, kept in ipairs({ order, sizes, totals, ownerPrefix .. owner }) do
      if redis.call("PTTL", kept) < ttl + 60000 then redis.call("PEXPIRE", kept, ttl + 60000) end
    end
    taken = taken + 1
  end
end
return taken
`
).withReturnType<number>()

// How many entries one SCAN step asks for, and so the most one adopting script takes in.
const scanBatch = 500

// KEYS: the entry, then the index (`index`). ARGV: the owner, the entries' key prefix, the owners' orders' key prefix,
// the entry's id. Whether the owner's entry was removed.
const removeScript = overKeys(
  (owner: string, prefixes: readonly [string, string], id: string) => [owner, ...prefixes, id],
  index + `
if redis.call("HGET", KEYS[1], "owner") == ARGV[1] then
  drop(ARGV[4], ARGV[2], ARGV[3])
  return 1
end
return 0
`
).withReturnType<number>()

const encodeConversation = Schema.encodeSync(ConversationJson)
const decodeConversation = Schema.decodeUnknownOption(ConversationJson)

const encodeUpstream = Schema.encodeSync(UpstreamJson)
const decodeUpstream = Schema.decodeUnknownOption(UpstreamJson)
const encodeTools = Schema.encodeSync(ToolsJson)
const decodeTools = Schema.decodeUnknownOption(ToolsJson)

// An owner as kept: JSON, so that no key's name can pass for none.
const ownerOf = (owner: string | undefined): string => JSON.stringify(owner ?? null)

// The responses of `store`'s Redis, each kept for `options.ttl`: `layerStoreRedis`'s.
const make = (store: Store.Store, options: StoreOptions = {}): Service => {
  const { connection } = store
  const ttl = Math.max(1, Math.ceil(ttlMillis(options)))
  const entryPrefix = `${connection.prefix}:responses:`
  const keyOf = (id: string) => `${entryPrefix}${id}`
  const indexOf = `${connection.prefix}:responses-index:`
  const prefixes = [entryPrefix, `${indexOf}owner:`] as const
  const indexKeys = [`${indexOf}order`, `${indexOf}sizes`, `${indexOf}bytes`]
  const keysOf = (id: string) => [keyOf(id), ...indexKeys]
  const put = connection.eval(putScript)
  const remove = connection.eval(removeScript)
  const adoptBatch = connection.eval(adoptScript)
  const bounds = boundsOf(options)
  // Entries an older version kept without the index: taken into it beside the first write, a SCAN batch at a time, so
  // the bounds count them from then on (not only once they expire). Done once per store, tried again after a failure;
  // beside, not before, so a write Redis answers late is still sent.
  let adoption: "none" | "running" | "done" = "none"
  const adopt = Effect.suspend(() => {
    if (adoption !== "none") return Effect.void
    adoption = "running"
    const step = (cursor: string): Effect.Effect<void, Store.StoreUnavailableError> =>
      Effect.flatMap(
        connection.send<readonly [string, ReadonlyArray<string>]>(
          "SCAN",
          cursor,
          "MATCH",
          `${entryPrefix}*`,
          "COUNT",
          String(scanBatch)
        ),
        ([next, found]) => {
          const ids = found.map((key) => key.slice(entryPrefix.length))
          const batch = ids.length === 0 ? Effect.void : adoptBatch(indexKeys, prefixes, ids)
          return next === "0" ? batch : Effect.andThen(batch, step(next))
        }
      )
    return Effect.onExit(step("0"), (exit) => Effect.sync(() => adoption = Exit.isSuccess(exit) ? "done" : "none"))
  })
  return {
    bounds,
    put: (id, owner, response) =>
      Effect.suspend(() => {
        const bytes = bytesOf(response)
        if (bytes > bounds.maxResponseBytes) return Effect.succeed(false)
        const entry: Entry = {
          owner: ownerOf(owner),
          body: response.body,
          conversation: encodeConversation(response.conversation),
          ttl,
          session: response.session ?? "",
          upstream: response.upstream === undefined ? "" : encodeUpstream(response.upstream),
          chain: response.chain ?? 1,
          tools: response.tools === undefined ? "" : encodeTools(response.tools)
        }
        const limits = { bytes, maxKeyBytes: keyBound(bounds, owner), maxBytes: bounds.maxBytes }
        return Effect.as(Effect.all([adopt, put(keysOf(id), entry, limits, prefixes, id)], { concurrency: 2 }), true)
      }),
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
          "chain",
          "tools"
        ),
        ([kept, body, conversation, session, upstream, chain, tools]) => {
          if (kept !== ownerOf(owner) || typeof body !== "string") return undefined
          const decoded = decodeConversation(conversation)
          if (Option.isNone(decoded)) return undefined
          // An upstream that does not decode (or none, from an older version) leaves the response continued whole.
          const upstreamRead = upstream === null || upstream === "" ? Option.none() : decodeUpstream(upstream)
          // Tools that do not decode (or none, from an older version) leave a later turn with the body's own.
          const toolsRead = tools === null || tools === "" ? Option.none() : decodeTools(tools)
          return {
            body,
            conversation: decoded.value,
            // An entry of an older version, which kept no length, counts as a chain's first.
            ...(Number(chain) > 1 ? { chain: Number(chain) } : {}),
            ...(typeof session === "string" && session !== "" ? { session } : {}),
            ...(Option.isSome(upstreamRead) ? { upstream: upstreamRead.value } : {}),
            ...(Option.isSome(toolsRead) ? { tools: toolsRead.value } : {})
          }
        }
      ),
    remove: (id, owner) => Effect.map(remove(keysOf(id), ownerOf(owner), prefixes, id), (removed) => removed > 0),
    usage: undefined
  }
}

/** The responses in `store`'s Redis, shared by every instance on it. */
export const layerStoreRedis = (options: StoreOptions = {}): Layer.Layer<StoredResponses, never, SharedStore> =>
  Layer.effect(StoredResponses, Effect.map(SharedStore, (store) => make(store, options)))
