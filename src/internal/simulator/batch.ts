/**
 * The simulator's batch APIs, each beside its dialect's other simulator code, over one batch server (`batchServer.ts`:
 * the batches' schedule on the simulator's `Clock`, their lines answered as calls, the ids and the clouds' objects
 * every API shares) and the batch faults (`batchFault.ts`): OpenAI's files and batches, on OpenAI's and Azure OpenAI's
 * paths (`openAiChat/batch.ts`), Anthropic's Message Batches (`anthropic/batch.ts`), the Gemini API's batch mode
 * (`gemini/batch.ts`), Vertex AI's batch prediction jobs with the Cloud Storage objects they read and write
 * (`gemini/vertexBatch.ts`), Amazon Bedrock's batch inference jobs with the S3 objects they read and write
 * (`bedrock/batch.ts`).
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
