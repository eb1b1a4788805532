/**
 * Structured output: `Llm.generateObject` sends the JSON Schema of an Effect
 * Schema as each provider's structured-output option and decodes the reply
 * with the schema, here through all five adapters (Chat Completions'
 * `response_format`, Responses' `text.format`, Anthropic's forced tool,
 * Gemini's `responseSchema`, Ollama's `format`), against the built-in
 * simulator. Then a reply that breaks the schema, to show `OutputDecodeError`.
 *
 *   npx node --import tsx examples/structured-output.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, Message, OpenAiChat } from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Provider from "./_provider.js"

class Ingredient extends Schema.Class<Ingredient>("Ingredient")({
  name: Schema.NonEmptyString,
  grams: Schema.Int.check(Schema.isGreaterThan(0))
}) {}

const Recipe = Schema.Struct({
  title: Schema.String,
  servings: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 12 })),
  difficulty: Schema.Literals(["easy", "medium", "hard"]),
  ingredients: Schema.Array(Ingredient).check(Schema.isMinLength(1)),
  vegetarian: Schema.Boolean
}).annotate({ identifier: "Recipe", description: "A recipe with its ingredients" })

const ask = { messages: [Message.user("Give me a pancake recipe.")] }

const program = Effect.gen(function*() {
  const sim = yield* Simulator.make()
  yield* Console.error(`structured-output: using the built-in simulator at ${sim.url}`)
  const model = "sim-small"
  for (const [name, client] of Provider.everyAdapter(sim, model)) {
    // `value` is a typed Recipe (its ingredients `Ingredient` instances); `response` keeps usage and cost.
    const { response, value } = yield* Effect.provide(Llm.generateObject(ask, Recipe), Provider.llmOver(client))
    yield* Console.log(
      `${name}: ${value.difficulty}, serves ${value.servings}, ${value.ingredients.length} ingredient(s) ` +
        `(${value.ingredients[0]!.grams} g of ${
          value.ingredients[0]!.name
        }); ${response.usage.completionTokens} completion tokens`
    )
  }

  // The simulator's `output=nonconforming` fault makes the model break the schema.
  const broken = OpenAiChat.layer({
    baseUrl: `${sim.url}/v1`,
    model,
    headers: { "x-simulator-fault": "output=nonconforming" }
  })
  const error = yield* Effect.flip(Effect.provide(Llm.generateObject(ask, Recipe), Provider.llmOver(broken)))
  if (error._tag === "OutputDecodeError") yield* Console.log(`OutputDecodeError, raw text: ${error.raw}`)
})

program.pipe(
  Effect.scoped,
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
