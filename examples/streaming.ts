/**
 * A reply written to the terminal as it is generated: `Llm.chatStream`.
 *
 *   npx node --import tsx examples/streaming.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, Message } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Provider from "./_provider.js"

const program = Effect.gen(function*() {
  // A stream of typed chunks: text and reasoning deltas, tool-call deltas, then
  // one Usage and one Finish. It fails with an `LlmError` rather than ending
  // early, so a half-written reply is never mistaken for a whole one.
  const usage = yield* Llm.chatStream({ messages: [Message.user("Tell me about structured concurrency.")] }).pipe(
    // Write each piece of text the moment it arrives...
    Stream.tap((chunk) =>
      chunk._tag === "TextDelta" ? Effect.sync(() => process.stdout.write(chunk.text)) : Effect.void
    ),
    // ...and keep only the usage, which comes near the end.
    Stream.filterMap((chunk) => chunk._tag === "Usage" ? Result.succeed(chunk.usage) : Result.fail(chunk)),
    Stream.runLast
  )

  // `Llm` always ends a stream with usage (estimated when the provider sent none).
  if (Option.isSome(usage)) {
    const { completionTokens, promptTokens, totalTokens } = usage.value
    yield* Console.log(`\nusage: ${promptTokens} prompt + ${completionTokens} completion = ${totalTokens} tokens`)
  }
  // Want the live text and the whole reply? `ChatChunk.collect(stream)` folds
  // chunks into the same ChatResponse that `Llm.chat` returns.
})

program.pipe(
  Effect.provide(Provider.llm("gpt-4o-mini")),
  // Paced like a real model, so you can watch the tokens arrive.
  Effect.provide(Provider.endpoint({ replyTokens: 40, tokensPerSecond: 80 })),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
