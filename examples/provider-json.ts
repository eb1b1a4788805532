/**
 * Models, keys and limits from a provider.json (SimpleLLMFunc's format):
 * `ProviderConfig.load`, then one `Llm` layer per model.
 *
 *   npx node --import tsx examples/provider-json.ts
 *
 * examples/provider.example.json is such a file for the OpenAI API. The
 * simulator's port is chosen when it starts, so this program writes the same
 * kind of file for its endpoint, then loads it as an application would.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Llm, Message, ProviderConfig } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Provider from "./_provider.js"

const program = Effect.gen(function*() {
  const { baseUrl, simulated } = yield* Provider.Endpoint
  // `env:NAME` keeps real keys out of the file; `{ key, weight }` gives a key a larger share.
  const api_keys = simulated ? [{ key: "sk-simulated-one", weight: 2 }, "sk-simulated-two"] : ["env:OPENAI_API_KEY"]
  const fs = yield* FileSystem.FileSystem
  const file = `${yield* fs.makeTempDirectoryScoped()}/provider.json`
  yield* fs.writeFileString(
    file,
    JSON.stringify({
      openai: [
        { model_name: "gpt-4o-mini", api_keys, base_url: baseUrl, max_retries: 3, rate_limit_capacity: 20 },
        { model_name: "gpt-4o", api_keys, base_url: baseUrl, rate_limit_capacity: 10, rate_limit_refill_rate: 2 }
      ]
    })
  )

  // A file that does not decode fails with a ProviderConfigError naming every
  // bad path (`openai[0].rate_limit_capacity: expected a positive number`).
  const config = yield* ProviderConfig.load(file)
  // One layer per model. They share one key-pool registry, so the models of a
  // provider share its keys' load and cooldowns.
  const models = yield* ProviderConfig.layers(config)
  yield* Console.log(`loaded openai models: ${Object.keys(models.openai ?? {}).join(", ")}`)

  const mini = models.openai?.["gpt-4o-mini"]
  if (mini === undefined) return yield* Effect.die(new Error("provider.json has no openai/gpt-4o-mini"))
  const reply = yield* Llm.chat({ messages: [Message.user("Say hello.")] }).pipe(Effect.provide(mini))
  yield* Console.log(`${reply.model}: ${reply.text}`)
  yield* Console.log(`usage: ${reply.usage.promptTokens} prompt + ${reply.usage.completionTokens} completion tokens`)
})

program.pipe(
  Effect.scoped,
  Effect.provide(Provider.endpoint()),
  // NodeServices gives the FileSystem that `ProviderConfig.load` reads with.
  Effect.provide(NodeServices.layer),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
