/**
 * How `chat` prints a reply: streamed to stdout as it comes, whole, or as one JSON object (`--json`).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as ChatChunk from "../ChatChunk.js"
import type { ChatResponse } from "../ChatResponse.js"
import type { LlmError } from "../LlmError.js"
import type { Io } from "./io.js"
import { programName } from "./usage.js"

/**
 * A cost in US dollars to 12 significant digits, so a sum of per-token prices shows as `0.00000195`, not the float
 * `0.0000019499999999999995` it adds up to.
 */
export const roundCost = (cost: number): number => Number(cost.toPrecision(12))

/**
 * The reply as `--json` prints it (through `JSON.stringify`, which leaves out the fields `undefined`). `keyId` is left
 * out: even masked, a key has no business in output that gets pasted into issues.
 */
export const toJson = (response: ChatResponse) => ({
  text: response.text,
  reasoning: response.reasoning,
  refusal: response.refusal,
  toolCalls: response.toolCalls.map((call) => ({ id: call.id, name: call.name, arguments: call.arguments })),
  finishReason: response.finishReason,
  usage: {
    promptTokens: response.usage.promptTokens,
    completionTokens: response.usage.completionTokens,
    totalTokens: response.usage.totalTokens,
    cachedPromptTokens: response.usage.cachedPromptTokens,
    cacheWriteTokens: response.usage.cacheWriteTokens,
    cacheWrite1hTokens: response.usage.cacheWrite1hTokens,
    reasoningTokens: response.usage.reasoningTokens,
    estimated: response.usage.estimated,
    // A batch's lines say so: `batch`, the tier their cost is priced at.
    serviceTier: response.usage.serviceTier
  },
  cost: response.cost === undefined ? undefined : roundCost(response.cost),
  model: response.model,
  provider: response.provider,
  id: response.id,
  latencyMs: Math.round(Duration.toMillis(response.latency))
})

/**
 * Prints a reply's text as it streams in, on a line of its own. A `Restart` chunk (a router restarted the request
 * elsewhere) ends the broken attempt's partial line and says so on stderr, so the reply that follows is whole on its
 * own line; `--json` prints the last attempt only.
 */
export const printStream = <R>(
  stream: Stream.Stream<ChatChunk.ChatChunk, LlmError, R>,
  io: Io
): Effect.Effect<void, LlmError, R> => {
  let open = false
  return stream.pipe(
    Stream.runForEach((chunk) =>
      Effect.sync(() => {
        if (chunk._tag === "TextDelta" && chunk.text !== "") {
          open = true
          io.stdout(chunk.text)
        } else if (chunk._tag === "Restart") {
          if (open) io.stdout("\n")
          open = false
          io.stderr(`${programName}: the reply broke off (${chunk.error}); it starts again from ${chunk.deployment}\n`)
        }
      })
    ),
    // The newline also ends a partial reply, so the error after it starts a line of its own.
    Effect.ensuring(Effect.sync(() => open && io.stdout("\n")))
  )
}
