/**
 * Vertex AI's table (Vertex AI's REST reference): a model's publisher picks the wire. Google's models take the Gemini
 * adapter's table on Vertex's paths; Anthropic's take the Anthropic adapter's on `:rawPredict` and `:streamRawPredict`,
 * the body's version `vertex-2023-10-16` and no `model`. Both send a Google access token. With a batch group, Google's
 * models' batches are batch prediction jobs over Cloud Storage (`wire/gemini/vertexBatch.ts`).
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type { OptionsError } from "../../../OptionsError.js"
import { RequestError } from "../../codecError.js"
import * as Invalid from "../../optionsError.js"
import type * as Adapter from "../../providers/adapter.js"
import { definition as anthropicDefinition } from "../../wire/anthropic/client.js"
import { batchFolders, endpointProblem } from "../../wire/batch.js"
import { definition as geminiDefinition } from "../../wire/gemini/client.js"
import * as VertexBatch from "../../wire/gemini/vertexBatch.js"
import type { Options } from "./options.js"

/** The `anthropic_version` of Anthropic's models on Vertex AI (Anthropic's "Claude on Vertex AI"). */
export const anthropicVersion = "vertex-2023-10-16"

/** The host of a location's endpoint: regional, or the global endpoint's for `global`. */
export const hostOf = (location: string): string =>
  location === "global" ? "https://aiplatform.googleapis.com" : `https://${location}-aiplatform.googleapis.com`

/** Who publishes a model on Vertex: the option, else Anthropic for `claude-` models, else Google. */
export const publisherOf = (options: Pick<Options, "publisher">, model: string): "google" | "anthropic" =>
  options.publisher ?? (model.startsWith("claude-") ? "anthropic" : "google")

const embeddings =
  "Vertex AI's embeddings (`:predict`) are not supported; embed with a Gemini or OpenAI-compatible client"

/** Google's models' `:countTokens`; Anthropic's models are counted at another path, not asked here. */
const countingOf = (options: Options, gemini: Adapter.TokenCounting): Adapter.TokenCounting => ({
  ...gemini,
  body: (request, model) => {
    if (publisherOf(options, model) === "anthropic") {
      throw new RequestError("the Vertex client counts the tokens of Google's models only, not Anthropic's")
    }
    return gemini.body(request, model)
  }
})

/** Cloud Storage's JSON API (Cloud Storage documentation, "JSON API"). */
export const storageEndpoint = "https://storage.googleapis.com"

/**
 * The batch settings of `options.batch` for the location's `jobs`, or the `OptionsError` naming each field missing or
 * wrong.
 */
function batchOf(options: Options, jobs: string): Result.Result<VertexBatch.Settings | undefined, OptionsError> {
  const batch = options.batch
  if (batch === undefined) return Result.succeed(undefined)
  const { input, output, problems } = batchFolders("Vertex", batch, VertexBatch.gcsUris, "Vertex AI")
  const invalid = Invalid.all([
    options.publisher !== "anthropic" ? undefined : Invalid.make(
      "Vertex",
      "batch",
      "publisher: \"anthropic\"",
      "Google's models (batch prediction jobs carry Gemini's requests; Claude's batches run as calls)"
    ),
    ...problems,
    endpointProblem("Vertex", "batch.storageEndpoint", batch.storageEndpoint, storageEndpoint)
  ])
  if (invalid !== undefined) return Result.fail(invalid)
  return Result.succeed({
    provider: options.provider ?? "vertex",
    jobs,
    input: input!,
    output: output!,
    storage: { baseUrl: (batch.storageEndpoint ?? storageEndpoint).replace(/\/+$/, "") },
    isGoogles: (model) => publisherOf(options, model) === "google"
  })
}

/** Vertex's table for `options`, every request with `token`. */
export const definition = (
  options: Options,
  token: Effect.Effect<Redacted.Redacted<string>, string>
): Result.Result<Adapter.Definition, OptionsError> => {
  for (const option of ["project", "location"] as const) {
    if (typeof options[option] !== "string" || !/^[a-z0-9][a-z0-9.:_-]*$/i.test(options[option])) {
      return Result.fail(Invalid.make(
        "Vertex",
        option,
        options[option],
        `a Google Cloud ${option} id, such as my-proj or us-central1`
      ))
    }
  }
  const baseUrl = options.baseUrl ?? hostOf(options.location)
  if (!URL.canParse(baseUrl)) {
    return Result.fail(Invalid.make(
      "Vertex",
      "baseUrl",
      baseUrl,
      "an absolute URL such as https://us-central1-aiplatform.googleapis.com"
    ))
  }
  const location = `/v1/projects/${options.project}/locations/${options.location}`
  const models = (publisher: string) => `${location}/publishers/${publisher}/models/`
  const cloud = { adapter: "Vertex", provider: "vertex", baseUrl, token }
  return Result.gen(function*() {
    const batch = yield* batchOf(options, `${location}/batchPredictionJobs`)
    const gemini = yield* geminiDefinition(options, {
      ...cloud,
      resource: (model) => `${models("google")}${encodeURIComponent(model)}`,
      embeddings,
      batch: batch === undefined ? undefined : VertexBatch.clientWire(batch)
    })
    const anthropic = yield* anthropicDefinition(options, {
      ...cloud,
      path: (model, stream) =>
        `${models("anthropic")}${encodeURIComponent(model)}:${stream ? "streamRawPredict" : "rawPredict"}`,
      bodyVersion: anthropicVersion
    })
    return byPublisher(options, gemini, anthropic)
  })
}

/** One table over Gemini's and Anthropic's: each call takes its model's publisher's. */
function byPublisher(options: Options, gemini: Adapter.Definition, anthropic: Adapter.Definition): Adapter.Definition {
  const of = (model: string) => publisherOf(options, model) === "anthropic" ? anthropic : gemini
  return {
    ...gemini,
    // `anthropic-beta`, when asked for, and the user's headers; Gemini paths ignore the beta header.
    headers: anthropic.headers,
    requestId: anthropic.requestId,
    // The betas an Anthropic model's call needs (the 1M-token window's, tool search's); none on Gemini's paths.
    requestHeaders: (request, model) => of(model).requestHeaders?.(request, model),
    path: (model, stream, request) => of(model).path(model, stream, request),
    body: (request, model, stream, keyId) => of(model).body(request, model, stream, keyId),
    // Google's own errors (`{error: {code, status}}`) come from either publisher's paths; Anthropic's pass through.
    failureOf: (body) => gemini.failureOf(body) ?? anthropic.failureOf(body),
    reply: (body, context) => of(context.model).reply(body, context),
    stream: (context) => of(context.model).stream(context),
    countTokens: gemini.countTokens === undefined ? undefined : countingOf(options, gemini.countTokens),
    prefill: options.model !== undefined && publisherOf(options, options.model) === "anthropic"
  }
}
