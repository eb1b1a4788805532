/**
 * The order of a prompt's cache lifetimes. Anthropic's prompt caching guide ("Mixing different TTLs") takes a one-hour
 * breakpoint only before every five-minute one, in the prompt's order (tools, system, messages), and so does Bedrock
 * for its `CachePointBlock` `ttl`. A client of another dialect may set them in any order: each encoder sends a one-hour
 * breakpoint after a shorter one at the default lifetime rather than send what its API refuses.
 */
import { isJsonObject, type JsonObject } from "../json.js"

/** A block of a body's list that holds a breakpoint: its list and index. */
export type Place = readonly [Array<unknown>, number]

/**
 * The most breakpoints a request may hold: Anthropic's prompt caching guide takes four, and Bedrock's four checkpoints;
 * a client of another dialect (a Chat Completions one's `cache_control` on every part) may pass more.
 */
export const maxBreakpoints = 4

/**
 * Where each block that holds a breakpoint under `key` is (its list and index), in the prompt's order: `tools`,
 * `system`, then each message's `content`.
 */
export function breakpointPlaces(
  key: string,
  tools: unknown,
  system: unknown,
  messages: unknown
): ReadonlyArray<Place> {
  const places: Array<Place> = []
  const take = (list: unknown) => {
    if (!Array.isArray(list)) return
    list.forEach((block, i) => {
      if (!isJsonObject(block)) return
      // A tool result's own blocks (Anthropic's) may hold one too, before its own in the prompt.
      if (block["type"] === "tool_result") take(block["content"])
      if (block[key] != null) places.push([list, i])
    })
  }
  take(tools)
  take(system)
  for (const message of Array.isArray(messages) ? messages : []) {
    if (isJsonObject(message)) take(message["content"])
  }
  return places
}

/**
 * Leaves out the breakpoints under `key` at `places` but the last `maxBreakpoints`, which cache the longest prefixes,
 * then shortens an hour's after a shorter one (`shortenAfterShorter`). A block that is only a breakpoint (Converse's
 * `cachePoint`) is spliced out when `splice`, backwards so that each index still names its block; any other is replaced
 * by a copy without it, as a kept block (a signed thinking block) may be shared.
 */
export function limitBreakpoints(places: () => ReadonlyArray<Place>, key: string, splice: boolean): void {
  const all = places()
  for (const [list, i] of all.slice(0, Math.max(0, all.length - maxBreakpoints)).reverse()) {
    if (splice) list.splice(i, 1)
    else {
      const { [key]: _dropped, ...rest } = list[i] as JsonObject
      list[i] = rest
    }
  }
  shortenAfterShorter(places(), key)
}

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
