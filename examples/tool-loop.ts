/**
 * One tool loop, five adapters: the same `ToolDefinition` goes out, the same
 * `ToolCall`s come back, and the same tool-result messages go back in
 * (`Message.fromResponse` + `Message.toolResult`), whichever wire format
 * carries them: Chat Completions, Responses, Anthropic Messages, Gemini and
 * Ollama. It runs against the built-in simulator, which speaks all five on one
 * port, and prints one line per adapter: the tool call, then the final answer.
 *
 *   npx node --import tsx examples/tool-loop.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, Message } from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Provider from "./_provider.js"

const WeatherArgs = Schema.Struct({ city: Schema.String })

const getWeather = Message.ToolDefinition.fromSchema({
  name: "get_weather",
  description: "The current weather in a city",
  parameters: WeatherArgs
})

const decodeWeatherArgs = Message.ToolCall.decodeArguments(WeatherArgs)

/** The tool itself: what the program runs when the model asks for it. */
const runTool = (call: Message.ToolCall) =>
  Effect.map(decodeWeatherArgs(call), ({ city }) => `sunny and 21 C in ${city}`)

/** Ask, run every tool call the model makes, send the results back, until it answers in text. */
const toolLoop = Effect.gen(function*() {
  const messages: Array<Message.Message> = [Message.user("What is the weather in Paris? Use get_weather.")]
  const calls: Array<string> = []
  for (let turn = 0; turn < 5; turn++) {
    const reply = yield* Llm.chat({ messages, tools: [getWeather] })
    // The assistant turn as the adapter needs it back (ids, signatures, reasoning items).
    messages.push(Message.fromResponse(reply))
    if (reply.toolCalls.length === 0) return { calls, answer: reply.text }
    for (const call of reply.toolCalls) {
      calls.push(`${call.name}(${call.arguments})`)
      messages.push(Message.toolResult(call, yield* runTool(call)))
    }
  }
  return yield* Effect.die(new Error("no answer after 5 turns"))
})

const program = Effect.gen(function*() {
  const sim = yield* Simulator.make({ replyTokens: 12 })
  yield* Console.error(`tool-loop: using the built-in simulator at ${sim.url}`)
  const model = "sim-small"
  for (const [name, client] of Provider.everyAdapter(sim, model)) {
    const { answer, calls } = yield* Effect.provide(toolLoop, Provider.llmOver(client))
    yield* Console.log(`${name}: ${calls.join(", ")} -> ${answer}`)
  }
})

program.pipe(
  Effect.scoped,
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
