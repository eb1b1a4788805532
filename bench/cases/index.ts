/**
 * Every benchmark case, in the order they run. Later issues append theirs.
 */
import { anthropicStream } from "./anthropic.js"
import { geminiStream } from "./gemini.js"
import { llmStackNonStream, llmStackStream } from "./llmStack.js"
import { ollamaStream } from "./ollama.js"
import { openAiChatNonStream, openAiChatStream } from "./openAiChat.js"
import { openAiResponsesStream } from "./openAiResponses.js"
import { redisLimiterOverhead, redisLimiterOverheadCapped } from "./redisLimiter.js"
import { routerOverhead, routerStreamOverhead } from "./router.js"
import { effectStreamFloor } from "./streamFloor.js"
import type { BenchCase } from "./types.js"

export const cases: ReadonlyArray<BenchCase> = [
  openAiChatNonStream,
  openAiChatStream,
  effectStreamFloor,
  llmStackNonStream,
  llmStackStream,
  anthropicStream,
  ollamaStream,
  openAiResponsesStream,
  geminiStream,
  routerOverhead,
  routerStreamOverhead,
  redisLimiterOverhead,
  redisLimiterOverheadCapped
]
