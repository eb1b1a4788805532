/**
 * The Anthropic Messages adapter's table (`Anthropic`), which Vertex AI (`Vertex`) fills in with its own paths
 * (`:rawPredict`, `:streamRawPredict`), its bearer token and the body it takes (the version in `anthropic_version`,
 * no `model`).
 */
import type * as Effect from "effect/Effect"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { OptionsError } from "../../../OptionsError.js"
import type { JsonObject } from "../../json.js"
import * as Adapter from "../../providers/adapter.js"
import * as Batch from "./batch.js"
import { isErrorPayload } from "./errors.js"
import { apiVersion, defaultMaxTokens, type Options } from "./options.js"
import { reply } from "./reply.js"
import * as Wire from "./request.js"
import { AnthropicStreamParser } from "./stream.js"

const apiKey = (key: Redacted.Redacted<string>) => ["x-api-key", Redacted.value(key)] as const

const requestIdOf = (response: HttpClientResponse.HttpClientResponse) =>
  response.headers["request-id"] ?? response.headers["x-request-id"]

/** Where a cloud serves Anthropic's models, and how it differs from Anthropic's API. */
export interface Cloud {
  /** Names the options' owner in an `OptionsError`. */
  readonly adapter: string
  readonly provider: string
  readonly baseUrl: string
  readonly path: (model: string, stream: boolean) => string
  /** The bearer token of each request, in place of a key. */
  readonly token: Effect.Effect<Redacted.Redacted<string>, string>
  /** The `anthropic_version` of the body, which names no `model` (the path does). */
  readonly bodyVersion: string
}

/** Anthropic's table for `options`, or a cloud's (`cloud`): its paths, token and body. */
export const definition = (options: Options, cloud?: Cloud): Result.Result<Adapter.Definition, OptionsError> => {
  const adapter = cloud?.adapter ?? "Anthropic"
  const maxTokens = options.maxTokens ?? defaultMaxTokens
  const maxEventSize = options.maxEventSize
  const invalid = Adapter.checkPositive(adapter, "maxTokens", maxTokens, true) ??
    Adapter.checkPositive(adapter, "maxEventSize", maxEventSize) ??
    Adapter.checkPositive(adapter, "maxResponseBytes", options.maxResponseBytes, true)
  if (invalid !== undefined) return Result.fail(invalid)
  const systemInPlace = (model: string) => options.midConversationSystem ?? Wire.takesMidConversationSystem(model)
  const beta = options.beta !== undefined && options.beta.length > 0 ? { "anthropic-beta": options.beta.join(",") } : {}
  const header = options.headers?.["anthropic-beta"]
  const configured = [...options.beta ?? [], ...(typeof header === "string" ? header.split(",") : [])]
    .map((value) => value.trim()).filter((value) => value !== "")
  // The deployment's own betas and those the request's fields need, once each.
  const requestHeaders = (request: ChatRequest, model: string) => {
    const needed = Wire.requestBetas(request, { model, systemInPlace: systemInPlace(model) })
      .filter((value) => !configured.includes(value))
    return needed.length === 0 ? undefined : { "anthropic-beta": [...configured, ...needed].join(",") }
  }
  // The body written, and a reply read whole or streamed, the forced tool of a structured answer's (where it is one)
  // read as its text.
  const replies = (structuredOutputs: boolean) => ({
    body: (request: ChatRequest, model: string, stream: boolean) =>
      Wire.requestBody(request, {
        model,
        stream,
        maxTokens,
        systemInPlace: systemInPlace(model),
        structuredOutputs,
        cacheConversations: options.cacheConversations
      }),
    reply: (body: JsonObject, { model, request }: Adapter.ReplyContext) =>
      Result.succeed(reply(body, Wire.forcedOutputTool(request, model, structuredOutputs))),
    stream: (context: Adapter.StreamContext) =>
      new AnthropicStreamParser({
        ...context,
        outputTool: Wire.forcedOutputTool(context.request, context.model, structuredOutputs),
        maxEventSize
      })
  })
  const common = {
    model: options.model,
    requestId: requestIdOf,
    ...Adapter.limitsOf(options),
    failureOf: (body: JsonObject) => isErrorPayload(body) ? body : undefined,
    // Anthropic has no embeddings API (it points to Voyage AI).
    embeddings: "Anthropic has no embeddings API; embed with an OpenAI-compatible, Gemini or Ollama client",
    // Anthropic's Messages API continues a last assistant message (its "prefill").
    prefill: true,
    toolSearch: true,
    requestHeaders
  }
  if (cloud !== undefined) {
    const { body, ...read } = replies(false)
    return Result.succeed({
      ...common,
      ...read,
      provider: options.provider ?? cloud.provider,
      baseUrl: cloud.baseUrl,
      headers: { ...beta, ...options.headers },
      auth: () => undefined,
      token: cloud.token,
      path: cloud.path,
      body: (request, model, stream) => {
        const { model: _, ...rest } = body(request, model, stream)
        return { anthropic_version: cloud.bodyVersion, ...rest }
      }
    })
  }
  return Result.succeed({
    ...common,
    ...replies(true),
    provider: options.provider ?? "anthropic",
    baseUrl: (options.baseUrl ?? "https://api.anthropic.com").replace(/\/+$/, "").replace(/\/v1$/, ""),
    headers: { "anthropic-version": options.version ?? apiVersion, ...beta, ...options.headers },
    auth: apiKey,
    path: () => "/v1/messages",
    batch: Batch.clientWire,
    countTokens: {
      path: () => "/v1/messages/count_tokens",
      body: (request, model) => Wire.countBody(request, { model, maxTokens, systemInPlace: systemInPlace(model) }),
      count: Wire.countOf
    }
  })
}
