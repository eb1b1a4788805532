/**
 * The Lua steps of an index beside entries in Redis, each entry with an owner and a size, so one script can bound
 * them per owner and in all (kept responses, batch input files): sorted sets of all (`order`) and of each owner
 * (`ownerPrefix .. owner`), each entry's `"<bytes> <owner>"` in the hash `sizes`, and bytes of all (`"*"`) and per
 * owner in the hash `totals`. A script running them first sets the locals `order`, `sizes` and `totals`.
 *
 * `add(id, owner, bytes, score, ownerPrefix)` puts an entry in the index at `score`; `forget(id, ownerPrefix)` takes it
 * out; `drop(id, entryPrefix, ownerPrefix)` deletes its key too; `keep(zset, field, count, most, entryPrefix,
 * ownerPrefix)` drops the oldest of `zset` while it holds more than `count` entries or its total (`field`: `"*"` or the
 * owner) more than `most` bytes, as `bounded.ts` does over the memory and SQL stores.
 */
export const steps = `
local function add(id, owner, bytes, score, ownerPrefix)
  redis.call("ZADD", order, score, id)
  redis.call("ZADD", ownerPrefix .. owner, score, id)
  redis.call("HSET", sizes, id, bytes .. " " .. owner)
  redis.call("HINCRBY", totals, "*", bytes)
  redis.call("HINCRBY", totals, owner, bytes)
end
local function forget(id, ownerPrefix)
  local record = redis.call("HGET", sizes, id)
  if not record then return end
  local space = string.find(record, " ", 1, true)
  local bytes = tonumber(string.sub(record, 1, space - 1))
  local owner = string.sub(record, space + 1)
  redis.call("HDEL", sizes, id)
  redis.call("ZREM", order, id)
  redis.call("ZREM", ownerPrefix .. owner, id)
  redis.call("HINCRBY", totals, "*", -bytes)
  if redis.call("HINCRBY", totals, owner, -bytes) <= 0 then redis.call("HDEL", totals, owner) end
end
local function drop(id, entryPrefix, ownerPrefix)
  redis.call("DEL", entryPrefix .. id)
  forget(id, ownerPrefix)
end
local function keep(zset, field, count, most, entryPrefix, ownerPrefix)
  while redis.call("ZCARD", zset) > count or tonumber(redis.call("HGET", totals, field) or "0") > most do
    local oldest = redis.call("ZRANGE", zset, 0, 0)[1]
    if not oldest then return end
    drop(oldest, entryPrefix, ownerPrefix)
  end
end
`
