/**
 * Session affinity (`Router.Options.affinity`): which deployment, and which of
 * its keys, answered a session's last call, kept for a time to live that every
 * answer starts again, so the session's next call goes where the provider's
 * prompt cache is warm. Each is kept under its session's digest, never the
 * session itself. In memory, at most `maxSessions` of them (the least
 * recently answered go first); with the router's `shared` store, in Redis,
 * where every instance reads them: each pin a key with Redis' own expiry, and
 * beside it one sorted set per deployment of the sessions pinned to it, scored
 * by expiry, which `counts` reads.
 *
 * A pin says where to go first, never more: a deployment that cannot take the
 * call now (cooling down, breaker open, rate-limited) is left as any other,
 * and the session is pinned to wherever the call is answered.
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import type { Connection } from "../../Store.js"
import type { RouterCall } from "../routerCall.js"
import { overKeys } from "../store/script.js"

/** Where a session's calls go first: the deployment that answered its last call, and the key it took there. */
export interface Pin {
  readonly deployment: string
  /** The key's masked id (`KeyPool.KeyStatus.keyId`); undefined when the deployment's layer names none. */
  readonly key: string | undefined
}

/** The sessions' pins. */
export interface Affinity {
  /** The session's pin, while it lives. */
  readonly lookup: (session: string) => Effect.Effect<Pin | undefined>
  /** Pins the session for another time to live. */
  readonly pin: (session: string, pin: Pin) => Effect.Effect<void>
  /** The sessions pinned now, by deployment name (a deployment with none is absent). */
  readonly counts: Effect.Effect<ReadonlyMap<string, number>>
}

/** The session's deployment when it is among the usable `candidates` and the call has tried nothing yet. */
export const pinnedAmong = <S extends { readonly name: string }>(
  pin: Pin | undefined,
  tried: ReadonlyArray<S>,
  candidates: ReadonlyArray<S>
): S | undefined =>
  pin === undefined || tried.length !== 0 ? undefined : candidates.find((state) => state.name === pin.deployment)

/** Where an attempt's `Llm` tells the key it took (`RouterCall.tookKey`). */
export interface TakenKey {
  key: string | undefined
}

/**
 * What an attempt of a call with a session is told besides `call`: the key the session is pinned to on `deployment`,
 * and where to tell the key it takes.
 */
export const pinnedCall = (
  call: RouterCall,
  pin: Pin | undefined,
  deployment: string,
  taken: TakenKey
): RouterCall => ({
  ...call,
  key: pin !== undefined && pin.deployment === deployment ? pin.key : undefined,
  tookKey: (keyId) => {
    taken.key = keyId
  }
})

/**
 * What a pin is kept under: the session's SHA-256 digest, so a pin takes the same few bytes whatever the session
 * (a client chooses it, and may send a megabyte of it).
 */
export const digestOf = (session: string): string => createHash("sha256").update(session).digest("base64url")

/** The pins in this process: at most `maxSessions`, each living `ttlMillis` after its last answer. */
export const memory = (ttlMillis: number, maxSessions: number): Affinity & {
  /** The keys the pins are kept under (`digestOf` their sessions), the least recently answered first. */
  readonly keys: () => ReadonlyArray<string>
} => {
  // In insertion order, which a pin renews: the first entry is the least recently answered.
  const pins = new Map<string, { readonly pin: Pin; readonly until: number }>()
  return {
    lookup: (session) =>
      Effect.clockWith((clock) => {
        const key = digestOf(session)
        const entry = pins.get(key)
        if (entry === undefined) return Effect.undefined
        if (entry.until > clock.currentTimeMillisUnsafe()) return Effect.succeed(entry.pin)
        pins.delete(key)
        return Effect.undefined
      }),
    pin: (session, pin) =>
      Effect.clockWith((clock) => {
        const key = digestOf(session)
        pins.delete(key)
        pins.set(key, { pin, until: clock.currentTimeMillisUnsafe() + ttlMillis })
        if (pins.size > maxSessions) pins.delete(pins.keys().next().value!)
        return Effect.void
      }),
    keys: () => [...pins.keys()],
    counts: Effect.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      const counts = new Map<string, number>()
      for (const [session, entry] of pins) {
        if (entry.until <= now) pins.delete(session)
        else counts.set(entry.pin.deployment, (counts.get(entry.pin.deployment) ?? 0) + 1)
      }
      return Effect.succeed(counts)
    })
  }
}

// KEYS: the pin. ARGV: its time to live (ms), the pin as JSON, the prefix of the per-deployment sets, the session's
// member in them, the deployment. A session pinned elsewhere before leaves that deployment's set.
const pinScript = overKeys(
  (
    ttl: number,
    json: string,
    sets: string,
    member: string,
    deployment: string
  ) => [ttl, json, sets, member, deployment],
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

/**
 * The pins in the store under `key`, for the router's `deployments`. Sessions are kept by their digest. The store away,
 * a session has no pin and a pin is not kept: affinity only saves cost, so it never fails a call.
 */
export const shared = (
  connection: Connection,
  key: string,
  ttlMillis: number,
  deployments: ReadonlyArray<string>
): Affinity => {
  const base = `${connection.prefix}:affinity:${key}`
  const sets = `${base}#pinned:`
  return {
    lookup: (session) =>
      Effect.orElseSucceed(
        Effect.map(connection.send<string | null>("GET", `${base}:${digestOf(session)}`), decodePin),
        () => undefined
      ),
    pin: (session, pin) => {
      const id = digestOf(session)
      // Waited for, so the session's next call, on any instance, finds it.
      return Effect.ignore(
        connection.eval(pinScript)([`${base}:${id}`], ttlMillis, JSON.stringify(pin), sets, id, pin.deployment)
      )
    },
    counts: Effect.orElseSucceed(
      Effect.map(connection.eval(countScript)([], sets, deployments), (counts) => {
        const out = new Map<string, number>()
        deployments.forEach((name, i) => {
          if (Number(counts[i]) > 0) out.set(name, Number(counts[i]))
        })
        return out
      }),
      () => new Map<string, number>()
    )
  }
}
