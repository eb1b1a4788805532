/**
 * The order of a prompt's cache lifetimes. Anthropic's prompt caching guide ("Mixing different TTLs") takes a one-hour
 * breakpoint only before every five-minute one, in the prompt's order (tools, system, messages), and so does Bedrock
 * for its `CachePointBlock` `ttl`. A client of another dialect may set them in any order: each encoder sends a one-hour
 * breakpoint after a shorter one at the default lifetime rather than send what its API refuses.
 */
import { isJsonObject, type JsonObject } from "../json.js"

/** A block of a body's list that holds a breakpoint: its list and index. */
export type Place = readonly [Array<unknown>, number]

/** Whether a breakpoint's lifetime (`ttl`, none for the default five minutes) is the longer one. */
const isHour = (control: unknown): boolean => isJsonObject(control) && control["ttl"] === "1h"

/**
 * The blocks at `places` (in the prompt's order), each breakpoint under `key` (`cache_control`, `cachePoint`) of an
 * hour that follows a shorter one sent without its `ttl`; a block is replaced by a copy, as it may be shared.
 */
export function shortenAfterShorter(places: ReadonlyArray<Place>, key: string): void {
  let shorter = false
  for (const [list, i] of places) {
    const block = list[i] as JsonObject
    const control = block[key]
    if (!isHour(control)) shorter = true
    else if (shorter) {
      const { ttl: _shortened, ...rest } = control as JsonObject
      list[i] = { ...block, [key]: rest }
    }
  }
}

/** The index of the first of `controls` (breakpoints in the prompt's order) of an hour after a shorter one, if any. */
export function longerAfterShorter(controls: ReadonlyArray<unknown>): number | undefined {
  let shorter = false
  for (let i = 0; i < controls.length; i++) {
    if (!isHour(controls[i])) shorter = true
    else if (shorter) return i
  }
  return undefined
}
