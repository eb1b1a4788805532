/**
 * The Redis backend of `Router.LearnedLimitStore`: a deployment's stream samples, shared by every router naming the
 * same store, key and deployment. Per phase, a sorted set of its latest samples scored by milliseconds and a list of
 * them in arrival order, which says which one leaves a full window. Each step is one Lua script with the rules of the
 * memory store's `Window` (`router/learnedLimits.ts`). A score comes back as the shortest decimal of its double, so
 * every backend answers the same number. The keys outlive their last sample by a while, then a deployment learns again.
 */
import * as Effect from "effect/Effect"
import type { PhaseSamples, Samples, SamplesOptions, SamplesReply, StreamPhase } from "../../../../Router.js"
import type { Connection } from "../../../../Store.js"
import type { Shared } from "../../../persistence/failOpen.js"
import { overKeys } from "../../../persistence/script.js"

const keptMillis = 7 * 24 * 3_600_000

// KEYS: the hash of counts, the first chunks' sorted set and list, the gaps' sorted set and list. ARGV: the phase a
// sample is added to (empty: none), the sample, quantile, minSamples, window, how long the keys outlive the last
// sample (ms).
const samplesScript = overKeys(
  (phase: StreamPhase | "", millis: string, quantile: number, minSamples: number, window: number, kept: number) => [
    phase,
    millis,
    quantile,
    minSamples,
    window,
    kept
  ],
  `
local phase = ARGV[1]
local quantile = tonumber(ARGV[3])
local minSamples = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local kept = tonumber(ARGV[6])
local sets = { firstChunk = KEYS[2], gap = KEYS[4] }
local lists = { firstChunk = KEYS[3], gap = KEYS[5] }
if phase ~= "" then
  local member = redis.call("HINCRBY", KEYS[1], phase, 1)
  redis.call("ZADD", sets[phase], ARGV[2], member)
  redis.call("LPUSH", lists[phase], member)
  while redis.call("LLEN", lists[phase]) > window do
    redis.call("ZREM", sets[phase], redis.call("RPOP", lists[phase]))
  end
  redis.call("PEXPIRE", KEYS[1], kept)
  redis.call("PEXPIRE", sets[phase], kept)
  redis.call("PEXPIRE", lists[phase], kept)
end
local out = {}
for _, name in ipairs({ "firstChunk", "gap" }) do
  local count = redis.call("ZCARD", sets[name])
  local value = ""
  if count >= minSamples then
    local rank = math.min(count, math.ceil(quantile * count)) - 1
    value = redis.call("ZRANGE", sets[name], rank, rank, "WITHSCORES")[2]
  end
  out[#out + 1] = count
  out[#out + 1] = value
end
return out
`
).withReturnType<readonly [number, string, number, string]>()

const phaseOf = (count: number | string, value: string): PhaseSamples => ({
  count: Number(count),
  quantile: value === "" ? undefined : Number(value)
})

/** The samples of `options.key` in the store. */
export const make = (connection: Connection, options: SamplesOptions): Shared<Samples> => {
  const base = `${connection.prefix}:learned:${options.key}`
  const keys = [base, `${base}#firstChunk`, `${base}#firstChunk:order`, `${base}#gap`, `${base}#gap:order`]
  const step = (phase: StreamPhase | "", millis: number) =>
    Effect.map(
      connection.eval(samplesScript)(
        keys,
        phase,
        String(millis),
        options.quantile,
        options.minSamples,
        options.window,
        keptMillis
      ),
      ([firstCount, firstValue, gapCount, gapValue]): SamplesReply => ({
        firstChunk: phaseOf(firstCount, firstValue),
        gap: phaseOf(gapCount, gapValue)
      })
    )
  return { add: step, peek: step("", 0) }
}
