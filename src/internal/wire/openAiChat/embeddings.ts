/**
 * OpenAI's embeddings wire (`POST /v1/embeddings`, OpenAI's API reference "Create embeddings" and "The embedding
 * object") in both directions, for every OpenAI-style client (`OpenAiChat`, so each compatible preset, and
 * `OpenAiResponses`) and server. A reply is read as JSON numbers or base64 float32 whatever was asked, as some
 * compatible servers ignore `encoding_format`, and put in input order by each item's `index`.
 */
import * as Base64 from "effect/encoding/Base64"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { EmbeddingRequest, type EmbeddingUsage, type Input } from "../../../Embedding.js"
import { isJsonObject, type JsonObject, replyModel } from "../../json.js"
import type * as Adapter from "../../providers/adapter.js"
import * as Batches from "../../providers/embeddingBatches.js"
import { checker, maybe, set } from "../../schemaCheck.js"
import { isErrorPayload } from "./codec.js"

/** How vectors travel on the wire. */
export type EncodingFormat = "float" | "base64"

/** The most inputs OpenAI takes in one request (OpenAI's Embeddings API reference, `input`). */
export const maxInputs = 2048

/** The embeddings body, as a server reads it. */
export const EmbeddingsBody = Schema.Struct({
  model: Schema.String,
  input: EmbeddingRequest.fields.input,
  dimensions: maybe(Schema.Number),
  encoding_format: maybe(Schema.Literals(["float", "base64"]))
})

/** `EmbeddingsBody`'s check: a parsed JSON body as itself, or what the schema finds wrong with it (the first thing). */
export const checkBody = checker(EmbeddingsBody, { errors: "first" })

/** A checked body as the engine's request; its `model` is the server's to read. */
export function toRequest(body: typeof EmbeddingsBody.Type): Input {
  const request: { -readonly [K in keyof Input]: Input[K] } = { input: body.input }
  set(request, "dimensions", body.dimensions)
  return request
}

/** The request body of one batch. */
export function requestBody(
  model: string,
  inputs: ReadonlyArray<Batches.Piece>,
  dimensions: number | undefined,
  encoding: EncodingFormat
): JsonObject {
  return {
    model,
    input: inputs,
    encoding_format: encoding,
    ...(dimensions !== undefined ? { dimensions } : {})
  }
}

/** A vector as base64 of little-endian float32s. */
export function base64Floats(vector: ReadonlyArray<number>): string {
  const view = new DataView(new ArrayBuffer(vector.length * 4))
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i]!, true)
  return Base64.encode(new Uint8Array(view.buffer))
}

/** Base64 of little-endian float32s as numbers, or the reason it is not that. */
export function decodeBase64Floats(text: string): Result.Result<Array<number>, string> {
  const decoded = Base64.decode(text)
  if (Result.isFailure(decoded)) return Result.fail("an embedding is not valid base64")
  const bytes = decoded.success
  if (bytes.length % 4 !== 0) {
    return Result.fail(`a base64 embedding has ${bytes.length} bytes, not a whole number of float32s`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Array<number>(bytes.length / 4)
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true)
  return Result.succeed(out)
}

/** The counts an embeddings list reports. */
export type ListUsage = Pick<EmbeddingUsage, "promptTokens" | "totalTokens">

/** Vectors as the embeddings list of `model`, each as numbers or as base64. */
export function embeddingList(
  vectors: ReadonlyArray<ReadonlyArray<number>>,
  model: string,
  usage: ListUsage,
  base64: boolean
): string {
  return JSON.stringify({
    object: "list",
    data: vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding: base64 ? base64Floats(vector) : vector
    })),
    model,
    usage: { prompt_tokens: usage.promptTokens, total_tokens: usage.totalTokens }
  })
}

function vectorOf(value: unknown): Result.Result<ReadonlyArray<number>, string> {
  if (typeof value === "string") return decodeBase64Floats(value)
  if (Batches.isVector(value)) return Result.succeed(value)
  return Result.fail("an embedding is neither an array of numbers nor a base64 string")
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined
}

/** A reply's vectors in input order, model and usage, or the reason it is not a reply. */
export function readReply(body: JsonObject, inputs: number): Result.Result<Batches.EmbeddingsRead, string> {
  const data = body["data"]
  if (!Array.isArray(data)) return Result.fail("data is not an array")
  const embeddings = new Array<ReadonlyArray<number>>(data.length)
  for (let i = 0; i < data.length; i++) {
    const item: unknown = data[i]
    if (!isJsonObject(item)) return Result.fail(`data[${i}] is not an object`)
    const index = item["index"] === undefined ? i : item["index"]
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= Math.max(inputs, data.length)) {
      return Result.fail(`data[${i}].index is not an index of the inputs`)
    }
    if (embeddings[index] !== undefined) return Result.fail(`data[${i}].index ${index} repeats an earlier one`)
    const vector = vectorOf(item["embedding"])
    if (Result.isFailure(vector)) return Result.fail(`data[${i}]: ${vector.failure}`)
    embeddings[index] = vector.success
  }
  const usage = body["usage"]
  const prompt = isJsonObject(usage) ? count(usage["prompt_tokens"]) : undefined
  const total = isJsonObject(usage) ? count(usage["total_tokens"]) : undefined
  const reported: EmbeddingUsage | undefined = prompt === undefined && total === undefined
    ? undefined
    : { promptTokens: prompt ?? total ?? 0, totalTokens: total ?? prompt ?? 0, estimated: false }
  return Result.succeed({ embeddings, model: replyModel(body["model"]), usage: reported })
}

/** The embeddings wire of an OpenAI-style client (`POST {baseUrl}/embeddings`). */
export function wire(encoding: EncodingFormat): Adapter.Embeddings {
  return {
    maxInputs,
    path: () => "/embeddings",
    tokens: true,
    body: (model, inputs, request) => requestBody(model, inputs, request.dimensions, encoding),
    read: readReply,
    isError: isErrorPayload
  }
}
