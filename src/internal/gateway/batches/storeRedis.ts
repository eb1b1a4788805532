/**
 * The batches' files and records (`store.ts`' `BatchStore`) in the shared Redis, for instances that share no database.
 * Each step is one Lua script, so it is atomic as the SQL store's transactions are, and keeps the same `bounds` the
 * same way (the owner's oldest let go of first).
 *
 * Under `<prefix>:batches:`: a file is a hash (`file:<id>`) Redis expires a day after it is written, indexed in the
 * order of their instants, all (`files:order`) and each owner's (`files:owner:<owner>`), with their sizes and owners
 * (`files:sizes`) and bytes (`files:bytes`). A batch's record is its id in the order of all (`batches:order`) and of
 * its list (`batches:list:<kind>:<owner>`), with its list (`batches:lists`). An owner is kept as JSON, so no key's id
 * passes for another's, nor for none.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as OwnedIndex from "../../persistence/ownedIndex.js"
import { overArgvOf } from "../../persistence/script.js"
import { SharedStore } from "../../store/sharedStore.js"
import { BatchStore, bounds, checked, type InputFile, type Store as Service } from "./store.js"

// A file dropped: its hash, and its place in the index (`ownedIndex.ts`' steps). ARGV[1]: the prefix.
const dropFile = `
local prefix = ARGV[1]
local order, sizes, totals = prefix .. "files:order", prefix .. "files:sizes", prefix .. "files:bytes"
${OwnedIndex.steps}
local files, owners = prefix .. "file:", prefix .. "files:owner:"
local function dropFile(id) drop(id, files, owners) end
`

/** A file's fields, and what bounds it, as the put script takes them. */
interface Put extends InputFile {
  /** The files kept are those of an instant from this one on. */
  readonly since: number
}

// ARGV: the prefix, the file's id, owner, name, content, bytes and instant, the first instant kept, the file's time to
// live (ms), then the owner's count and bytes bounds and the whole's.
const putScript = overArgvOf(
  (prefix: string, file: Put, ttl: number) => [
    prefix,
    file.id,
    file.owner,
    file.filename,
    file.content,
    file.bytes,
    file.createdAt,
    file.since,
    ttl,
    bounds.ownerFiles,
    bounds.ownerFileBytes,
    bounds.files,
    bounds.fileBytesInAll
  ],
  dropFile + `
local id, owner, bytes, created = ARGV[2], ARGV[3], tonumber(ARGV[6]), tonumber(ARGV[7])
for _, gone in ipairs(redis.call("ZRANGEBYSCORE", order, "-inf", "(" .. ARGV[8])) do dropFile(gone) end
local key = prefix .. "file:" .. id
redis.call("HSET", key, "owner", owner, "filename", ARGV[4], "content", ARGV[5], "bytes", bytes, "created", created)
redis.call("PEXPIRE", key, ARGV[9])
add(id, owner, bytes, created, owners)
keep(owners .. owner, owner, tonumber(ARGV[10]), tonumber(ARGV[11]), files, owners)
keep(order, "*", tonumber(ARGV[12]), tonumber(ARGV[13]), files, owners)
return 1
`
).withReturnType<number>()

// A batch's record dropped, and the lists kept within their counts. ARGV[1]: the prefix.
const dropBatch = `
local prefix = ARGV[1]
local order, lists = prefix .. "batches:order", prefix .. "batches:lists"
local function drop(id)
  redis.call("ZREM", order, id)
  local list = redis.call("HGET", lists, id)
  if not list then return end
  redis.call("HDEL", lists, id)
  redis.call("ZREM", prefix .. "batches:list:" .. list, id)
end
local function keep(zset, count)
  while redis.call("ZCARD", zset) > count do
    local oldest = redis.call("ZRANGE", zset, 0, 0)[1]
    if not oldest then return end
    drop(oldest)
  end
end
`

// ARGV: the prefix, the batch's id, its list (`<kind>:<owner>`), its instant, the first instant kept, then the list's
// count bound and the whole's. 0 when it was recorded already.
const recordScript = overArgvOf(
  (prefix: string, id: string, list: string, createdAt: number, since: number) => [
    prefix,
    id,
    list,
    createdAt,
    since,
    bounds.ownerBatches,
    bounds.batches
  ],
  dropBatch + `
local id, list = ARGV[2], ARGV[3]
for _, gone in ipairs(redis.call("ZRANGEBYSCORE", order, "-inf", "(" .. ARGV[5])) do drop(gone) end
if redis.call("HEXISTS", lists, id) == 1 then return 0 end
redis.call("HSET", lists, id, list)
redis.call("ZADD", order, ARGV[4], id)
redis.call("ZADD", prefix .. "batches:list:" .. list, ARGV[4], id)
keep(prefix .. "batches:list:" .. list, tonumber(ARGV[6]))
keep(order, tonumber(ARGV[7]))
return 1
`
).withReturnType<number>()

// ARGV: the prefix, the list (`<kind>:<owner>`), "1" and the cursor's id when there is one (else "0" and ""), the
// page's size, the first instant kept. Its reply: 1 when older ones follow (else 0), then the page's ids, the newest
// first; the order of equal instants that of the ids, as a SQL store's `ORDER BY created_at DESC, id DESC`.
const listedScript = overArgvOf(
  (prefix: string, list: string, after: string | undefined, limit: number, since: number) => [
    prefix,
    list,
    after === undefined ? "0" : "1",
    after ?? "",
    limit,
    since
  ],
  `
local key = ARGV[1] .. "batches:list:" .. ARGV[2]
local limit, since = tonumber(ARGV[5]), tonumber(ARGV[6])
local start = 0
if ARGV[3] == "1" then
  local rank = redis.call("ZREVRANK", key, ARGV[4])
  local score = redis.call("ZSCORE", key, ARGV[4])
  if not rank or tonumber(score) < since then return {0} end
  start = rank + 1
end
local found = redis.call("ZREVRANGE", key, start, start + limit, "WITHSCORES")
local page = {0}
for i = 1, #found, 2 do
  if tonumber(found[i + 1]) >= since then
    if #page > limit then page[1] = 1 else table.insert(page, found[i]) end
  end
end
return page
`
).withReturnType<ReadonlyArray<string | number>>()

// An owner as kept: JSON, so that no key's id can pass for another's.
const ownerOf = (owner: string): string => JSON.stringify(owner)

/** The files and records in `store`'s Redis, shared by every instance on it. */
export const layerRedis: Layer.Layer<BatchStore, never, SharedStore> = Layer.effect(
  BatchStore,
  Effect.map(SharedStore, ({ connection }): Service => {
    const prefix = `${connection.prefix}:batches:`
    const put = connection.eval(putScript)
    const record = connection.eval(recordScript)
    const listed = connection.eval(listedScript)
    const fileTtl = Duration.toMillis(bounds.fileTtl)
    const batchTtl = Duration.toMillis(bounds.batchTtl)
    return {
      putFile: (file, now) =>
        Effect.andThen(
          checked(file),
          Effect.asVoid(put(prefix, { ...file, owner: ownerOf(file.owner), since: now - fileTtl }, fileTtl))
        ),
      file: (id, owner, now) =>
        Effect.map(
          connection.send<ReadonlyArray<string | null>>(
            "HMGET",
            `${prefix}file:${id}`,
            "owner",
            "filename",
            "content",
            "bytes",
            "created"
          ),
          ([kept, filename, content, bytes, created]) =>
            kept !== ownerOf(owner) || typeof filename !== "string" || typeof content !== "string" ||
              Number(created) < now - fileTtl
              ? undefined
              : { id, owner, filename, content, bytes: Number(bytes), createdAt: Number(created) }
        ),
      record: (batch, now) =>
        Effect.asVoid(
          record(prefix, batch.id, `${batch.kind}:${ownerOf(batch.owner)}`, batch.createdAt, now - batchTtl)
        ),
      listed: (kind, owner, after, limit, now) =>
        Effect.map(
          listed(prefix, `${kind}:${ownerOf(owner)}`, after, limit, now - batchTtl),
          ([more, ...ids]) => ({ ids: ids.map(String), hasMore: Number(more) === 1 })
        ),
      newest: (limit, now) =>
        connection.send<ReadonlyArray<string>>(
          "ZRANGE",
          `${prefix}batches:order`,
          "+inf",
          String(now - batchTtl),
          "BYSCORE",
          "REV",
          "LIMIT",
          "0",
          String(limit)
        )
    }
  })
)
