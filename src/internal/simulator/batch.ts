/**
 * The simulator's batch APIs (OpenAI's and Azure OpenAI's, Anthropic's, the Gemini API's, Vertex AI's, Bedrock's),
 * each beside its dialect's other simulator code, over one batch server (`batchServer.ts`) and the batch faults
 * (`batchFault.ts`); docs/simulator.md ("Batches") has what each answers.
 */
import type { WireFormat } from "../../simulator/WireFormat.js"
import { anthropicBatches } from "./anthropic/batch.js"
import { makeBatchServer } from "./batchServer.js"
import type { EngineParts } from "./batchServer.js"
import { bedrockBatches } from "./bedrock/batch.js"
import { geminiBatches } from "./gemini/batch.js"
import { vertexBatches } from "./gemini/vertexBatch.js"
import { openAiBatches } from "./openAiChat/batch.js"

// Read here by the simulator's configuration, its routes and `Simulator`.
export { type BatchFault, batchFaultHeader, decodeBatchFault } from "./batchFault.js"
export { s3Root } from "./bedrock/batch.js"

/** The batch routes' store and answers for one engine. */
export function makeBatches<O, Z, A, G, V>(engine: EngineParts, formats: {
  readonly openai: WireFormat<O>
  readonly azure: WireFormat<Z>
  readonly anthropic: WireFormat<A>
  readonly gemini: WireFormat<G>
  readonly vertex: WireFormat<V>
}) {
  const server = makeBatchServer(engine)
  return {
    ...openAiBatches(server, formats),
    ...anthropicBatches(server, formats.anthropic),
    ...geminiBatches(server, formats.gemini),
    vertex: vertexBatches(server, formats.vertex),
    bedrock: bedrockBatches(server)
  }
}

export type Batches = ReturnType<typeof makeBatches>
