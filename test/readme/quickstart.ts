// README.md's first snippet, word for word (test/Readme.test.ts checks it), so it typechecks.
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer } from "effect"
import { KeyPool, Llm, Message, OpenAiChat, RateLimiter } from "effect-llm-router"

// Keys are read as secrets (`Redacted`); an unset variable fails with a ConfigError naming it.
const keys = Config.all([
  Config.Redacted("OPENAI_API_KEY"),
  Config.all({ key: Config.Redacted("OPENAI_KEY_2"), weight: Config.succeed(2) })
])

const OpenAi = Llm.layer({ model: "gpt-4o-mini" }).pipe(
  Layer.provide(OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1" })),
  Layer.provide(KeyPool.layerConfig({ providerId: Config.succeed("openai"), keys })),
  Layer.provide(KeyPool.KeyPoolRegistry.layer),
  Layer.provide(RateLimiter.layer({ capacity: 20, refillRate: 3 })),
  Layer.provide(NodeHttpClient.layerUndici)
)

const program = Llm.chat({ messages: [Message.system("Be terse."), Message.user("What is Effect?")] }).pipe(
  Effect.tap((reply) => Effect.log(reply.text, reply.usage)),
  Effect.catchTag("ContextLengthError", () => Effect.log("too long for this model"))
)

NodeRuntime.runMain(program.pipe(Effect.provide(OpenAi)))
