/**
 * How the store's Lua scripts are declared: over a list of keys that varies
 * per call (the keys come first, then the other arguments), reading Redis'
 * clock into `now` (epoch milliseconds) before their body.
 */
import * as Redis from "effect/persistence/Redis"

const readNow = `
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`

export const overKeys = <Rest extends ReadonlyArray<unknown>>(argv: (...rest: Rest) => ReadonlyArray<unknown>, lua: string) =>
  Redis.script((keys: ReadonlyArray<string>, ...rest: Rest) => [...keys, ...argv(...rest)], {
    numberOfKeys: (keys: ReadonlyArray<string>, ..._rest: Rest) => keys.length,
    lua: readNow + lua
  })
