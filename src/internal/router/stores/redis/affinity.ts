/**
 * The Redis backend of `Router.AffinityStore`: each pin a key with Redis' own expiry, and beside it one sorted set per
 * deployment of the sessions pinned to it, scored by expiry, which `counts` reads. Sessions are kept by their digest
 * (`router/affinity.ts`). Each step fails with `StoreUnavailableError` while Redis is away.
 */
import * as Effect from "effect/Effect"
import type { Pin, Pins, PinsOptions } from "../../../../Router.js"
import type { Connection } from "../../../../Store.js"
import type { Shared } from "../../../persistence/failOpen.js"
import { overKeys } from "../../../persistence/script.js"
import { digestOf } from "../../affinity.js"

// KEYS: the pin. ARGV: its time to live (ms), the pin as JSON, the prefix of the per-deployment sets, the session's
// member in them, the deployment. A session pinned elsewhere before leaves that deployment's set.
const pinScript = overKeys(
  (...argv: [ttl: number, json: string, sets: string, member: string, deployment: string]) => argv,
  `
local ttl = tonumber(ARGV[1])
local old = redis.call("GET", KEYS[1])
redis.call("SET", KEYS[1], ARGV[2], "PX", ttl)
if old then
  local was = cjson.decode(old).deployment
  if was ~= ARGV[5] then redis.call("ZREM", ARGV[3] .. was, ARGV[4]) end
end
local set = ARGV[3] .. ARGV[5]
redis.call("ZADD", set, now + ttl, ARGV[4])
redis.call("PEXPIRE", set, ttl)
return 0
`
)

// ARGV: the prefix of the per-deployment sets, then the deployments. The sessions pinned to each, the expired dropped.
const countScript = overKeys(
  (sets: string, deployments: ReadonlyArray<string>) => [sets, ...deployments],
  `
local out = {}
for i = 2, #ARGV do
  local set = ARGV[1] .. ARGV[i]
  redis.call("ZREMRANGEBYSCORE", set, "-inf", now)
  out[#out + 1] = redis.call("ZCARD", set)
end
return out
`
).withReturnType<ReadonlyArray<number>>()

const decodePin = (json: string | null): Pin | undefined => {
  if (json === null) return undefined
  const read = JSON.parse(json) as { readonly deployment?: unknown; readonly key?: unknown }
  if (typeof read.deployment !== "string") return undefined
  return { deployment: read.deployment, key: typeof read.key === "string" ? read.key : undefined }
}

/** The pins in the store under `options.key`, for `options.deployments`. */
export const make = (connection: Connection, options: PinsOptions): Shared<Pins> => {
  const base = `${connection.prefix}:affinity:${options.key}`
  const sets = `${base}#pinned:`
  const { deployments, ttlMillis } = options
  return {
    lookup: (session) => Effect.map(connection.send<string | null>("GET", `${base}:${digestOf(session)}`), decodePin),
    pin: (session, pin) => {
      const id = digestOf(session)
      return Effect.asVoid(
        connection.eval(pinScript)([`${base}:${id}`], ttlMillis, JSON.stringify(pin), sets, id, pin.deployment)
      )
    },
    counts: Effect.map(connection.eval(countScript)([], sets, deployments), (counts) => {
      const out = new Map<string, number>()
      deployments.forEach((name, i) => {
        if (Number(counts[i]) > 0) out.set(name, Number(counts[i]))
      })
      return out
    })
  }
}
