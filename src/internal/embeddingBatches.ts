/**
 * Embedding requests taken apart and put back together: the inputs checked,
 * split into batches a provider takes in one request, and the batches'
 * responses joined in input order with their usage summed. Also the one call
 * flow every embedding adapter shares (`embedWith`): check, send, read.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { EmbeddingResponse, EmbeddingUsage, Input } from "../Embedding.js"
import { InvalidRequestError, type LlmError } from "../LlmError.js"
import type { Credentials } from "../ProviderClient.js"
import type * as ProviderHttp from "./providerHttp.js"

/** The inputs of a request as a list, or the error naming what is wrong with the request. */
export const inputsOf = (request: Input, provider: string, model: string): ReadonlyArray<string> | InvalidRequestError => {
  const invalid = (detail: string, param: string) => new InvalidRequestError({ provider, model, param, detail })
  const inputs: ReadonlyArray<string> = typeof request.input === "string" ? [request.input] : request.input
  if (inputs.length === 0) return invalid("the embedding request has no input: give at least one text", "input")
  for (let i = 0; i < inputs.length; i++) {
    if (typeof inputs[i] !== "string" || inputs[i] === "") {
      return invalid(
        `input[${i}] is ${typeof inputs[i] === "string" ? "an empty string" : "not a string"}; every input must be a non-empty text`,
        "input"
      )
    }
  }
  const dimensions = request.dimensions
  if (dimensions !== undefined && !(Number.isInteger(dimensions) && dimensions > 0)) {
    return invalid(`dimensions must be a positive integer, got ${dimensions}`, "dimensions")
  }
  return inputs
}

/** `inputs` in consecutive batches of at most `size` (at least 1). */
export const split = <A>(inputs: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const step = Math.max(1, Math.floor(size))
  if (inputs.length <= step) return [inputs]
  const batches: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < inputs.length; i += step) batches.push(inputs.slice(i, i + step))
  return batches
}

/** A cheap estimate of the tokens `inputs` take, for the rate limiter's budget: one per four characters. */
export const estimateTokens = (inputs: ReadonlyArray<string>): number => {
  let chars = 0
  for (const input of inputs) chars += input.length
  return Math.ceil(chars / 4)
}

/**
 * The responses of a request's batches, given in batch order, as one: vectors
 * concatenated, usage summed (estimated when any batch's was), the first
 * batch's model and key.
 */
export const combine = (parts: ReadonlyArray<EmbeddingResponse>, latency: Duration.Duration): EmbeddingResponse => {
  const first = parts[0]!
  if (parts.length === 1) return { ...first, latency }
  const embeddings: Array<ReadonlyArray<number>> = []
  const usage = { promptTokens: 0, totalTokens: 0, estimated: false }
  for (const part of parts) {
    for (const vector of part.embeddings) embeddings.push(vector)
    usage.promptTokens += part.usage.promptTokens
    usage.totalTokens += part.usage.totalTokens
    usage.estimated ||= part.usage.estimated
  }
  return { ...first, embeddings, usage, latency }
}

/** Whether a wire value is a vector: an array of finite numbers. */
export const isVector = (value: unknown): value is ReadonlyArray<number> =>
  Array.isArray(value) && value.every((n) => typeof n === "number" && Number.isFinite(n))

/** What a wire format adds to the shared embedding call. */
export interface WireOptions {
  readonly provider: string
  /** The client's default model. */
  readonly model: string | undefined
  /** The most inputs one request takes; more fail with `InvalidRequestError` (`Llm.embed` splits them first). */
  readonly maxInputs: number
  readonly path: (model: string) => string
  readonly body: (model: string, inputs: ReadonlyArray<string>, request: Input) => unknown
  /**
   * The vectors (one per input, in order), the model and usage of a reply
   * body, or the reason it is not a reply. Usage absent: none reported.
   */
  readonly read: (body: Readonly<Record<string, unknown>>, inputs: number) =>
    | {
      readonly embeddings: ReadonlyArray<ReadonlyArray<number>>
      readonly model?: string | undefined
      readonly usage?: EmbeddingUsage | undefined
    }
    | string
  /** Whether a 2xx body is an error payload, and which error. */
  readonly isError?: ((body: Readonly<Record<string, unknown>>) => boolean) | undefined
}

const noUsage: EmbeddingUsage = { promptTokens: 0, totalTokens: 0, estimated: false }

/**
 * One embedding request of one batch over `transport`: inputs checked (no
 * HTTP for a bad request), the body sent, the reply read. Usage the provider
 * did not report is all zeros; `Llm.embed` estimates it.
 */
export const embedWith = (transport: ProviderHttp.Transport, options: WireOptions) =>
(request: Input, credentials: Credentials): Effect.Effect<EmbeddingResponse, LlmError> =>
  Effect.suspend(() => {
    const provider = options.provider
    const model = request.model ?? options.model
    if (model === undefined || model === "") {
      return Effect.fail(
        new InvalidRequestError({
          provider,
          model: "",
          param: "model",
          detail: "the request names no model and the client has no default `model`"
        })
      )
    }
    const inputs = inputsOf(request, provider, model)
    if (!Array.isArray(inputs)) return Effect.fail(inputs as InvalidRequestError)
    if (inputs.length > options.maxInputs) {
      return Effect.fail(
        new InvalidRequestError({
          provider,
          model,
          param: "input",
          detail: `${inputs.length} inputs in one request; ${provider} takes at most ${options.maxInputs} (Llm.embed splits them)`
        })
      )
    }
    const call = transport.prepare({
      path: options.path(model),
      body: options.body(model, inputs, request),
      model,
      credentials,
      timeout: request.timeout
    })
    if (!("request" in call)) return Effect.fail(call)
    return Effect.flatMap(transport.json(call), ({ body, latency, response, text }) =>
      Effect.clockWith((clock): Effect.Effect<EmbeddingResponse, LlmError> => {
        if (options.isError?.(body) === true) {
          return Effect.fail(transport.errorOf(call, body, clock.currentTimeMillisUnsafe(), response.headers))
        }
        const read = options.read(body, inputs.length)
        if (typeof read === "string") {
          return Effect.fail(transport.decodeError(call, `the embedding response has the wrong shape: ${read}`, text))
        }
        if (read.embeddings.length !== inputs.length) {
          return Effect.fail(
            transport.decodeError(call, `${read.embeddings.length} embeddings came back for ${inputs.length} inputs`, text)
          )
        }
        return Effect.succeed({
          embeddings: read.embeddings,
          model: read.model ?? model,
          provider,
          usage: read.usage ?? noUsage,
          latency,
          keyId: credentials.keyId
        })
      }))
  })
