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
import type { EmbeddingFormat } from "../../simulator/WireFormat.js"
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

const embeddingRoute = (path: HttpRouter.PathInput, format: EmbeddingFormat): Route => ({
  method: "POST",
  path,
  plan: (engine, input) => engine.embed(format, input)
})

/** An Azure deployment's route: `answer` with the `api-version` it needs, else 404 as Azure answers. */
const azureDeploymentRoute = (
  operation: string,
  answer: (engine: Engine, input: RouteInput) => Plan
): Route => ({
  method: "POST",
  path: `/openai/deployments/:deployment/${operation}`,
  plan: (engine, input) => {
    const params = AzureOpenAi.deploymentParams(input.params, input.url)
    return params === undefined
      ? engine.notFound(AzureOpenAi.format, "POST", input.url)
      : answer(engine, { ...input, params })
  }
})

/** A Bedrock model's `operation`, answered by `api` (`stream`: its streaming operation). */
const bedrockRoute = (operation: string, api: keyof typeof BedrockRoute.apis, stream: boolean): Route => ({
  method: "POST",
  path: `/model/:modelId/${operation}`,
  plan: (engine, input) => BedrockRoute.plan(engine, input, api, stream)
})

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
  { method: "POST", path: `${root}/files`, plan: (engine, input) => server(engine).upload(input) },
  { method: "GET", path: `${root}/files/:id/content`, plan: (engine, input) => server(engine).fileContent(input) },
  { method: "POST", path: `${root}/batches`, plan: (engine, input) => server(engine).create(input) },
  { method: "GET", path: `${root}/batches/:id`, plan: (engine, input) => server(engine).batch(input, false) },
  { method: "POST", path: `${root}/batches/:id/cancel`, plan: (engine, input) => server(engine).batch(input, true) }
]

/** The Gemini API's method that creates a batch. */
const batchMethod = "batchGenerateContent"

/** Vertex's API versions: `v1`, and `v1beta1`, which Google's own clients call. */
const vertexVersions = new Set(["v1", "v1beta1"])

/** Every endpoint, for both servers. Each new wire format adds its routes here. */
export const routes: ReadonlyArray<Route> = [
  {
    method: "POST",
    path: "/v1/chat/completions",
    plan: (engine, input) => engine.generate(chat, input)
  },
  {
    method: "POST",
    path: "/v1/responses",
    plan: (engine, input) => engine.generate(engine.responses.format, input)
  },
  {
    method: "POST",
    path: "/v1/responses/input_tokens",
    plan: (engine, input) =>
      engine.countTokens(engine.responses.format, engine.responses.format.decode, ResponsesCodec.countReply, input)
  },
  {
    method: "POST",
    path: "/v1/responses/compact",
    plan: (engine, input) => engine.generate(engine.responses.compact, input)
  },
  {
    method: "GET",
    path: "/v1/models",
    plan: (engine, { headers, now }) => engine.models(chat, headers, now, undefined)
  },
  {
    method: "GET",
    path: "/v1/models/:model",
    plan: (engine, { headers, now, params }) => engine.models(chat, headers, now, params.model ?? "")
  },
  {
    method: "POST",
    path: "/v1/messages",
    plan: (engine, input) => engine.generate(Anthropic.format, input)
  },
  {
    method: "POST",
    path: "/v1/messages/count_tokens",
    plan: (engine, input) => engine.countTokens(Anthropic.format, decodeCount, countReply, input)
  },
  embeddingRoute("/v1/embeddings", OpenAiChat.embeddingFormat),
  azureDeploymentRoute("chat/completions", (engine, input) => engine.generate(AzureOpenAi.format, input)),
  azureDeploymentRoute("embeddings", (engine, input) => engine.embed(AzureOpenAi.embeddingFormat, input)),
  {
    method: "POST",
    path: "/openai/v1/chat/completions",
    plan: (engine, input) => engine.generate(AzureOpenAi.format, input)
  },
  embeddingRoute("/openai/v1/embeddings", AzureOpenAi.embeddingFormat),
  bedrockRoute("converse", "converse", false),
  bedrockRoute("converse-stream", "converse", true),
  bedrockRoute("invoke", "invoke", false),
  bedrockRoute("invoke-with-response-stream", "invoke", true),
  {
    method: "POST",
    path: "/model/:modelId/count-tokens",
    plan: (engine, input) => BedrockRoute.countPlan(engine, input)
  },
  // Bedrock's batch inference jobs, and the S3 objects they read and write (path-style, under `/s3`).
  {
    method: "POST",
    path: "/model-invocation-job",
    plan: (engine, input) =>
      BedrockRoute.batchPlan(engine, input, "POST", (format) => engine.batches.bedrock.create(format, input))
  },
  {
    method: "GET",
    path: "/model-invocation-job/:id",
    plan: (engine, input) =>
      BedrockRoute.batchPlan(engine, input, "GET", (format) => engine.batches.bedrock.job(format, input, false))
  },
  {
    method: "POST",
    path: "/model-invocation-job/:id/stop",
    plan: (engine, input) =>
      BedrockRoute.batchPlan(engine, input, "POST", (format) => engine.batches.bedrock.job(format, input, true))
  },
  {
    method: "PUT",
    path: `${s3Root}/:bucket/*`,
    plan: (engine, input) => BedrockRoute.batchPlan(engine, input, "PUT", () => engine.batches.bedrock.putObject(input))
  },
  {
    method: "GET",
    path: `${s3Root}/:bucket/*`,
    plan: (engine, input) =>
      BedrockRoute.batchPlan(engine, input, "GET", (format) => engine.batches.bedrock.getObject(format, input))
  },
  embeddingRoute("/api/embed", Ollama.embeddingFormat),
  {
    method: "POST",
    path: "/api/chat",
    plan: (engine, input) => engine.generate(Ollama.format, input)
  },
  // OpenAI's files and batches (the files a batch reads and writes only), and Azure OpenAI's, the v1 API's and the
  // dated ones (their `api-version` not checked).
  ...openAiBatchRoutes("/v1", (engine) => engine.batches.openAi),
  ...openAiBatchRoutes("/openai/v1", (engine) => engine.batches.azure),
  ...openAiBatchRoutes("/openai", (engine) => engine.batches.azure),
  // Anthropic's Message Batches.
  { method: "POST", path: "/v1/messages/batches", plan: (engine, input) => engine.batches.createAnthropic(input) },
  { method: "GET", path: "/v1/messages/batches/:id", plan: (engine, input) => engine.batches.anthropic(input, false) },
  {
    method: "POST",
    path: "/v1/messages/batches/:id/cancel",
    plan: (engine, input) => engine.batches.anthropic(input, true)
  },
  {
    method: "GET",
    path: "/v1/messages/batches/:id/results",
    plan: (engine, input) => engine.batches.anthropicResults(input)
  },
  // The Gemini API's batches: a batch's operation, and its cancel as `{id}:cancel`.
  { method: "GET", path: "/v1beta/batches/:id", plan: (engine, input) => engine.batches.gemini(input, false) },
  {
    method: "POST",
    path: "/v1beta/batches/:id",
    plan: (engine, input) => {
      const segment = input.params.id ?? ""
      return segment.endsWith(":cancel")
        ? engine.batches.gemini({ ...input, params: { id: segment.slice(0, -":cancel".length) } }, true)
        : engine.notFound(Gemini.format, "POST", input.url)
    }
  },
  {
    // One segment, `{model}:{method}`: Gemini puts the method after a colon.
    method: "POST",
    path: "/v1beta/models/:model",
    plan: (engine, input) => {
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
    }
  },
  {
    method: "POST",
    path: vertexModels("google"),
    plan: (engine, input) => {
      const target = Gemini.target(input.params.model ?? "", input.url, input.headers)
      if (
        target === undefined || Gemini.isEmbedding(target.params) || !vertexVersions.has(input.params.version ?? "")
      ) {
        return engine.notFound(Vertex.geminiFormat, "POST", input.url)
      }
      const targeted = { ...input, params: target.params }
      return target.params.method === "countTokens"
        ? engine.countTokens(Vertex.geminiFormat, Gemini.decodeCount, Gemini.countReply, targeted)
        : engine.generate(Vertex.geminiFormat, targeted)
    }
  },
  // Vertex AI's batch prediction jobs, and the Cloud Storage objects they read and write (the JSON API's upload and
  // media download).
  {
    method: "POST",
    path: vertexJobs,
    plan: (engine, input) =>
      vertexVersions.has(input.params.version ?? "")
        ? engine.batches.vertex.create(input)
        : engine.notFound(Vertex.geminiFormat, "POST", input.url)
  },
  {
    method: "GET",
    path: `${vertexJobs}/:id`,
    plan: (engine, input) => engine.batches.vertex.job(input, false)
  },
  {
    method: "POST",
    path: `${vertexJobs}/:id`,
    plan: (engine, input) =>
      (input.params.id ?? "").endsWith(":cancel")
        ? engine.batches.vertex.job(input, true)
        : engine.notFound(Vertex.geminiFormat, "POST", input.url)
  },
  {
    method: "POST",
    path: "/upload/storage/v1/b/:bucket/o",
    plan: (engine, input) => engine.batches.vertex.upload(input)
  },
  {
    method: "GET",
    path: "/storage/v1/b/:bucket/o/:object",
    plan: (engine, input) => engine.batches.vertex.media(input)
  },
  {
    method: "POST",
    path: vertexModels("anthropic"),
    plan: (engine, input) => {
      const params = Vertex.anthropicTarget(input.params.model ?? "")
      return params === undefined || !vertexVersions.has(input.params.version ?? "")
        ? engine.notFound(Vertex.anthropicFormat, "POST", input.url)
        : engine.generate(Vertex.anthropicFormat, { ...input, params })
    }
  }
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
