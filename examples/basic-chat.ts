/**
 * One question, one answer: `Llm.chat` with a system and a user message.
 *
 *   npx node --import tsx examples/basic-chat.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, Message } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Provider from "./_provider.js"

const program = Effect.gen(function*() {
  // The program only asks for `Llm`; which provider, keys and limits answer is
  // decided by the layer provided below, so tests swap in `LlmTest` (mock-llm.test.ts).
  const reply = yield* Llm.chat({
    messages: [
      Message.system("You are a terse assistant. Answer in one sentence."),
      Message.user("What is a fiber in Effect?")
    ],
    maxTokens: 100
  })

  yield* Console.log(reply.text)
  // Usage is always there: when a provider reports none, `Llm` counts it
  // locally and sets `estimated`, so cost accounting never sees a hole.
  const { completionTokens, estimated, promptTokens, totalTokens } = reply.usage
  yield* Console.log(
    `usage: ${promptTokens} prompt + ${completionTokens} completion = ${totalTokens} tokens` +
      `${estimated ? " (estimated)" : ""}, ${reply.provider}/${reply.model} in ${Duration.format(reply.latency)}`
  )
})

program.pipe(
  Effect.provide(Provider.llm("gpt-4o-mini")),
  Effect.provide(Provider.endpoint()),
  // The library leaves the HTTP client to the application; on Node, undici.
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
