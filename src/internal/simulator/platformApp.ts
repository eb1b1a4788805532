/**
 * The platform server: the same plans served through `effect/http`, the stack the gateway serves HTTP with. It is not
 * the default because its per-request machinery (a fiber per request, the handler pipeline, the router's context,
 * `Effect.callback` around reading the body) costs far more CPU per request than the plain listener;
 * `bench/simulator.ts` measures both.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import type { Config } from "./config.js"
import type { Engine } from "./engine.js"
import { addLazyMcpRoutes } from "./mcp.js"
import { type Plan, resetAfter, resetNow, sleep } from "./plan.js"
import { chat, maxBody, routes } from "./routes.js"

/**
 * The platform server's app, kept to measure against the plain listener (`bench/simulator.ts`) and for whoever needs
 * the platform's middleware. The router is built once per simulator.
 */
export const platformApp = (
  engine: Engine,
  config: Config,
  clock: Clock.Clock,
  closing: (res: Http.ServerResponse) => void
) => {
  const encoder = new TextEncoder()
  // A group's bytes: its text as UTF-8, or, for binary frames, its characters as bytes.
  const bytesOf = (text: string, encoding: "latin1" | undefined): Uint8Array =>
    encoding === "latin1" ? Buffer.from(text, "latin1") : encoder.encode(text)

  const respond = (
    res: Http.ServerResponse,
    plan: Plan
  ): HttpServerResponse.HttpServerResponse | Effect.Effect<HttpServerResponse.HttpServerResponse> => {
    switch (plan._tag) {
      case "Body": {
        const response = HttpServerResponse.raw(plan.body, {
          status: plan.status,
          headers: plan.headers,
          contentLength: Buffer.byteLength(plan.body)
        })
        return plan.delayMs > 0 ? Effect.as(sleep(plan.delayMs), response) : response
      }
      case "Stream": {
        const only = plan.groups.length === 1 ? plan.groups[0]! : undefined
        if (plan.delayMs === 0 && only !== undefined && only.delayMs === 0 && plan.then === "end") {
          return HttpServerResponse.raw(bytesOf(only.text, plan.encoding), { headers: plan.headers })
        }
        const groups = plan.then === "reset" ? plan.groups.slice(0, -1) : plan.groups
        const last = plan.then === "reset" ? plan.groups[plan.groups.length - 1]?.text ?? "" : ""
        const body = Stream.fromIterable(groups).pipe(
          Stream.mapEffect((group) => {
            const bytes = bytesOf(group.text, plan.encoding)
            return group.delayMs > 0 ? Effect.as(sleep(group.delayMs), bytes) : Effect.succeed(bytes)
          }),
          Stream.concat(
            plan.then === "reset"
              ? Stream.fromEffect(
                Effect.andThen(Effect.sync(() => resetAfter(res, last, closing, plan.encoding)), Effect.never)
              )
              : plan.then === "stall"
              ? Stream.never
              : Stream.empty
          )
        )
        const response = HttpServerResponse.stream(body, { headers: plan.headers })
        return plan.delayMs > 0 ? Effect.as(sleep(plan.delayMs), response) : response
      }
      case "Truncated":
        return Effect.andThen(
          sleep(plan.delayMs),
          Effect.suspend(() => {
            res.writeHead(200, { ...plan.headers, "content-length": String(plan.declaredLength) })
            resetAfter(res, plan.body, closing)
            return Effect.never
          })
        )
      case "Drop":
        return Effect.andThen(
          sleep(plan.delayMs),
          Effect.suspend(() => {
            resetNow(res, closing)
            return Effect.never
          })
        )
      case "Hang":
        return Effect.never
    }
  }

  const delayed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    config.latencyMs > 0 ? Effect.delay(effect, Duration.millis(config.latencyMs)) : effect

  const serve = <R>(
    plan: (request: HttpServerRequest.HttpServerRequest, now: number) => Effect.Effect<Plan, never, R>
  ) =>
    Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        Effect.flatMap(plan(request, clock.currentTimeMillisUnsafe()), (p) => {
          const res = NodeHttpServerRequest.toServerResponse(request)
          // The simulator creates its own `node:http` server, so this is never HTTP/2.
          if (!(res instanceof Http.ServerResponse)) {
            return Effect.die(new Error("Simulator: expected an HTTP/1 response"))
          }
          const response = respond(res, p)
          return delayed(HttpServerResponse.isHttpServerResponse(response) ? Effect.succeed(response) : response)
        })
    )

  const readBody = (req: Http.IncomingMessage) =>
    Effect.callback<string | undefined>((resume) => {
      let text = ""
      req.setEncoding("utf8")
      req.on("data", (chunk: string) => {
        text += chunk
      })
      req.once("end", () => resume(Effect.succeed(text.length > maxBody ? undefined : text)))
    })

  const isRouteNotFound = (error: unknown): error is HttpServerError.HttpServerError =>
    HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound"

  return Effect.gen(function*() {
    const router = yield* HttpRouter.make
    yield* router.addAll(routes.map((route) =>
      HttpRouter.route(
        route.method,
        route.path,
        serve((request, now) => {
          const req = NodeHttpServerRequest.toIncomingMessage(request)
          if (!(req instanceof Http.IncomingMessage)) {
            return Effect.die(new Error("Simulator: expected an HTTP/1 request"))
          }
          return Effect.flatMap(
            route.method === "GET" ? Effect.succeed("") : readBody(req),
            (body) =>
              Effect.flatMap(HttpRouter.params, (params) => {
                const plan = route.plan(engine, { headers: req.headers, body, now, params, url: request.url })
                return Effect.isEffect(plan) ? plan : Effect.succeed(plan)
              })
          )
        })
      )
    ))
    yield* addLazyMcpRoutes(router, closing)
    return router.asHttpEffect().pipe(
      Effect.catchIf(
        isRouteNotFound,
        (error) => serve(() => Effect.succeed(engine.notFound(chat, error.request.method, error.request.url)))
      )
    )
  })
}
