/**
 * Embeddings: rank a few documents by their cosine similarity to a question,
 * then embed three thousand texts in one call, which `Llm.embed` splits into
 * batches of the provider's size (2048 for OpenAI) and reassembles in order.
 *
 *   npx node --import tsx examples/embeddings.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm } from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Provider from "./_provider.js"

const model = "text-embedding-3-small"

const documents = [
  "Effect is a TypeScript library for typed, composable programs.",
  "The Eiffel Tower is in Paris.",
  "A fiber is a lightweight thread of execution in Effect."
]

const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return dot / Math.sqrt(na * nb)
}

const program = Effect.gen(function*() {
  const question = "What is a fiber?"
  // One call for the question and the documents: the vectors come back in input order.
  const { embeddings: [query, ...docs], usage } = yield* Llm.embed({ input: [question, ...documents], model })
  const ranked = documents
    .map((text, i) => ({ text, score: cosine(query!, docs[i]!) }))
    .sort((a, b) => b.score - a.score)
  for (const { score, text } of ranked) yield* Console.log(`${score.toFixed(3)}  ${text}`)
  yield* Console.log(`usage: ${usage.promptTokens} tokens${usage.estimated ? " (estimated)" : ""}`)

  // More inputs than one request takes: split, sent a few batches at a time, reassembled.
  const many = Array.from({ length: 3000 }, (_, i) => `note ${i}`)
  const all = yield* Llm.embed({ input: many, model, dimensions: 8 })
  const again = yield* Llm.embed({ input: many[2500]!, model, dimensions: 8 })
  yield* Console.log(
    `${all.embeddings.length} vectors of ${all.embeddings[0]!.length} dimensions; ` +
      `vector 2500 is note 2500's: ${JSON.stringify(all.embeddings[2500]) === JSON.stringify(again.embeddings[0])}`
  )
})

program.pipe(
  Effect.provide(Provider.llm(model)),
  // The simulator knows chat models only, unless told of others.
  Effect.provide(Provider.endpoint({ models: [...Simulator.defaultModels, model] })),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
