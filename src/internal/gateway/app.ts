/**
 * The gateway's HTTP application: `HttpRouter` routes over the engine, on the
 * path as `intake.ts` normalised it. Every answer carries `x-request-id` (the
 * client's when valid; a streamed chat reply's id repeats it, after
 * `chatcmpl-` or `msg_`, as does a whole reply's on `/v1/messages`, and on
 * `/v1/chat/completions` when the provider gave it none); every failure is OpenAI's error JSON, except under
 * `/v1/messages`, which answers in Anthropic's wire over the same stream path. A request is
 * refused before anything is sent when, without gateway keys, its `Host` is
 * not the gateway's loopback name (403), its path is unknown (404) or does not
 * take its method (405 with `Allow`), its body is not declared JSON (415), is
 * too large (413), not JSON or not the wire's shape (400 naming the field), or
 * names no model of the configuration (404); the engine's own check of the
 * request answers 400 too, before a key or a permit is taken.
 *
 * A stream is opened to its first batch before the response starts, so a
 * failure before it (a rate limit, every deployment down) is a plain error
 * answer with its status; after it, a failure is an error event in the 200
 * stream, never a clean end. The stream is held in a scope that the request's
 * scope closes, which the server closes when the response ends or the client
 * goes away, freeing the upstream call, its key and its permit at once.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpMethod from "effect/http/HttpMethod"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import type * as Http from "node:http"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { LlmError } from "../../LlmError.js"
import { StreamTruncatedError } from "../../LlmError.js"
import { openFirst } from "../chunkSource.js"
import { openAiErrorJson } from "../openAiErrorJson.js"
import { estimatedPromptTokens } from "../promptSize.js"
import * as AnthropicErrors from "./anthropicErrors.js"
import * as AnthropicRender from "./anthropicRender.js"
import * as AnthropicWire from "./anthropicWire.js"
import * as Auth from "./auth.js"
import * as BalancedCall from "./balancedCall.js"
import * as Dashboard from "./dashboard.js"
import type { Drain } from "./drain.js"
import type { Engine, ModelEntry, Target } from "./engine.js"
import * as Errors from "./errors.js"
import * as Intake from "./intake.js"
import * as Logs from "./logs.js"
import * as Metrics from "./metrics.js"
import * as Render from "./render.js"
import * as SseAnswer from "./sseAnswer.js"
import * as Wire from "./wire.js"

/** What the application needs besides the engine. */
export interface AppOptions {
  /** The largest request body, in bytes; larger ones get 413. */
  readonly maxBodyBytes: number
  /** The gateway keys: who may call, and what. */
  readonly auth: Auth.Auth
  /** Whether each request is logged. */
  readonly logRequests: boolean
  /** Whether `GET /llm/model-load/<model>` is served (to admin keys). */
  readonly modelLoadDetails: boolean
  /** The port the gateway listens on: without gateway keys, a request's `Host` is one of its loopback names. */
  readonly port: number
  /** The streams in flight, cut when the gateway shuts down. */
  readonly drain: Drain
}

const json = (status: number, body: string) =>
  HttpServerResponse.text(body, { status, contentType: "application/json" })

const errorResponse = (error: Errors.ErrorAnswer) =>
  HttpServerResponse.text(error.body, {
    status: error.status,
    contentType: "application/json",
    ...(error.retryAfter !== undefined ? { headers: { "retry-after": String(error.retryAfter) } } : {})
  })

const problemResponse = (problem: Wire.Problem) => errorResponse(Errors.invalidRequest(problem.message, problem.param))

const isBodyTooLarge = (error: unknown): boolean =>
  HttpServerError.isHttpServerError(error) && error.reason._tag === "RequestParseError" &&
  error.reason.reason === "BodyTooLarge"

const tooLarge = (limit: number) =>
  Errors.answer(
    413,
    `The request body is larger than this gateway takes (${limit} bytes).`,
    "invalid_request_error",
    null,
    "request_too_large"
  )

// Anthropic's clients read Anthropic's error shape: every refusal of a path under `/v1/messages` is in it.
const anthropicPath = (path: string): boolean => path === "/v1/messages" || path.startsWith("/v1/messages/")

/** A refusal of the request of `entry`, in Anthropic's shape under `/v1/messages`, else OpenAI's. */
const refusal = (entry: Logs.Entry, answer: Errors.ErrorAnswer) =>
  errorResponse(anthropicPath(entry.path) ? AnthropicErrors.fromAnswer(answer) : answer)

const foreignHost = Errors.answer(
  403,
  "This gateway has no keys and serves its own loopback names only (localhost, 127.0.0.1, [::1], with its port); " +
    "a request naming another host (a page's DNS rebinding) is refused. To serve other names, configure gateway keys.",
  "invalid_request_error",
  null,
  "host_not_allowed"
)

const notJson = Errors.answer(
  415,
  "The request body must be JSON, sent with `content-type: application/json`.",
  "invalid_request_error",
  null,
  "unsupported_media_type"
)

const restartedMessage =
  "The provider's stream broke after part of the answer had been sent, and the rest would have come from " +
  "another deployment as a new answer; the stream ends here instead. Retry the request."

const restartedBody = openAiErrorJson(restartedMessage, "server_error", null, "stream_restarted")

const anthropicRestarted = AnthropicErrors.errorJson("api_error", restartedMessage)

const shutdownAnswer = Errors.answer(
  503,
  "The gateway is shutting down and its grace period ended before this stream did; the answer is incomplete. " +
    "Retry the request.",
  "server_error",
  null,
  "server_shutting_down"
)

// In Anthropic's shape, as any of the gateway's 503s: its 529 `overloaded_error`.
const anthropicShutdown = AnthropicErrors.fromAnswer(shutdownAnswer).body

/** The gateway's routes and its answer to paths it does not serve. */
export const make = (engine: Engine, options: AppOptions) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const seconds = () => Math.floor(clock.currentTimeMillisUnsafe() / 1000)
    const known = engine.models.map((model) => model.id)
    const { auth } = options
    // A key limited to some models is told of those only.
    const notFoundAnswer = (model: string, caller?: Auth.Caller) =>
      Errors.modelNotFound(model, caller?.models === undefined ? known : [...caller.models])
    const notFound = (model: string, caller?: Auth.Caller) => errorResponse(notFoundAnswer(model, caller))
    // OpenAI's failures, the engine's request paths named as the body named them (its reply's limit, by `maxTokens`).
    const openAiFailures = (maxTokens: Wire.MaxTokensField): SseAnswer.Failures => ({
      answer: (error) =>
        Errors.fromLlmError(error, clock.currentTimeMillisUnsafe(), (path) => Wire.wirePath(path, maxTokens)),
      restarted: restartedBody,
      shutdown: shutdownAnswer.body
    })
    const openAi = openAiFailures("max_tokens")
    const openAiCompletionTokens = openAiFailures("max_completion_tokens")
    const metrics = Metrics.make(engine.status, () => clock.currentTimeMillisUnsafe())
    const dashboard = yield* Dashboard.make(engine.status, () => clock.currentTimeMillisUnsafe())
    // An admin path's answer, once the request's key may have it.
    const adminOnly = (handle: Effect.Effect<HttpServerResponse.HttpServerResponse>) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const refusal = Auth.adminRefusal(auth, request.headers)
        return refusal === undefined ? handle : Effect.succeed(errorResponse(refusal))
      })
    const failedFor = (entry: Logs.Entry, failures: SseAnswer.Failures) => (error: LlmError) => {
      const answer = failures.answer(error)
      Logs.failed(entry, error._tag, answer)
      return errorResponse(answer)
    }

    // The target of `model` once the request's key (its `entry`'s caller) may call it (its rate limit and budget
    // checked), else the refusal; `request` as sent for the key (`Auth.bounded`).
    const admitted = <R, Q extends Auth.Request | undefined>(
      model: string,
      request: Q,
      entry: Logs.Entry,
      handle: (target: Target, request: Q) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>,
      target = engine.resolve(model)
    ) => {
      entry.model = model
      if (target === undefined) return Effect.succeed(refusal(entry, notFoundAnswer(model, entry.caller)))
      const sent = auth.bounded(entry.caller, request)
      return Effect.matchEffect(auth.admit(entry.caller, model, target, sent), {
        onFailure: (answer) => {
          Logs.failed(entry, answer.code ?? undefined, answer)
          return Effect.succeed(refusal(entry, answer))
        },
        onSuccess: (settle) => {
          entry.settle = settle
          return handle(target, sent)
        }
      })
    }

    // Without gateway keys, the `Host` values served.
    const hosts = auth.required ? undefined : Intake.loopbackHosts(options.port)
    // Every request: its log entry begun (its id the client's `x-request-id` when that is one), its `Host` checked
    // (without keys), its key checked (but on the open paths), then `handle`'s answer, given the request, its entry,
    // its scope and, on a route counted in the metrics (`route`), its tally; the answer carries `x-request-id` and
    // its log line is written (a stream's when its scope closes; 499 for a client gone before the answer). Each route
    // is served through this, so the entry is handed on, not put in the fiber's context.
    const served = <E, R>(
      handle: (
        request: HttpServerRequest.HttpServerRequest,
        entry: Logs.Entry,
        scope: Scope.Scope,
        tally: Metrics.Tally | undefined
      ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
      route?: string
    ) =>
      Effect.contextWith((context: Context.Context<HttpServerRequest.HttpServerRequest | Scope.Scope>) => {
        const request = Context.get(context, HttpServerRequest.HttpServerRequest)
        const now = clock.currentTimeMillisUnsafe()
        const id = Intake.requestId(request.headers["x-request-id"], randomUUID)
        const entry = Logs.begin(id, request.method, request.url, now, options.logRequests, dashboard.stats)
        let handled: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
        let tally: Metrics.Tally | undefined
        // The caller (none on an open path or without keys), or the request's refusal.
        const checked = hosts !== undefined && !Intake.ownHost(hosts, request.headers["host"])
          ? foreignHost
          : auth.required && !Auth.open.has(entry.path)
          ? auth.authenticate(request.headers)
          : undefined
        if (checked !== undefined && "status" in checked) {
          Logs.failed(entry, checked.code ?? undefined, checked)
          handled = Effect.succeed(refusal(entry, checked))
        } else {
          entry.caller = checked
          tally = route === undefined ? undefined : metrics.tally(route, now)
          handled = handle(request, entry, Context.get(context, Scope.Scope), tally)
        }
        // Once answered, the answer is counted and logged without interruption (a client leaving then is not a 499).
        return Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(restore(handled), (response) => {
            entry.status = response.status
            tally?.answered(response)
            // A stream's answer carries it from its making (`SseAnswer`, its headers built once); the others get it
            // here.
            const answered = entry.streaming
              ? response
              : HttpServerResponse.setHeader(response, "x-request-id", entry.id)
            return entry.streaming
              ? Effect.succeed(answered)
              : Effect.as(Logs.write(entry, clock.currentTimeMillisUnsafe()), answered)
          })
        ).pipe(
          Effect.onInterrupt(() => entry.streaming ? Effect.void : Logs.gone(entry, clock.currentTimeMillisUnsafe()))
        )
      })
    const plain = <E, R>(answer: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) => served(() => answer)

    // A body route counted in the metrics as `route`: the body as text within the limit, then what `handle` makes of
    // it.
    const withBody = <R>(
      route: string,
      handle: (
        text: string,
        entry: Logs.Entry,
        scope: Scope.Scope,
        tally: Metrics.Tally
      ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
    ) =>
      served((request, entry, scope, tally) => {
        if (!Intake.isJson(request.headers["content-type"])) {
          Logs.failed(entry, notJson.code ?? undefined, notJson)
          return Effect.succeed(refusal(entry, notJson))
        }
        const declared = Number(request.headers["content-length"])
        if (declared > options.maxBodyBytes) return Effect.succeed(refusal(entry, tooLarge(options.maxBodyBytes)))
        return Effect.matchEffect(request.text, {
          onFailure: (error) =>
            Effect.succeed(refusal(
              entry,
              isBodyTooLarge(error)
                ? tooLarge(options.maxBodyBytes)
                : Errors.invalidRequest("The request body could not be read.", undefined)
            )),
          // `served` makes a tally for a route it is given.
          onSuccess: (text) => handle(text, entry, scope, tally!)
        })
      }, route)

    const addressed = (request: ChatRequest, target: Target): ChatRequest =>
      target.address === undefined ? request : { ...request, model: target.address }

    // `request` to `target` as a stream, opened to its first batch, then answered by `SseAnswer` in the stream of
    // `newEncoder()` (in one piece when that batch holds the whole answer). The
    // stream is held in a scope of its own, which the request's scope closes in its one finalizer, after the
    // stream's end is noted (a scope with more than one finalizer closes through Effect's slower path).
    const streamed = (
      request: ChatRequest,
      model: string,
      target: Target,
      entry: Logs.Entry,
      requestScope: Scope.Scope,
      newEncoder: () => Render.StreamEncoder,
      failures: SseAnswer.Failures,
      tally: Metrics.Tally
    ) => {
      const held = Scope.makeUnsafe()
      const heldUntilEnd = Scope.addFinalizerExit(requestScope, (exit) => {
        options.drain.closed(entry)
        const closed = Scope.close(held, exit)
        if (!entry.streaming) return closed
        // The stream's end, or its client's leaving: its duration counted, its cost charged, its line written;
        // the stream closed whatever that did (a defect there must not leave the upstream call and its key held).
        return Effect.ensuring(
          Effect.suspend(() => {
            tally.end()
            return Logs.ended(entry, clock.currentTimeMillisUnsafe())
          }),
          closed
        )
      })
      const opened = openFirst(
        target.llm.chatStream(addressed(request, target)),
        held,
        () =>
          new StreamTruncatedError({ provider: "gateway", model, detail: "the stream ended before its first chunk" }),
        (first, rest) => ({ first, rest })
      )
      return Effect.andThen(
        heldUntilEnd,
        Effect.matchEffect(opened, {
          onFailure: (error) => {
            tally.failed(error)
            return Effect.succeed(failedFor(entry, failures)(error))
          },
          onSuccess: ({ first, rest }) => {
            entry.streaming = true
            entry.firstToken = clock.currentTimeMillisUnsafe() - entry.start
            tally.stream()
            const headers = { "cache-control": "no-cache", "x-request-id": entry.id }
            return Effect.flatMap(HttpServerRequest.HttpServerRequest, (served) =>
              SseAnswer.answer({
                encoder: newEncoder(),
                first,
                rest,
                entry,
                failures,
                tally,
                headers,
                scope: held,
                drain: options.drain,
                endNow: endNowOf(served)
              }))
          }
        })
      )
    }

    // `request` to `target` as one reply, answered by `render` (its failure by `failures`).
    const whole = (
      request: ChatRequest,
      target: Target,
      entry: Logs.Entry,
      failures: SseAnswer.Failures,
      tally: Metrics.Tally,
      render: (response: ChatResponse) => string
    ) =>
      Effect.matchEffect(target.llm.chat(addressed(request, target)), {
        onFailure: (error) => {
          tally.failed(error)
          return Effect.succeed(failedFor(entry, failures)(error))
        },
        onSuccess: (response) => {
          tally.replied(response.usage, response.cost)
          Logs.answered(entry, response)
          return Effect.as(entry.settle(response.cost), json(200, render(response)))
        }
      })

    const chatCompletions = withBody("/v1/chat/completions", (text, entry, scope, tally) => {
      const decoded = Wire.chat(text)
      if (decoded._tag === "Problem") return Effect.succeed(problemResponse(decoded))
      const failures = decoded.maxTokensField === "max_tokens" ? openAi : openAiCompletionTokens
      return admitted(decoded.model, decoded.request, entry, (target, request) => {
        tally.model(decoded.model)
        if (decoded.stream) {
          return streamed(
            request,
            decoded.model,
            target,
            entry,
            scope,
            () => Render.streamEncoder(`chatcmpl-${entry.id}`, decoded.model, seconds(), decoded.includeUsage),
            failures,
            tally
          )
        }
        return whole(request, target, entry, failures, tally, (response) =>
          Render.completion(response, `chatcmpl-${entry.id}`, seconds()))
      })
    })

    const embeddings = withBody("/v1/embeddings", (text, entry, _scope, tally) => {
      const decoded = Wire.embeddings(text)
      if (decoded._tag === "Problem") {
        return Effect.succeed(problemResponse(decoded))
      }
      return admitted(decoded.model, decoded.request, entry, (target, sent) => {
        tally.model(decoded.model)
        const request = target.address === undefined ? sent : { ...sent, model: target.address }
        return Effect.matchEffect(target.llm.embed(request), {
          onFailure: (error) => {
            tally.failed(error)
            return Effect.succeed(failedFor(entry, openAi)(error))
          },
          onSuccess: (response) => {
            tally.embedded(response.usage.promptTokens, response.cost)
            entry.deployment = `${response.provider}/${response.model}`
            entry.cost = response.cost
            const answer = json(200, Render.embeddings(response, decoded.model, decoded.base64))
            return Effect.as(entry.settle(response.cost), answer)
          }
        })
      })
    })

    // Anthropic's `POST /v1/messages`: the same engine and streams, in Anthropic's wire.
    const anthropicMessages = withBody("/v1/messages", (text, entry, scope, tally) => {
      const decoded = AnthropicWire.messages(text)
      if (decoded._tag === "Problem") {
        return Effect.succeed(errorResponse(AnthropicErrors.problem(decoded)))
      }
      return admitted(decoded.model, decoded.request, entry, (target, request) => {
        tally.model(decoded.model)
        const failures: SseAnswer.Failures = {
          answer: (error) =>
            AnthropicErrors.fromLlmError(
              error,
              clock.currentTimeMillisUnsafe(),
              (path) =>
                AnthropicWire.anthropicPath(path, decoded.body)
            ),
          restarted: anthropicRestarted,
          shutdown: anthropicShutdown
        }
        const id = `msg_${entry.id.replaceAll("-", "")}`
        if (decoded.stream) {
          return streamed(
            request,
            decoded.model,
            target,
            entry,
            scope,
            () =>
              AnthropicRender.streamEncoder(id, decoded.model, () =>
                estimatedPromptTokens(request)),
            failures,
            tally
          )
        }
        return whole(request, target, entry, failures, tally, (response) =>
          AnthropicRender.message(response, id))
      })
    })

    const modelObject = (model: ModelEntry) => ({ id: model.id, object: "model", created: 0, owned_by: model.ownedBy })
    const modelList = json(200, JSON.stringify({ object: "list", data: engine.models.map(modelObject) }))
    const modelsById = new Map(engine.models.map((model) => [model.id, json(200, JSON.stringify(modelObject(model)))]))
    // `/v1/models` and `/v1/models/{id}` (`HttpRouter` routes both here); a deployment's id holds a `/`,
    // which a client may send encoded or not.
    const models = served((_request, { caller }) =>
      Effect.map(HttpRouter.params, (params) => {
        const id = decodePath(params["*"] ?? "")
        if (caller?.models === undefined) return id === "" ? modelList : modelsById.get(id) ?? notFound(id)
        // A key limited to some models sees those only.
        if (id !== "") return caller.models.has(id) ? modelsById.get(id)! : notFound(id, caller)
        return json(
          200,
          JSON.stringify({
            object: "list",
            data: engine.models.filter((model) => caller.models!.has(model.id)).map(modelObject)
          })
        )
      })
    )

    // LLM-API-BalancedCall's `POST /llm/chat` and `/llm/chat/stream`: the same engine and paths, in its wire.
    const balancedChat = (route: string, stream: boolean) =>
      withBody(route, (text, entry, scope, tally) => {
        const decoded = BalancedCall.chat(text)
        if (decoded._tag === "Problem") return Effect.succeed(problemResponse(decoded))
        const failures = decoded.maxTokensField === "max_tokens" ? openAi : openAiCompletionTokens
        return admitted(decoded.model, decoded.request, entry, (target, request) => {
          tally.model(decoded.model)
          return stream
            ? streamed(request, decoded.model, target, entry, scope, BalancedCall.streamEncoder, failures, tally)
            : whole(request, target, entry, failures, tally, BalancedCall.reply)
        }, decoded.model === BalancedCall.everyModel ? engine.balanced : engine.resolve(decoded.model))
      })
    // `GET /llm/model-load/<deployment>`: only when the configuration opts in, and as an admin path.
    const modelLoad = Effect.flatMap(HttpRouter.params, (params) => {
      if (!options.modelLoadDetails) return Effect.succeed(errorResponse(BalancedCall.disabled))
      const name = decodePath(params["*"] ?? "")
      return adminOnly(Effect.map(engine.status, (status) => {
        // A client's name is never a key of a plain object: `__proto__` would be found there.
        const load = new Map(Object.entries(status.details)).get(name)
        return load === undefined
          ? errorResponse(BalancedCall.noDeployment(name, Object.keys(status.details)))
          : json(200, BalancedCall.modelLoad(load))
      }))
    })

    // A path the gateway does not serve: 404, in the wire of the path asked for.
    const unknownPath = served((request, entry) =>
      Effect.succeed(refusal(
        entry,
        Errors.answer(404, `Invalid URL (${request.method} ${request.url})`, "invalid_request_error", null, null)
      ))
    )
    // A path the gateway serves, asked with a method it does not take there: 405, the ones it takes in `Allow`.
    const notAllowed = (allow: string) =>
      served((request, entry) => {
        const answer = Errors.answer(
          405,
          `${request.method} is not served on ${entry.path}, which takes ${allow}.`,
          "invalid_request_error",
          null,
          "method_not_allowed"
        )
        Logs.failed(entry, answer.code ?? undefined, answer)
        return Effect.succeed(HttpServerResponse.setHeader(refusal(entry, answer), "allow", allow))
      })

    // Matched exactly: `Intake.canonicalUrl` has normalised the path already, for this and for the key check alike.
    const router = yield* Effect.provideService(HttpRouter.make, HttpRouter.RouterConfig, {
      caseSensitive: true,
      ignoreTrailingSlash: false,
      ignoreDuplicateSlashes: false
    })
    const routes = [
      HttpRouter.route("POST", "/v1/chat/completions", chatCompletions),
      HttpRouter.route("POST", "/v1/embeddings", embeddings),
      HttpRouter.route("POST", "/v1/messages", anthropicMessages),
      HttpRouter.route("GET", "/v1/models/*", models),
      HttpRouter.route("POST", "/llm/chat", balancedChat("/llm/chat", false)),
      HttpRouter.route("POST", "/llm/chat/stream", balancedChat("/llm/chat/stream", true)),
      HttpRouter.route(
        "GET",
        "/llm/system-load",
        plain(Effect.map(engine.status, (status) => json(200, BalancedCall.systemLoad(status))))
      ),
      HttpRouter.route(
        "GET",
        "/llm/system-capacity",
        plain(Effect.map(engine.status, (status) => json(200, BalancedCall.systemCapacity(status))))
      ),
      HttpRouter.route("GET", `${Auth.adminPrefix}*`, plain(modelLoad)),
      HttpRouter.route("GET", "/health", plain(Effect.succeed(json(200, `{"status":"ok"}`)))),
      HttpRouter.route("GET", "/metrics", plain(adminOnly(metrics.scrape))),
      HttpRouter.route("GET", "/dashboard", plain(Effect.succeed(Dashboard.pageResponse))),
      HttpRouter.route("GET", "/dashboard/data", plain(adminOnly(dashboard.data))),
      HttpRouter.route(
        "GET",
        "/ready",
        plain(Effect.map(engine.ready, (ready) =>
          ready
            ? json(200, `{"status":"ready"}`)
            : errorResponse(
              Errors.answer(503, "No deployment can take a call now.", "server_error", null, "not_ready")
            )))
      )
    ]
    // Each path's other methods; a path served on GET takes HEAD too (the router answers it as GET).
    const wrongMethods = [...methodsByPath(routes)].flatMap(([path, methods]) => {
      const allowed = methods.includes("GET") ? [...methods, "HEAD"] : methods
      const refusal = notAllowed(allowed.join(", "))
      return [...HttpMethod.all].filter((method) => !allowed.includes(method)).map((method) =>
        HttpRouter.route(method, path, refusal)
      )
    })
    yield* router.addAll([...routes, ...wrongMethods])
    const routed = router.asHttpEffect().pipe(
      Effect.catchIf(
        (error): error is HttpServerError.HttpServerError =>
          HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound",
        () => unknownPath
      )
    )
    // The request as the router and the key check see it: its path normalised once.
    return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const url = Intake.canonicalUrl(request.url)
      return url === request.url
        ? routed
        : Effect.provideService(routed, HttpServerRequest.HttpServerRequest, request.modify({ url }))
    })
  })

// The methods each route's path is served on.
const methodsByPath = (
  routes: ReadonlyArray<{ readonly method: string; readonly path: HttpRouter.PathInput }>
): Map<HttpRouter.PathInput, Array<string>> => {
  const methods = new Map<HttpRouter.PathInput, Array<string>>()
  for (const route of routes) methods.set(route.path, [...(methods.get(route.path) ?? []), route.method])
  return methods
}

// Ends the Node response of `request` at once, `last` its last write: a stream cut at shutdown whose body's writer
// waits on the upstream (`SseAnswer`) ends so, with its error event, rather than by the request's interruption,
// which drops the connection.
const endNowOf = (request: HttpServerRequest.HttpServerRequest) => (last: Uint8Array | undefined): void => {
  const response = NodeHttpServerRequest.toServerResponse(request) as Http.ServerResponse
  if (response.writableEnded || response.destroyed) return
  if (last === undefined) response.end()
  else response.end(last)
}

// A path decoded; left as sent when its escapes are malformed.
const decodePath = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
