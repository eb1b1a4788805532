// README.md's first snippet, word for word (test/Readme.test.ts checks it), so it typechecks.
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { KeyPool, Llm, Message, OpenAiChat, RateLimiter } from "effect-llm-router"

const OpenAi = Llm.layer({ model: "gpt-4o-mini" }).pipe(
  Layer.provide(OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1" })),
  Layer.provide(KeyPool.layer({ providerId: "openai", keys: [process.env.OPENAI_API_KEY!, { key: process.env.OPENAI_KEY_2!, weight: 2 }] })),
  Layer.provide(KeyPool.KeyPoolRegistry.layer),
  Layer.provide(RateLimiter.layer({ capacity: 20, refillRate: 3 })),
  Layer.provide(NodeHttpClient.layerUndici)
)

const program = Llm.chat({ messages: [Message.system("Be terse."), Message.user("What is Effect?")] }).pipe(
  Effect.tap((reply) => Effect.log(reply.text, reply.usage)),
  Effect.catchTag("ContextLengthError", () => Effect.log("too long for this model"))
)

NodeRuntime.runMain(program.pipe(Effect.provide(OpenAi)))
