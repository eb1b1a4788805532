/**
 * Gemini embeddings (`POST /{version}/{resource}:batchEmbedContents`).
 */
import type * as Adapter from "../adapter.js"
import { isVector } from "../embeddingBatches.js"
import { isRecord, type JsonRecord } from "../wire.js"
import { isErrorPayload, resourceOf } from "./wire.js"

/**
 * The most requests one `batchEmbedContents` call takes: 100 is the limit
 * Google's clients and docs cite.
 */
export const maxEmbeddingInputs = 100

/** The body of `POST /{version}/{resource}:batchEmbedContents`; each request repeats the model's resource name. */
export const embeddingBody = (
  resource: string,
  inputs: ReadonlyArray<string>,
  dimensions: number | undefined
): JsonRecord => ({
  requests: inputs.map((text) => {
    const request: JsonRecord = { model: resource, content: { parts: [{ text }] } }
    if (dimensions !== undefined) request["outputDimensionality"] = dimensions
    return request
  })
})

/**
 * The vectors of a `batchEmbedContents` reply (in request order), or the reason it is not one. Gemini reports no usage.
 */
export const readEmbeddings = (body: Readonly<JsonRecord>) => {
  const embeddings = body["embeddings"]
  if (!Array.isArray(embeddings)) return "embeddings is not an array"
  const vectors: Array<ReadonlyArray<number>> = []
  for (let i = 0; i < embeddings.length; i++) {
    const item: unknown = embeddings[i]
    const values = isRecord(item) ? item["values"] : undefined
    if (!isVector(values)) return `embeddings[${i}].values is not an array of numbers`
    vectors.push(values)
  }
  return { embeddings: vectors }
}

/** The embeddings wire of the API `version` (`v1beta`). */
export const wire = (version: string): Adapter.Embeddings => ({
  maxInputs: maxEmbeddingInputs,
  tokens: false,
  path: (model) => `/${version}/${resourceOf(model)}:batchEmbedContents`,
  body: (model, inputs, request) => embeddingBody(resourceOf(model), inputs, request.dimensions),
  read: readEmbeddings,
  isError: isErrorPayload
})
