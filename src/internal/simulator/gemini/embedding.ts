/**
 * Gemini's embeddings (`:batchEmbedContents`, `:embedContent`): the request, checked against the codec's schema
 * (`wire/gemini/embeddings.ts`) and then for what the API refuses beyond types, each of its contents naming the URL's
 * model; and the reply, which reports no usage.
 */
import * as Result from "effect/Result"
import type { ApiError, EmbeddingRequest } from "../../../simulator/WireFormat.js"
import { isJsonObject } from "../../json.js"
import {
  checkEmbedContent,
  embeddingReply,
  maxEmbeddingInputs as maxEmbeddingRequests
} from "../../wire/gemini/embeddings.js"
import { invalid } from "../requestChecks.js"
import { badValue, refusal } from "./request.js"

/** The text of one `EmbedContentRequest`'s content, and its `outputDimensionality`, or what is wrong with it. */
function embedContentOf(
  json: unknown,
  path: string,
  resource: string
): Result.Result<{ readonly text: string; readonly dimensions: number | undefined }, ApiError> {
  if (!isJsonObject(json)) return Result.fail(badValue(path, "an EmbedContentRequest object", json))
  const checked = checkEmbedContent(json)
  if (Result.isFailure(checked)) return Result.fail(refusal(checked.failure, path))
  const request = checked.success
  if (request.model !== undefined && request.model !== null && request.model !== resource) {
    return Result.fail(invalid(
      `${path}.model: the model "${request.model}" does not match the URL's "${resource}".`,
      `${path}.model`
    ))
  }
  const parts = request.content.parts
  if (parts.length === 0) {
    return Result.fail(invalid(`${path}.content: must have at least one part.`, `${path}.content`))
  }
  let text = ""
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!.text
    if (typeof part !== "string") return Result.fail(badValue(`${path}.content.parts[${i}].text`, "a string", part))
    text += part
  }
  if (text === "") return Result.fail(invalid(`${path}.content: the text is empty.`, `${path}.content`))
  const dimensions = request.outputDimensionality ?? undefined
  if (dimensions !== undefined && !(Number.isInteger(dimensions) && dimensions >= 1 && dimensions <= 3072)) {
    return Result.fail(badValue(`${path}.outputDimensionality`, "an integer from 1 to 3072", dimensions))
  }
  return Result.succeed({ text, dimensions })
}

/**
 * Reads `batchEmbedContents` (`{requests: [...]}`, at most 100, each naming the URL's model) or `embedContent` (one
 * request at the top level).
 */
export const decodeEmbedding = (
  body: unknown,
  params?: Readonly<Record<string, string | undefined>>
): Result.Result<EmbeddingRequest, ApiError> => {
  const model = (params?.model ?? "").replace(/^models\//, "")
  const resource = `models/${model}`
  if (!isJsonObject(body)) return Result.fail(badValue("body", "a JSON object", body))
  const batch = params?.method === "batchEmbedContents"
  const requests: ReadonlyArray<unknown> = batch ? (Array.isArray(body.requests) ? body.requests : []) : [body]
  if (batch && !Array.isArray(body.requests)) return Result.fail(badValue("requests", "an array", body.requests))
  if (requests.length === 0) return Result.fail(invalid("requests: at least one request is required.", "requests"))
  if (requests.length > maxEmbeddingRequests) {
    return Result.fail(invalid(
      `* BatchEmbedContentsRequest.requests: at most ${maxEmbeddingRequests} requests can be in one batch, got ` +
        `${requests.length}.`,
      "requests"
    ))
  }
  const inputs: Array<string> = []
  let dimensions: number | undefined
  for (let i = 0; i < requests.length; i++) {
    const one = embedContentOf(requests[i], batch ? `requests[${i}]` : "body", resource)
    if (Result.isFailure(one)) return Result.fail(one.failure)
    inputs.push(one.success.text)
    dimensions = one.success.dimensions ?? dimensions
  }
  return Result.succeed({ model, inputs, dimensions, base64: false, single: !batch })
}

/** Gemini reports no usage for embeddings. */
export function renderEmbedding(vectors: ReadonlyArray<ReadonlyArray<number>>, request: EmbeddingRequest): string {
  return embeddingReply(vectors, request.single)
}
