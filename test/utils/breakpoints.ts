/**
 * The prompt-cache breakpoints a request sets: on its tools, its messages and their parts. A wire that takes at most
 * four (Anthropic's `cache_control`, Bedrock's `cachePoint`) sends the last four of more.
 */
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import { longerAfterShorter } from "../../src/internal/wire/cacheLifetime.js"
import type { CacheBreakpoint, Message } from "../../src/Message.js"

/** How many breakpoints `request` sets, wherever they are. */
export const breakpointsIn = (request: ChatRequest): number => {
  let count = 0
  for (const tool of request.tools ?? []) if (tool.cache !== undefined) count++
  for (const message of request.messages) {
    if ("cache" in message && message.cache !== undefined) count++
    if (typeof message.content === "string" || !Array.isArray(message.content)) continue
    for (const part of message.content) if ("cache" in part && part.cache !== undefined) count++
  }
  return count
}

/**
 * The lifetimes of `request`'s breakpoints in the order Anthropic's and Bedrock's prompts are cached: tools, system
 * messages, then the other messages (a message's parts before its own).
 */
export const lifetimesIn = (request: ChatRequest): ReadonlyArray<CacheBreakpoint> => {
  const out: Array<CacheBreakpoint> = []
  for (const tool of request.tools ?? []) if (tool.cache !== undefined) out.push(tool.cache)
  const system = request.messages.filter((message) => message.role === "system")
  const others = request.messages.filter((message) => message.role !== "system")
  for (const message of [...system, ...others]) {
    if (typeof message.content !== "string" && Array.isArray(message.content)) {
      for (const part of message.content) if ("cache" in part && part.cache !== undefined) out.push(part.cache)
    }
    if ("cache" in message && message.cache !== undefined) out.push(message.cache)
  }
  return out
}

/** Whether no breakpoint of an hour follows a shorter one in `request` (which Anthropic and Bedrock refuse). */
export const lifetimesInOrder = (request: ChatRequest): boolean =>
  longerAfterShorter(lifetimesIn(request)) === undefined

/** The `ttl`s a wire sends for `lifetimes` (in the prompt's order): one of an hour after a shorter one, none. */
export const sentLifetimes = (lifetimes: ReadonlyArray<CacheBreakpoint>): ReadonlyArray<string | undefined> => {
  let shorter = false
  return lifetimes.map(({ ttl }) => {
    if (ttl !== "1h") shorter = true
    return ttl === "1h" && shorter ? undefined : ttl
  })
}

/** `request` without its breakpoints: its messages', their parts' and its tools'. */
export const withoutBreakpoints = (request: ChatRequest): ChatRequest => {
  const uncached = <A extends object>(value: A): A => {
    const { cache: _, ...rest } = value as A & { readonly cache?: unknown }
    return rest as A
  }
  return {
    ...request,
    messages: request.messages.map((message) =>
      uncached(
        (Array.isArray(message.content) ? { ...message, content: message.content.map(uncached) } : message) as Message
      )
    ),
    ...(request.tools === undefined ? {} : { tools: request.tools.map(uncached) })
  }
}
