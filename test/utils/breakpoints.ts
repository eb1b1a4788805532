/**
 * The prompt-cache breakpoints a request sets: on its tools, its messages and their parts. A wire that takes at most
 * four (Anthropic's `cache_control`, Bedrock's `cachePoint`) sends the last four of more.
 */
import type { Input as ChatRequest } from "../../src/ChatRequest.js"

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
