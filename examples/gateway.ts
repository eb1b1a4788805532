/**
 * The gateway in a program: `Gateway.make` serves a provider.json's models as
 * an OpenAI-compatible API on loopback, and any HTTP client (here `fetch`, as a
 * program in another language would) calls it: a reply, a streamed reply read
 * as server-sent events, and a refusal in OpenAI's error shape.
 *
 *   npx node --import tsx examples/gateway.ts
 *
 * `npx effect-llm-router serve --config provider.json` runs the same gateway
 * as a command.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Gateway, ProviderConfig, UndiciHttpClient } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Provider from "./_provider.js"

const program = Effect.gen(function*() {
  const { baseUrl, provider, simulated } = yield* Provider.Endpoint
  const config = yield* ProviderConfig.fromJson({
    [provider]: [{
      model_name: "gpt-4o-mini",
      base_url: baseUrl,
      api_keys: simulated ? ["sk-simulated-gateway-key"] : ["env:OPENAI_API_KEY"]
    }],
    // A name a request's `model` may use, over the deployments it lists.
    router: { main: { deployments: ["gpt-4o-mini"] } }
  })
  // Port 0 picks a free port; without gateway keys the gateway listens on loopback only.
  const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
  yield* Console.log(`models: ${gateway.models.join(", ")}`)

  const post = (body: unknown) =>
    Effect.promise(() =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body)
      })
    )
  const messages = [{ role: "user", content: "Say hello." }]

  const reply = yield* post({ model: "main", messages })
  const completion = (yield* Effect.promise(() => reply.json())) as { choices: Array<{ message: { content: string } }> }
  yield* Console.log(`reply: ${completion.choices[0]!.message.content}`)

  // A stream is server-sent events: one `data:` line per chunk, then `data: [DONE]`.
  const stream = yield* post({ model: "gpt-4o-mini", messages, stream: true })
  const events = (yield* Effect.promise(() => stream.text())).split("\n\n").filter((event) => event !== "")
  const text = events
    .filter((event) => event !== "data: [DONE]")
    .map((event) => (JSON.parse(event.slice("data: ".length)) as { choices: Array<{ delta: { content?: string } }> }))
    .map((chunk) => chunk.choices[0]?.delta.content ?? "")
    .join("")
  yield* Console.log(`streamed: ${text} (${events.length} events, the last ${events[events.length - 1]})`)

  // A bad field is refused before anything is sent, naming it.
  const refused = yield* post({ model: "main", messages, temperature: 5 })
  const { error } = (yield* Effect.promise(() => refused.json())) as { error: { param: string; message: string } }
  yield* Console.log(`refused: ${refused.status} ${error.param}: ${error.message}`)
})

program.pipe(
  Effect.scoped,
  Effect.provide(Provider.endpoint()),
  Effect.provide(UndiciHttpClient.layer()),
  NodeRuntime.runMain
)
