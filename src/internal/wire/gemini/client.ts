/**
 * The Gemini API adapter (`Gemini`): its table, which Vertex AI (`Vertex`) fills in with its own model paths, bearer
 * token and `countTokens` body; and its `?alt=sse` stream's parser. Every event is a whole `GenerateContentResponse`
 * holding only new parts; `usageMetadata` is a running total (the last one wins); function calls come whole. There is
 * no end marker: a body that ends without a `finishReason` is truncated.
 */
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type { ChatChunk } from "../../../ChatChunk.js"
import {
  ContentFilterError,
  fromHttpFailure,
  type LlmError,
  OutputDecodeError,
  StreamTruncatedError
} from "../../../LlmError.js"
import type { OptionsError } from "../../../OptionsError.js"
import type * as Sse from "../../../Sse.js"
import { pickDefined, replyId, replyModel } from "../../json.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import * as Adapter from "../../providers/adapter.js"
import type { BatchWire } from "../../providers/batch.js"
import { type ErrorFields, JsonSseParser } from "../../sse/streamParser.js"
import { excerpt } from "../openAiChat/codec.js"
import * as Batch from "./batch.js"
import * as Wire from "./codec.js"
import * as Embeddings from "./embeddings.js"
import type { Options } from "./options.js"

const apiKey = (key: Redacted.Redacted<string>) => ["x-goog-api-key", Redacted.value(key)] as const

/** Where a cloud serves Gemini models, and how it differs from the Gemini API. */
export interface Cloud {
  /** Names the options' owner in an `OptionsError`. */
  readonly adapter: string
  readonly provider: string
  readonly baseUrl: string
  /** The path of a model's resource, before `:generateContent`. */
  readonly resource: (model: string) => string
  /** The bearer token of each request, in place of a key. */
  readonly token: Effect.Effect<Redacted.Redacted<string>, string>
  /** Why `embed` fails: the cloud's embeddings are another wire. */
  readonly embeddings: string
  /** The cloud's batch API. Default: none, and `Batch` runs a batch's requests as calls. */
  readonly batch?: BatchWire | undefined
}

// Vertex AI's `countTokens` takes these fields of a generation request, and no others (Vertex AI's REST reference).
const countedFields = ["contents", "systemInstruction", "tools", "generationConfig"] as const

/** The Gemini API's table for `options`, or a cloud's (`cloud`): its paths, token and count body. */
export const definition = (options: Options, cloud?: Cloud): Result.Result<Adapter.Definition, OptionsError> => {
  const adapter = cloud?.adapter ?? "Gemini"
  const version = (options.apiVersion ?? "v1beta").replace(/^\/+|\/+$/g, "")
  const resource = cloud?.resource ?? ((model: string) => `/${version}/${Wire.resourcePath(model)}`)
  const maxEventSize = options.maxEventSize
  const invalid = Adapter.checkPositive(adapter, "maxEventSize", maxEventSize) ??
    Adapter.checkPositive(adapter, "maxResponseBytes", options.maxResponseBytes, true)
  if (invalid !== undefined) return Result.fail(invalid)
  return Result.succeed({
    provider: options.provider ?? cloud?.provider ?? "gemini",
    model: options.model,
    baseUrl: cloud?.baseUrl ?? options.baseUrl ?? "https://generativelanguage.googleapis.com",
    headers: options.headers,
    auth: cloud === undefined ? apiKey : () => undefined,
    token: cloud?.token,
    ...Adapter.limitsOf(options),
    path: (model, stream) => `${resource(model)}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
    body: (request) => Wire.requestBody(request),
    failureOf: (body) => Wire.isErrorPayload(body) ? body : undefined,
    reply: (body, { decodeError, model, provider }) => {
      const candidate = Wire.candidateOf(body)
      if (candidate !== undefined) return Result.succeed(Wire.reply(body, candidate))
      const blocked = Wire.blockedDetail(body)
      return Result.fail(
        blocked === undefined
          ? decodeError("the response has no candidates")
          : new ContentFilterError({ provider, model, detail: blocked })
      )
    },
    stream: (context) => new GeminiStreamParser({ ...context, maxEventSize }),
    embeddings: cloud?.embeddings ?? {
      maxInputs: Embeddings.maxEmbeddingInputs,
      tokens: false,
      path: (model) => `${resource(model)}:batchEmbedContents`,
      body: (model, inputs, request) => Embeddings.embeddingBody(Wire.resourceOf(model), inputs, request.dimensions),
      read: Embeddings.readEmbeddings,
      isError: Wire.isErrorPayload
    },
    // A cloud's batches are its own API (Vertex AI's batch prediction jobs over Cloud Storage), where it has one.
    ...(cloud === undefined
      ? { batch: Batch.clientWire(resource, `/${version}`) }
      : cloud.batch === undefined
      ? {}
      : { batch: cloud.batch }),
    countTokens: {
      path: (model) => `${resource(model)}:countTokens`,
      body: cloud === undefined
        // The whole request, so its system instruction and tools are counted too.
        ? (request, model) => ({
          generateContentRequest: { model: Wire.resourceOf(model), ...Wire.requestBody(request) }
        })
        : (request) => pickDefined(Wire.requestBody(request), countedFields),
      count: Wire.totalTokensOf
    }
  })
}

/** What a stream needs to know about its call. */
export interface StreamContext extends Adapter.StreamContext {
  readonly maxEventSize: number | undefined
}

/** One stream's state (`StreamParser`). */
export class GeminiStreamParser extends JsonSseParser {
  private id = ""
  private model: string
  private reason: string | undefined
  /** The last `usageMetadata` seen, decoded once at the end: every event carries the running total. */
  private usage: unknown
  private calls = 0
  private signature: string | undefined

  constructor(private readonly context: StreamContext) {
    super(context)
    this.model = context.model
  }

  /** The reply is whole only if its last candidate said why it stopped. */
  protected ended(out: Array<ChatChunk>): LlmError | undefined {
    if (this.reason === undefined) {
      return new StreamTruncatedError({
        provider: this.context.provider,
        model: this.model,
        detail: "the stream ended without a finishReason"
      })
    }
    this.done = true
    Adapter.finishInto(out, this.context, Wire.usage(this.usage), {
      finishReason: Wire.finishReason(this.reason, this.calls > 0),
      id: this.id,
      model: this.model,
      providerMetadata: Wire.replyMetadata(this.signature)
    })
    return undefined
  }

  protected errorFields(): ErrorFields {
    return { provider: this.context.provider, model: this.model }
  }

  protected decodeError(detail: string, raw: string): LlmError {
    return new OutputDecodeError({ ...this.errorFields(), detail, raw: excerpt(raw) })
  }

  protected events(events: Array<Sse.Event>, out: Array<ChatChunk>): LlmError | undefined {
    for (let i = 0; i < events.length; i++) {
      const failure = this.jsonEvent(events[i]!.data, out)
      if (failure !== undefined) return failure
    }
    return undefined
  }

  protected readEvent(value: JsonObject, out: Array<ChatChunk>): LlmError | undefined {
    if (Wire.isErrorPayload(value)) {
      return fromHttpFailure({
        provider: this.context.provider,
        model: this.model,
        body: value,
        nowMillis: this.context.now(),
        secrets: [this.context.secret]
      })
    }
    if (this.id === "") this.id = replyId(value["responseId"])
    this.model = replyModel(value["modelVersion"]) ?? this.model
    const usage = value["usageMetadata"]
    if (isJsonObject(usage)) this.usage = usage
    const candidate = Wire.candidateOf(value)
    if (candidate === undefined) {
      const blocked = Wire.blockedDetail(value)
      return blocked === undefined
        ? undefined
        : new ContentFilterError({ provider: this.context.provider, model: this.model, detail: blocked })
    }
    const parts = Wire.partsOf(candidate)
    for (let i = 0; i < parts.length; i++) {
      const raw = parts[i]
      // The hot path: a plain text delta, read without building a Part.
      if (isJsonObject(raw) && typeof raw["text"] === "string" && raw["thoughtSignature"] === undefined) {
        const text = raw["text"]
        if (text !== "") out.push({ _tag: raw["thought"] === true ? "ReasoningDelta" : "TextDelta", text })
        continue
      }
      const part = Wire.partOf(raw)
      switch (part._tag) {
        case "Text":
          if (part.text !== "") out.push({ _tag: part.thought ? "ReasoningDelta" : "TextDelta", text: part.text })
          break
        case "Call": {
          const index = this.calls++
          // The call's own fields only: its id, name, arguments and, where it has one, its metadata.
          out.push({ _tag: "ToolCallDelta", index, ...part.call(index, this.id) })
          continue
        }
      }
      if (part.signature !== undefined) this.signature = part.signature
    }
    const reason = candidate["finishReason"]
    if (typeof reason === "string") this.reason = reason
    return undefined
  }
}
