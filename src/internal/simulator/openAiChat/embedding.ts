/**
 * OpenAI embeddings (`POST /v1/embeddings`): the request, read with the embeddings codec's schema
 * (`wire/openAiChat/embeddings.ts`) and held to the API's limits (one input at least, `maxInputs` at most, none empty,
 * `dimensions` from 1 up to what the simulator makes), with OpenAI's messages; and the reply, the codec's embeddings
 * list.
 */
import * as Result from "effect/Result"
import type { ApiError, EmbeddingRequest } from "../../../simulator/WireFormat.js"
import type { Refused } from "../../schemaCheck.js"
import { checkBody, embeddingList, maxInputs, toRequest } from "../../wire/openAiChat/embeddings.js"
import { invalidType, missingParameter, modelError, refusedField } from "../openAiErrors.js"
import { invalid, typeName, valueAt } from "../requestChecks.js"

/** The most dimensions the simulator makes. */
const maxDimensions = 8192

const isTokenId = (u: unknown): boolean => Number.isSafeInteger(u) && (u as number) >= 0

/** The inputs of `input`: one array of ids is one input; an array of arrays of ids, several. */
function piecesOf(input: string | ReadonlyArray<unknown>): ReadonlyArray<unknown> {
  return typeof input === "string" || input.every(isTokenId) ? [input] : input
}

/**
 * What is wrong with `input` (a string, an array of strings, an array of token ids or an array of such arrays), as
 * OpenAI words it: its type, no input, too many, or an input of the wrong type or empty.
 */
function inputError(input: unknown): ApiError | undefined {
  if (input === undefined || input === null) return missingParameter("input")
  if (typeof input !== "string" && !Array.isArray(input)) {
    return invalidType("input", "a string or an array of strings", input)
  }
  const pieces = piecesOf(input)
  if (Array.isArray(input) && input.length === 0) {
    return invalid(
      "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
      "input"
    )
  }
  if (pieces.length > maxInputs) {
    return invalid(
      `Invalid 'input': array too long. Expected an array with maximum length ${maxInputs}, but got an array with ` +
        `length ${pieces.length} instead.`,
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
  return undefined
}

const dimensionsError = (dimensions: unknown): ApiError =>
  invalid(
    `Invalid 'dimensions': expected an integer from 1 to ${maxDimensions}, but got ${
      JSON.stringify(dimensions)
    } instead.`,
    "dimensions",
    "invalid_value"
  )

/** What the codec's schema refused (its first refusal) worded as OpenAI words it. */
function refusalError(body: unknown, refused: Refused): ApiError {
  const { message, path } = refused.refusals[0]
  if (path.length === 0) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  const value = valueAt(body, path.slice(0, 1))
  switch (path[0]) {
    case "model":
      return modelError(value)
    case "input":
      return inputError(value) ?? refusedField("input", value, message)
    case "dimensions":
      return dimensionsError(value)
    case "encoding_format":
      return invalid(
        `Invalid value for 'encoding_format': expected 'float' or 'base64', but got ${JSON.stringify(value)} instead.`,
        "encoding_format"
      )
    default:
      return refusedField(String(path[0]), value, message)
  }
}

/** Reads `model`, `input`, `dimensions` and `encoding_format`, with OpenAI's messages for what is wrong. */
export function decodeEmbedding(body: unknown): Result.Result<EmbeddingRequest, ApiError> {
  const checked = checkBody(body)
  if (Result.isFailure(checked)) return Result.fail(refusalError(body, checked.failure))
  const wire = checked.success
  const broken = inputError(wire.input)
  if (broken !== undefined) return Result.fail(broken)
  const { dimensions } = toRequest(wire)
  if (dimensions !== undefined && (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > maxDimensions)) {
    return Result.fail(dimensionsError(dimensions))
  }
  return Result.succeed({
    model: wire.model,
    inputs: piecesOf(wire.input) as ReadonlyArray<string | ReadonlyArray<number>>,
    dimensions,
    base64: wire.encoding_format === "base64",
    single: false
  })
}

export const renderEmbedding = (
  vectors: ReadonlyArray<ReadonlyArray<number>>,
  request: EmbeddingRequest,
  promptTokens: number
): string => embeddingList(vectors, request.model, { promptTokens, totalTokens: promptTokens }, request.base64)
