/**
 * Gemini's embeddings (the Gemini API reference: `embedContent`, `batchEmbedContents`), both ways. They share the API
 * root, error body and public modules of the generation methods (`codec.ts`), so they have no folder of their own.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { EmbeddingResponse, Input as EmbeddingInput } from "../../../Embedding.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { type EmbeddingsRead, isVector } from "../../providers/embeddingBatches.js"
import { checker, maybe, Problem } from "../../schemaCheck.js"
/** The most requests one `batchEmbedContents` call takes: the limit Google's clients and docs cite. */
export const maxEmbeddingInputs = 100

/** An `EmbedContentRequest`, as far as the library reads it. */
export const EmbedContentRequest = Schema.Struct({
  model: maybe(Schema.String),
  content: Schema.Struct({ parts: Schema.Array(Schema.Struct({ text: maybe(Schema.String) })) }),
  outputDimensionality: maybe(Schema.Number)
})

export const BatchEmbedContentsRequest = Schema.Struct({ requests: Schema.Array(EmbedContentRequest) })

const Embedding = Schema.Struct({ values: Schema.Array(Schema.Number) })

/** `embedContent`'s reply. */
export const EmbedContentResponse = Schema.Struct({ embedding: Embedding })

/** `batchEmbedContents`' reply, in request order; Gemini reports no usage. */
export const BatchEmbedContentsResponse = Schema.Struct({ embeddings: Schema.Array(Embedding) })

export const checkEmbedContent = checker(EmbedContentRequest, { errors: "first" })

export const checkBatchEmbedContents = checker(BatchEmbedContentsRequest, { errors: "first" })

/** The body of `batchEmbedContents` for the model `resource`; each request repeats it. */
export function embeddingBody(
  resource: string,
  inputs: ReadonlyArray<string>,
  dimensions: number | undefined
): JsonObject {
  return {
    requests: inputs.map((text) => {
      const request: JsonObject = { model: resource, content: { parts: [{ text }] } }
      if (dimensions !== undefined) request["outputDimensionality"] = dimensions
      return request
    })
  }
}

/** The vectors of a `batchEmbedContents` reply (in request order), or the reason it is not one. */
export function readEmbeddings(body: Readonly<JsonObject>): Result.Result<EmbeddingsRead, string> {
  const embeddings = body["embeddings"]
  if (!Array.isArray(embeddings)) return Result.fail("embeddings is not an array")
  const vectors: Array<ReadonlyArray<number>> = []
  for (let i = 0; i < embeddings.length; i++) {
    const item: unknown = embeddings[i]
    const values = isJsonObject(item) ? item["values"] : undefined
    if (!isVector(values)) return Result.fail(`embeddings[${i}].values is not an array of numbers`)
    vectors.push(values)
  }
  return Result.succeed({ embeddings: vectors })
}

/**
 * Checked embedding requests (one `embedContent`, or a batch's) as the library's request, or what is wrong with them.
 * `taskType` and `title` are Gemini's own and not carried; the requests must share one `outputDimensionality`.
 */
export function toEmbeddingRequest(
  requests: ReadonlyArray<typeof EmbedContentRequest.Type>
): Result.Result<EmbeddingInput, Problem> {
  const dimensions = requests[0]?.outputDimensionality ?? undefined
  if (requests.some((embed) => (embed.outputDimensionality ?? undefined) !== dimensions)) {
    return Result.fail(
      new Problem(
        "requests",
        "requests: every request of a batch must ask for the same outputDimensionality on this gateway"
      )
    )
  }
  const input = requests.map((embed) => embed.content.parts.map((part) => part.text ?? "").join(""))
  return Result.succeed(dimensions === undefined ? { input } : { input, dimensions })
}

/** Vectors as `embedContent`'s reply (`single`, the first one) or `batchEmbedContents`'. */
export function embeddingReply(vectors: EmbeddingResponse["embeddings"], single: boolean): string {
  return single
    ? JSON.stringify({ embedding: { values: vectors[0] ?? [] } })
    : JSON.stringify({ embeddings: vectors.map((values) => ({ values })) })
}
