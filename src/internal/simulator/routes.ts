/**
 * Request routing: every endpoint of every wire format, as one table both servers serve (`HttpRouter` routes it for the
 * platform server; `matchRoute` matches it by hand for the plain listener).
 */
import type * as Effect from "effect/Effect"
import type * as HttpRouter from "effect/http/HttpRouter"
import type * as Http from "node:http"
import * as Anthropic from "../../simulator/Anthropic.js"
import * as AzureOpenAi from "../../simulator/AzureOpenAi.js"
import * as Gemini from "../../simulator/Gemini.js"
import * as Ollama from "../../simulator/Ollama.js"
import * as OpenAiChat from "../../simulator/OpenAiChat.js"
import * as Vertex from "../../simulator/Vertex.js"
import type { EmbeddingFormat, WireFormat } from "../../simulator/WireFormat.js"
import { countReply } from "../wire/anthropic/request.js"
import * as ResponsesCodec from "../wire/openAiResponses/codec.js"
import { decodeCount } from "./anthropic/request.js"
import { s3Root } from "./batch.js"
import * as BedrockRoute from "./bedrock/route.js"
import type { Engine } from "./engine.js"
import type { Plan } from "./plan.js"
import { decodeSegment } from "./requestChecks.js"

/** The largest request body read; a larger one is answered as an invalid request. */
export const maxBody = 32 * 1024 * 1024

/** The format of answers to requests no route takes. */
export const chat = OpenAiChat.format

/** What a route is given. */
export interface RouteInput {
  readonly headers: Http.IncomingHttpHeaders
  /** The body of a POST or a PUT (`""` otherwise); `undefined` when it could not be read or is too large. */
  readonly body: string | undefined
  /** From `Clock`. */
  readonly now: number
  readonly params: Readonly<Record<string, string | undefined>>
  /** The request target, query included (`/v1beta/models/m:streamGenerateContent?alt=sse`). */
  readonly url: string
}

/** One endpoint: its method, its path and how the engine answers it. */
export interface Route {
  readonly method: "GET" | "POST" | "PUT"
  /** As `HttpRouter` writes it: `/`-separated segments, `:name` capturing one, a last `*` the rest. */
  readonly path: HttpRouter.PathInput
  /** The plan, or the work that makes it (a signature checked with AWS's libraries). */
  readonly plan: (engine: Engine, input: RouteInput) => Plan | Effect.Effect<Plan>
}

/** An endpoint: `method` at `path`, answered by `plan`. */
const route = (method: Route["method"], path: HttpRouter.PathInput, plan: Route["plan"]): Route => ({
  method,
  path,
  plan
})

const embeddingRoute = (path: HttpRouter.PathInput, format: EmbeddingFormat): Route =>
  route("POST", path, (engine, input) => engine.embed(format, input))

/** An Azure deployment's route: `answer` with the `api-version` it needs, else 404 as Azure answers. */
const azureDeploymentRoute = (
  operation: string,
  answer: (engine: Engine, input: RouteInput) => Plan
): Route =>
  route("POST", `/openai/deployments/:deployment/${operation}`, (engine, input) => {
    const params = AzureOpenAi.deploymentParams(input.params, input.url)
    return params === undefined
      ? engine.notFound(AzureOpenAi.format, "POST", input.url)
      : answer(engine, { ...input, params })
  })

/** A Bedrock model's `operation`, answered by `api` (`stream`: its streaming operation). */
const bedrockRoute = (operation: string, api: keyof typeof BedrockRoute.apis, stream: boolean): Route =>
  route("POST", `/model/:modelId/${operation}`, (engine, input) => BedrockRoute.plan(engine, input, api, stream))

/** A route of Bedrock's batch inference jobs or of S3's objects, its request's signature checked first. */
const bedrockBatchRoute = (
  method: Route["method"],
  path: HttpRouter.PathInput,
  answer: (jobs: Engine["batches"]["bedrock"], input: RouteInput, format: WireFormat<undefined>) => Plan
): Route =>
  route(
    method,
    path,
    (engine, input) =>
      BedrockRoute.batchPlan(engine, input, method, (format) => answer(engine.batches.bedrock, input, format))
  )

/** Vertex AI's models of `publisher`: one segment, `{model}:{method}`, after a project's location. */
const vertexModels = (publisher: string): HttpRouter.PathInput =>
  `/:version/projects/:project/locations/:location/publishers/${publisher}/models/:model`

/** Vertex AI's batch prediction jobs of a project's location. */
const vertexJobs = "/:version/projects/:project/locations/:location/batchPredictionJobs"

/** The routes of OpenAI's files and batches under `root`, answered by `server`'s. */
const openAiBatchRoutes = (
  root: `/${string}`,
  server: (engine: Engine) => Engine["batches"]["openAi"]
): ReadonlyArray<Route> => [
  route("POST", `${root}/files`, (engine, input) => server(engine).upload(input)),
  route("GET", `${root}/files/:id/content`, (engine, input) => server(engine).fileContent(input)),
  route("POST", `${root}/batches`, (engine, input) => server(engine).create(input)),
  route("GET", `${root}/batches/:id`, (engine, input) => server(engine).batch(input, false)),
  route("POST", `${root}/batches/:id/cancel`, (engine, input) => server(engine).batch(input, true))
]

/** The Gemini API's method that creates a batch. */
const batchMethod = "batchGenerateContent"

/** Vertex's API versions: `v1`, and `v1beta1`, which Google's own clients call. */
const vertexVersions = new Set(["v1", "v1beta1"])

/** Every endpoint, for both servers. Each new wire format adds its routes here. */
export const routes: ReadonlyArray<Route> = [
  route("POST", "/v1/chat/completions", (engine, input) => engine.generate(chat, input)),
  route("POST", "/v1/responses", (engine, input) => engine.generate(engine.responses.format, input)),
  route(
    "POST",
    "/v1/responses/input_tokens",
    (engine, input) =>
      engine.countTokens(engine.responses.format, engine.responses.format.decode, ResponsesCodec.countReply, input)
  ),
  route("POST", "/v1/responses/compact", (engine, input) => engine.generate(engine.responses.compact, input)),
  route("GET", "/v1/models", (engine, { headers, now }) => engine.models(chat, headers, now, undefined)),
  route(
    "GET",
    "/v1/models/:model",
    (engine, { headers, now, params }) => engine.models(chat, headers, now, params.model ?? "")
  ),
  route("POST", "/v1/messages", (engine, input) => engine.generate(Anthropic.format, input)),
  route(
    "POST",
    "/v1/messages/count_tokens",
    (engine, input) => engine.countTokens(Anthropic.format, decodeCount, countReply, input)
  ),
  embeddingRoute("/v1/embeddings", OpenAiChat.embeddingFormat),
  azureDeploymentRoute("chat/completions", (engine, input) => engine.generate(AzureOpenAi.format, input)),
  azureDeploymentRoute("embeddings", (engine, input) => engine.embed(AzureOpenAi.embeddingFormat, input)),
  route("POST", "/openai/v1/chat/completions", (engine, input) => engine.generate(AzureOpenAi.format, input)),
  embeddingRoute("/openai/v1/embeddings", AzureOpenAi.embeddingFormat),
  bedrockRoute("converse", "converse", false),
  bedrockRoute("converse-stream", "converse", true),
  bedrockRoute("invoke", "invoke", false),
  bedrockRoute("invoke-with-response-stream", "invoke", true),
  route("POST", "/model/:modelId/count-tokens", (engine, input) => BedrockRoute.countPlan(engine, input)),
  // Bedrock's batch inference jobs, and the S3 objects they read and write (path-style, under `/s3`).
  bedrockBatchRoute("POST", "/model-invocation-job", (jobs, input, format) => jobs.create(format, input)),
  bedrockBatchRoute("GET", "/model-invocation-job/:id", (jobs, input, format) => jobs.job(format, input, false)),
  bedrockBatchRoute("POST", "/model-invocation-job/:id/stop", (jobs, input, format) => jobs.job(format, input, true)),
  bedrockBatchRoute("PUT", `${s3Root}/:bucket/*`, (jobs, input) => jobs.putObject(input)),
  bedrockBatchRoute("GET", `${s3Root}/:bucket/*`, (jobs, input, format) => jobs.getObject(format, input)),
  embeddingRoute("/api/embed", Ollama.embeddingFormat),
  route("POST", "/api/chat", (engine, input) => engine.generate(Ollama.format, input)),
  // OpenAI's files and batches (the files a batch reads and writes only), and Azure OpenAI's, the v1 API's and the
  // dated ones (their `api-version` not checked).
  ...openAiBatchRoutes("/v1", (engine) => engine.batches.openAi),
  ...openAiBatchRoutes("/openai/v1", (engine) => engine.batches.azure),
  ...openAiBatchRoutes("/openai", (engine) => engine.batches.azure),
  // Anthropic's Message Batches.
  route("POST", "/v1/messages/batches", (engine, input) => engine.batches.createAnthropic(input)),
  route("GET", "/v1/messages/batches/:id", (engine, input) => engine.batches.anthropic(input, false)),
  route("POST", "/v1/messages/batches/:id/cancel", (engine, input) => engine.batches.anthropic(input, true)),
  route("GET", "/v1/messages/batches/:id/results", (engine, input) => engine.batches.anthropicResults(input)),
  // The Gemini API's batches: a batch's operation, and its cancel as `{id}:cancel`.
  route("GET", "/v1beta/batches/:id", (engine, input) => engine.batches.gemini(input, false)),
  route("POST", "/v1beta/batches/:id", (engine, input) => {
    const segment = input.params.id ?? ""
    return segment.endsWith(":cancel")
      ? engine.batches.gemini({ ...input, params: { id: segment.slice(0, -":cancel".length) } }, true)
      : engine.notFound(Gemini.format, "POST", input.url)
  }),
  // One segment, `{model}:{method}`: Gemini puts the method after a colon.
  route("POST", "/v1beta/models/:model", (engine, input) => {
    const segment = input.params.model ?? ""
    if (segment.endsWith(`:${batchMethod}`)) {
      const keyed = Gemini.target(`${segment.slice(0, -batchMethod.length)}generateContent`, input.url, input.headers)
      return keyed === undefined
        ? engine.notFound(Gemini.format, "POST", input.url)
        : engine.batches.createGemini({ ...input, headers: keyed.headers }, keyed.params.model ?? "")
    }
    const target = Gemini.target(input.params.model ?? "", input.url, input.headers)
    if (target === undefined) return engine.notFound(Gemini.format, "POST", input.url)
    const targeted = { ...input, headers: target.headers, params: target.params }
    return Gemini.isEmbedding(target.params)
      ? engine.embed(Gemini.embeddingFormat, targeted)
      : target.params.method === "countTokens"
      ? engine.countTokens(Gemini.format, Gemini.decodeCount, Gemini.countReply, targeted)
      : engine.generate(Gemini.format, targeted)
  }),
  route("POST", vertexModels("google"), (engine, input) => {
    const target = Gemini.target(input.params.model ?? "", input.url, input.headers)
    if (target === undefined || Gemini.isEmbedding(target.params) || !vertexVersions.has(input.params.version ?? "")) {
      return engine.notFound(Vertex.geminiFormat, "POST", input.url)
    }
    const targeted = { ...input, params: target.params }
    return target.params.method === "countTokens"
      ? engine.countTokens(Vertex.geminiFormat, Gemini.decodeCount, Gemini.countReply, targeted)
      : engine.generate(Vertex.geminiFormat, targeted)
  }),
  // Vertex AI's batch prediction jobs, and the Cloud Storage objects they read and write (the JSON API's upload and
  // media download).
  route(
    "POST",
    vertexJobs,
    (engine, input) =>
      vertexVersions.has(input.params.version ?? "")
        ? engine.batches.vertex.create(input)
        : engine.notFound(Vertex.geminiFormat, "POST", input.url)
  ),
  route("GET", `${vertexJobs}/:id`, (engine, input) => engine.batches.vertex.job(input, false)),
  route(
    "POST",
    `${vertexJobs}/:id`,
    (engine, input) =>
      (input.params.id ?? "").endsWith(":cancel")
        ? engine.batches.vertex.job(input, true)
        : engine.notFound(Vertex.geminiFormat, "POST", input.url)
  ),
  route("POST", "/upload/storage/v1/b/:bucket/o", (engine, input) => engine.batches.vertex.upload(input)),
  route("GET", "/storage/v1/b/:bucket/o/:object", (engine, input) => engine.batches.vertex.media(input)),
  route("POST", vertexModels("anthropic"), (engine, input) => {
    const params = Vertex.anthropicTarget(input.params.model ?? "")
    return params === undefined || !vertexVersions.has(input.params.version ?? "")
      ? engine.notFound(Vertex.anthropicFormat, "POST", input.url)
      : engine.generate(Vertex.anthropicFormat, { ...input, params })
  })
]

const compiledRoutes = routes.map((route) => ({ route, segments: route.path.split("/") }))

/** The route table matched by hand, for the plain listener (`HttpRouter` does its own). */
export const matchRoute = (
  method: string | undefined,
  url: string | undefined
): { readonly route: Route; readonly params: Record<string, string> } | undefined => {
  const parts = (url ?? "").split("?", 1)[0]!.split("/")
  next: for (const { route, segments } of compiledRoutes) {
    const rest = segments.at(-1) === "*"
    if (route.method !== method) continue
    if (rest ? parts.length < segments.length : segments.length !== parts.length) continue
    const params: Record<string, string> = {}
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!
      if (segment === "*") {
        params["*"] = parts.slice(i).join("/")
        break
      }
      if (segment.startsWith(":")) params[segment.slice(1)] = decodeSegment(parts[i]!)
      else if (segment !== parts[i]) continue next
    }
    return { route, params }
  }
  return undefined
}
