/**
 * Embedding requests taken apart and put back together: the inputs checked and split into batches a provider takes in
 * one request, the batches' responses joined in input order; and the one call flow every embedding adapter shares
 * (`embedWith`).
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { type EmbeddingResponse, type EmbeddingUsage, type Input, isTokens } from "../../Embedding.js"
import { InvalidRequestError, type LlmError } from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import type * as ProviderHttp from "../transport/providerHttp.js"

/** One input: a text, or token ids. */
export type Piece = string | ReadonlyArray<number>

/** The refusal of an embedding request before any HTTP, its field `param` at fault. */
const refused = (provider: string, model: string, param: string, detail: string) =>
  Result.fail(new InvalidRequestError({ provider, model, param, detail }))

/** The inputs of a request as a list (a text or an array of token ids each), or the error naming what is wrong. */
export const inputsOf = (
  request: Input,
  provider: string,
  model: string
): Result.Result<ReadonlyArray<Piece>, InvalidRequestError> => {
  const invalid = (detail: string, param: string) => refused(provider, model, param, detail)
  const input = request.input
  const inputs: ReadonlyArray<Piece> = typeof input === "string"
    ? [input]
    : isTokens(request)
    ? typeof input[0] === "number" ? [input as ReadonlyArray<number>] : input as ReadonlyArray<ReadonlyArray<number>>
    : input as ReadonlyArray<string>
  if (inputs.length === 0) return invalid("the embedding request has no input: give at least one text", "input")
  for (let i = 0; i < inputs.length; i++) {
    const piece = inputs[i]
    if (typeof piece === "string" ? piece === "" : !isTokenIds(piece)) {
      return invalid(
        `input[${i}] is ${typeof piece === "string" ? "an empty string" : "not a text or non-empty token ids"}; ` +
          "every input must be a non-empty text (or token ids)",
        "input"
      )
    }
  }
  const dimensions = request.dimensions
  if (dimensions !== undefined && !(Number.isInteger(dimensions) && dimensions > 0)) {
    return invalid(`dimensions must be a positive integer, got ${dimensions}`, "dimensions")
  }
  return Result.succeed(inputs)
}

/** `inputs` in consecutive batches of at most `size` (at least 1). */
export const split = <A>(inputs: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const step = Math.max(1, Math.floor(size))
  if (inputs.length <= step) return [inputs]
  const batches: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < inputs.length; i += step) batches.push(inputs.slice(i, i + step))
  return batches
}

/** A batch of inputs as a request's `input`: texts, or arrays of token ids (one request's inputs are of one kind). */
export const asInput = (inputs: ReadonlyArray<Piece>): Input["input"] =>
  allText(inputs) ? inputs : inputs as ReadonlyArray<ReadonlyArray<number>>

const isTokenIds = (u: unknown): boolean =>
  Array.isArray(u) && u.length > 0 && u.every((id) => typeof id === "number" && Number.isInteger(id) && id >= 0)

/** Whether every input is a text: what a provider that takes no token ids needs. */
export const allText = (inputs: ReadonlyArray<Piece>): inputs is ReadonlyArray<string> =>
  inputs.every((piece) => typeof piece === "string")

/** A cheap estimate of `inputs`' tokens for the rate limiter's budget: about four characters a token of a text. */
export const estimateTokens = (inputs: ReadonlyArray<Piece>): number => {
  let chars = 0
  let ids = 0
  for (const input of inputs) {
    if (typeof input === "string") chars += input.length
    else ids += input.length
  }
  return Math.ceil(chars / 4) + ids
}

/** The responses of a request's batches, in batch order, as one: usage summed (estimated when any batch's was). */
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
export type WireOptions = WireCommon & WireBody

/** The body of one batch: an API that takes token ids (OpenAI's), or text only (a request of ids then fails). */
export type WireBody =
  | { readonly tokens: true; readonly body: (model: string, inputs: ReadonlyArray<Piece>, request: Input) => unknown }
  | { readonly tokens: false; readonly body: (model: string, inputs: ReadonlyArray<string>, request: Input) => unknown }

/** What a reply body holds: the vectors (one per input, in order), its model, and its usage (absent: none reported). */
export interface EmbeddingsRead {
  readonly embeddings: ReadonlyArray<ReadonlyArray<number>>
  readonly model?: string | undefined
  readonly usage?: EmbeddingUsage | undefined
}

export interface WireCommon {
  readonly provider: string
  /** The client's default model. */
  readonly model: string | undefined
  /** The most inputs one request takes; more fail with `InvalidRequestError` (`Llm.embed` splits them first). */
  readonly maxInputs: number
  readonly path: (model: string) => string
  /** The vectors, model and usage of a reply body, or the reason it is not a reply. */
  readonly read: (body: Readonly<Record<string, unknown>>, inputs: number) => Result.Result<EmbeddingsRead, string>
  /** Whether a 2xx body is an error payload, and which error. */
  readonly isError?: ((body: Readonly<Record<string, unknown>>) => boolean) | undefined
}

// The body of a batch, or the refusal of token ids by an API that takes text only.
function bodyOf(
  options: WireOptions,
  model: string,
  inputs: ReadonlyArray<Piece>,
  request: Input
): Result.Result<unknown, InvalidRequestError> {
  if (options.tokens) return Result.succeed(options.body(model, inputs, request))
  if (allText(inputs)) return Result.succeed(options.body(model, inputs, request))
  return refused(
    options.provider,
    model,
    "input",
    `the input is token ids, which ${options.provider}'s embeddings API does not take ` +
      "(only OpenAI-compatible ones do): send the text"
  )
}

/** The call of one batch, its model and inputs, or the `InvalidRequestError` that stops it before any HTTP. */
function prepare(
  transport: ProviderHttp.Transport,
  options: WireOptions,
  request: Input,
  credentials: Credentials
): Result.Result<
  { readonly model: string; readonly inputs: ReadonlyArray<Piece>; readonly call: ProviderHttp.Call },
  InvalidRequestError
> {
  return Result.gen(function*() {
    const provider = options.provider
    const model = request.model ?? options.model
    if (model === undefined || model === "") {
      return yield* refused(provider, "", "model", "the request names no model and the client has no default `model`")
    }
    const inputs = yield* inputsOf(request, provider, model)
    if (inputs.length > options.maxInputs) {
      return yield* refused(
        provider,
        model,
        "input",
        `${inputs.length} inputs in one request; ${provider} takes at most ${options.maxInputs} (Llm.embed splits them)`
      )
    }
    const body = yield* bodyOf(options, model, inputs, request)
    const call = yield* transport.prepare({
      path: options.path(model),
      body,
      model,
      credentials,
      timeout: request.timeout
    })
    return { model, inputs, call }
  })
}

const noUsage: EmbeddingUsage = { promptTokens: 0, totalTokens: 0, estimated: false }

/**
 * One embedding request of one batch: a bad request sends no HTTP. Usage the provider did not report is all zeros;
 * `Llm.embed` estimates it.
 */
export const embedWith =
  (transport: ProviderHttp.Transport, options: WireOptions) =>
  (request: Input, credentials: Credentials): Effect.Effect<EmbeddingResponse, LlmError> =>
    Effect.suspend(() => {
      const prepared = prepare(transport, options, request, credentials)
      if (Result.isFailure(prepared)) return Effect.fail(prepared.failure)
      const { call, inputs, model } = prepared.success
      const provider = options.provider
      return transport.json(call, ({ body, latency, response, text }) =>
        Effect.clockWith((clock): Effect.Effect<EmbeddingResponse, LlmError> => {
          if (options.isError?.(body) === true) {
            return Effect.fail(transport.errorOf(call, body, clock.currentTimeMillisUnsafe(), response.headers))
          }
          const reading = options.read(body, inputs.length)
          if (Result.isFailure(reading)) {
            const reason = reading.failure
            return Effect.fail(
              transport.decodeError(call, `the embedding response has the wrong shape: ${reason}`, text)
            )
          }
          const read = reading.success
          if (read.embeddings.length !== inputs.length) {
            return Effect.fail(
              transport.decodeError(
                call,
                `${read.embeddings.length} embeddings came back for ${inputs.length} inputs`,
                text
              )
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
