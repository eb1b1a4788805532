/**
 * OpenAI embeddings (`POST /v1/embeddings`): the request, checked
 * with OpenAI's messages, and the reply, the codec's embeddings list.
 */
import type { ApiError, EmbeddingRequest } from "../../../simulator/WireFormat.js"
import { embeddingList } from "../../codec/openAiEmbeddings.js"
import { invalidType, missingParameter, modelError } from "../openAiErrors.js"
import { invalid, isRecord, typeName } from "../requestChecks.js"

/** The most inputs OpenAI takes in one embeddings request. */
const maxEmbeddingInputs = 2048

/** The most dimensions the simulator makes. */
const maxDimensions = 8192

/**
 * Reads `input` (a string, an array of strings, an array of token ids or an
 * array of such arrays), `model`,
 * `dimensions` and `encoding_format`, with OpenAI's messages for what is wrong.
 */
export const decodeEmbedding = (body: unknown): EmbeddingRequest | ApiError => {
  if (!isRecord(body)) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  const model = body.model
  if (typeof model !== "string") return modelError(model)
  const input = body.input
  if (input === undefined || input === null) return missingParameter("input")
  const inputs: ReadonlyArray<unknown> = typeof input === "string" ? [input] : Array.isArray(input) ? input : []
  if (typeof input !== "string" && !Array.isArray(input)) {
    return invalidType("input", "a string or an array of strings", input)
  }
  if (inputs.length === 0) {
    return invalid(
      "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
      "input"
    )
  }
  // One array of ids is one input; an array of arrays of ids, several.
  const pieces: ReadonlyArray<unknown> = inputs.every(isTokenId) ? [inputs] : inputs
  if (pieces.length > maxEmbeddingInputs) {
    return invalid(
      `Invalid 'input': array too long. Expected an array with maximum length ${maxEmbeddingInputs}, but got an ` +
        `array with length ${pieces.length} instead.`,
      "input",
      "array_above_max_length"
    )
  }
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]
    if (Array.isArray(piece)) {
      if (piece.length === 0 || !piece.every(isTokenId)) {
        return invalidType(`input[${i}]`, "an array of token ids", piece)
      }
      continue
    }
    if (typeof piece !== "string") return invalidType(`input[${i}]`, "a string", piece)
    if (piece === "") return invalid(`'$.input[${i}]' is invalid: it must not be empty.`, `input[${i}]`)
  }
  const dimensions = body.dimensions
  if (
    dimensions !== undefined && dimensions !== null &&
    !(typeof dimensions === "number" && Number.isInteger(dimensions) && dimensions >= 1 && dimensions <= maxDimensions)
  ) {
    return invalid(
      `Invalid 'dimensions': expected an integer from 1 to ${maxDimensions}, but got ${
        JSON.stringify(dimensions)
      } instead.`,
      "dimensions",
      "invalid_value"
    )
  }
  const encoding = body.encoding_format
  if (encoding !== undefined && encoding !== null && encoding !== "float" && encoding !== "base64") {
    return invalid(
      `Invalid value for 'encoding_format': expected 'float' or 'base64', but got ${JSON.stringify(encoding)} instead.`,
      "encoding_format"
    )
  }
  return {
    model,
    inputs: pieces as ReadonlyArray<string | ReadonlyArray<number>>,
    dimensions: typeof dimensions === "number" ? dimensions : undefined,
    base64: encoding === "base64",
    single: false
  }
}

const isTokenId = (u: unknown): boolean => Number.isSafeInteger(u) && (u as number) >= 0

export const renderEmbedding = (
  vectors: ReadonlyArray<ReadonlyArray<number>>,
  request: EmbeddingRequest,
  promptTokens: number
): string => embeddingList(vectors, request.model, { promptTokens, totalTokens: promptTokens }, request.base64)
