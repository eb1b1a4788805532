/**
 * The Gemini API adapter's table (`Gemini`), which Vertex AI (`Vertex`) fills in with its own model paths
 * (`projects/{project}/locations/{location}/publishers/google/models/{model}`), its bearer token and its
 * `countTokens` body.
 */
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { ContentFilterError } from "../../../LlmError.js"
import type { OptionsError } from "../../../OptionsError.js"
import type { Options } from "../../../providers/Gemini.js"
import * as Wire from "../../codec/gemini.js"
import * as Adapter from "../adapter.js"
import { GeminiStreamParser } from "./stream.js"

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
}

// Vertex AI's `countTokens` takes these fields of a generation request, and no others (Vertex AI's REST reference).
const countedFields = ["contents", "systemInstruction", "tools", "generationConfig"] as const

/** The Gemini API's table for `options`, or a cloud's (`cloud`): its paths, token and count body. */
export const definition = (options: Options, cloud?: Cloud): Adapter.Definition | OptionsError => {
  const adapter = cloud?.adapter ?? "Gemini"
  const version = (options.apiVersion ?? "v1beta").replace(/^\/+|\/+$/g, "")
  const resource = cloud?.resource ?? ((model: string) => `/${version}/${Wire.resourcePath(model)}`)
  const maxEventSize = options.maxEventSize
  const invalid = Adapter.checkPositive(adapter, "maxEventSize", maxEventSize) ??
    Adapter.checkPositive(adapter, "maxResponseBytes", options.maxResponseBytes, true)
  if (invalid !== undefined) return invalid
  return {
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
      if (candidate !== undefined) return Wire.reply(body, candidate)
      const blocked = Wire.blockedDetail(body)
      return blocked === undefined
        ? decodeError("the response has no candidates")
        : new ContentFilterError({ provider, model, detail: blocked })
    },
    stream: (context) => new GeminiStreamParser({ ...context, maxEventSize }),
    embeddings: cloud?.embeddings ?? {
      maxInputs: Wire.maxEmbeddingInputs,
      tokens: false,
      path: (model) => `${resource(model)}:batchEmbedContents`,
      body: (model, inputs, request) => Wire.embeddingBody(Wire.resourceOf(model), inputs, request.dimensions),
      read: Wire.readEmbeddings,
      isError: Wire.isErrorPayload
    },
    countTokens: {
      path: (model) => `${resource(model)}:countTokens`,
      body: cloud === undefined
        // The whole request, so its system instruction and tools are counted too.
        ? (request, model) => ({
          generateContentRequest: { model: Wire.resourceOf(model), ...Wire.requestBody(request) }
        })
        : (request) => {
          const body = Wire.requestBody(request)
          return Object.fromEntries(countedFields.flatMap((field) => field in body ? [[field, body[field]]] : []))
        },
      count: Wire.totalTokensOf
    }
  }
}
