/**
 * Embeddings: what a caller asks to have embedded, and the vectors that come back, in the order of the inputs.
 * `Llm.embed` splits a list longer than the provider takes in one request into batches, the usage summed.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * Token ids (0 or more each): one input already tokenized for the model, as OpenAI's embeddings API takes it.
 *
 * @since 0.3.0
 * @category Models
 */
export const Tokens = Schema.Array(Count)

/**
 * What to embed: one text or several, or token ids (one input as an array of ids, several as an array of such
 * arrays), which only OpenAI-compatible APIs take: a client that takes text only refuses them with
 * `InvalidRequestError`, and a `Router` sends them only to deployments that take them. An empty list or an empty
 * input fails with `InvalidRequestError` before any call (OpenAI rejects empty strings), as does a request that does
 * not match this schema (an `input` of 42, a `dimensions` of 1.5), naming the path.
 *
 * @since 0.1.0
 * @category Models
 */
export class EmbeddingRequest extends Schema.Opaque<EmbeddingRequest>()(Schema.Struct({
  /** One text or several, or token ids: the response holds one vector per input, in this order. */
  input: Schema.Union([Schema.String, Schema.Array(Schema.String), Tokens, Schema.Array(Tokens)]).annotate({
    expected: "a string, an array of strings, an array of token ids or an array of arrays of token ids"
  }),
  /** The embedding model; when unset, the layer's default model is used. */
  model: Schema.optional(Schema.String),
  /**
   * The length of the vectors, for models that can shorten them (OpenAI `text-embedding-3-*`, Gemini, Ollama).
   * Default: the model's own.
   */
  dimensions: Schema.optional(PositiveInt),
  /** How long to wait for each batch's reply. Default: the client's timeout. */
  timeout: Schema.optional(Schema.Duration)
})) {}

/**
 * The fields of an embedding request, as a plain object literal: what `Llm.embed` and the provider clients accept.
 *
 * @since 0.1.0
 * @category Models
 */
export type Input = typeof EmbeddingRequest.Type

/**
 * Whether a request's inputs are token ids rather than text.
 *
 * @example
 * ```ts
 * import { Embedding } from "effect-llm-router"
 *
 * Embedding.isTokens({ input: [[1, 2], [3]] }) // true
 * Embedding.isTokens({ input: ["red", "blue"] }) // false
 * ```
 *
 * @since 0.3.0
 * @category Accessors
 */
export const isTokens = (request: Pick<Input, "input">): boolean =>
  Array.isArray(request.input) && request.input.length > 0 && typeof request.input[0] !== "string"

/**
 * Checks a request built from untrusted input; fails with a `SchemaError` that names every bad field (with
 * `{ errors: "all" }`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Embedding, Llm } from "effect-llm-router"
 *
 * // A request from an HTTP body, checked before it is sent.
 * const relay = (body: unknown) => Effect.flatMap(Embedding.decode(body, { errors: "all" }), Llm.embed)
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const decode = Schema.decodeUnknownEffect(EmbeddingRequest)

/**
 * Token counts of an embedding call; `totalTokens` is the prompt's. `estimated` is true when the provider reported no
 * usage (Gemini never does) and the tokens were counted locally.

 *
 * @since 0.1.0
 * @category Models
 */
export class EmbeddingUsage extends Schema.Opaque<EmbeddingUsage>()(Schema.Struct({
  promptTokens: Count,
  totalTokens: Count,
  estimated: Schema.Boolean
})) {}

/**
 * The vectors of an embedding call.
 *
 * @since 0.1.0
 * @category Models
 */
export class EmbeddingResponse extends Schema.Opaque<EmbeddingResponse>()(Schema.Struct({
  /** One vector per input, in the order of the inputs. */
  embeddings: Schema.Array(Schema.Array(Schema.Number)),
  /** The model that answered, as the provider names it. */
  model: Schema.String,
  /** The provider the vectors came from. */
  provider: Schema.String,
  /** Summed over every batch. */
  usage: EmbeddingUsage,
  /** From sending the first batch to the end of the last. */
  latency: Schema.Duration,
  /** The masked id of the key that served the call (with several batches, the first batch's); never the key. */
  keyId: Schema.optional(Schema.String),
  /**
   * The cost in US dollars (the prompt tokens at the input price), when a price is known: the `Llm`'s `price`, else
   * the built-in price of the model.
   */
  cost: Schema.optional(Schema.Number)
})) {}
