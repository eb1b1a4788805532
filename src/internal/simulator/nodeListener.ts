/**
 * The default server, a plain `node:http` request listener, several times cheaper per request than `effect/http`'s: no
 * Effect per request or per token, a plan with no wait written synchronously as one string, an unpaced stream as one
 * chunked body.
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Http from "node:http"
import { messageOf } from "../errorText.js"
import { openAiErrorJson } from "../wire/openAiChat/codec.js"
import type { Config } from "./config.js"
import type { Engine } from "./engine.js"
import { type Plan, resetAfter, resetNow, sleep } from "./plan.js"
import { chat, matchRoute, maxBody } from "./routes.js"

/**
 * A delayed or paced plan runs as a fiber in the simulator's scope, sleeping on `Clock`, so that it is interrupted when
 * the client goes away or the scope closes.
 */
export const nodeListener = (
  engine: Engine,
  config: Config,
  clock: Clock.Clock,
  runFork: (effect: Effect.Effect<void>) => Fiber.Fiber<void>,
  closing: (res: Http.ServerResponse) => void
) => {
  const writeBody = (res: Http.ServerResponse, plan: Extract<Plan, { _tag: "Body" }>) => {
    plan.headers["content-length"] = String(Buffer.byteLength(plan.body))
    res.writeHead(plan.status, plan.headers)
    res.end(plan.body)
  }

  /** Runs what must wait on `Clock` as a fiber that stops when the connection closes. */
  const later = (res: Http.ServerResponse, effect: Effect.Effect<void>) => {
    const fiber = runFork(effect)
    res.once("close", () => {
      fiber.interruptUnsafe()
    })
  }

  const writeStream = (res: Http.ServerResponse, plan: Extract<Plan, { _tag: "Stream" }>): Effect.Effect<void> =>
    Effect.suspend(() => {
      res.writeHead(200, plan.headers)
      // Headers go out at once, so a client sees them before the first token.
      res.flushHeaders()
      const groups = plan.then === "reset" ? plan.groups.slice(0, -1) : plan.groups
      const last = plan.then === "reset" ? plan.groups[plan.groups.length - 1]?.text ?? "" : ""
      const encoding = plan.encoding ?? "utf8"
      return Effect.andThen(
        Effect.forEach(groups, (group) =>
          Effect.andThen(
            group.delayMs > 0 ? sleep(group.delayMs) : Effect.void,
            Effect.sync(() => {
              res.write(group.text, encoding)
            })
          ), { discard: true }),
        plan.then === "end"
          ? Effect.sync(() => {
            res.end()
          })
          : plan.then === "reset"
          ? Effect.sync(() => resetAfter(res, last, closing, encoding))
          : Effect.never
      )
    })

  const execute = (res: Http.ServerResponse, plan: Plan) => {
    const latency = config.latencyMs
    switch (plan._tag) {
      case "Body":
        if (latency + plan.delayMs === 0) return writeBody(res, plan)
        return later(res, Effect.andThen(sleep(latency + plan.delayMs), Effect.sync(() => writeBody(res, plan))))
      case "Stream": {
        const only = plan.groups.length === 1 ? plan.groups[0]! : undefined
        const before = latency + plan.delayMs
        if (before === 0 && only !== undefined && only.delayMs === 0 && plan.then === "end") {
          // The fast path: the whole stream as one chunked body.
          res.writeHead(200, plan.headers)
          return res.end(only.text, plan.encoding ?? "utf8")
        }
        return later(res, before > 0 ? Effect.andThen(sleep(before), writeStream(res, plan)) : writeStream(res, plan))
      }
      case "Truncated":
        return later(
          res,
          Effect.andThen(
            sleep(latency + plan.delayMs),
            Effect.sync(() => {
              res.writeHead(200, { ...plan.headers, "content-length": String(plan.declaredLength) })
              resetAfter(res, plan.body, closing)
            })
          )
        )
      case "Drop":
        return later(res, Effect.andThen(sleep(latency + plan.delayMs), Effect.sync(() => resetNow(res, closing))))
      case "Hang":
        return
    }
  }

  const answer = (req: Http.IncomingMessage, res: Http.ServerResponse, body: string | undefined) => {
    const matched = matchRoute(req.method, req.url)
    const now = clock.currentTimeMillisUnsafe()
    let plan: Plan | Effect.Effect<Plan>
    try {
      plan = matched === undefined
        ? engine.notFound(chat, req.method ?? "", req.url ?? "")
        : matched.route.plan(engine, { headers: req.headers, body, now, params: matched.params, url: req.url ?? "" })
    } catch (defect) {
      // A bug in the simulator: say so in the response rather than crash the process.
      const message = `Simulator defect: ${messageOf(defect)}`
      plan = {
        _tag: "Body",
        status: 500,
        headers: { "content-type": "application/json" },
        body: openAiErrorJson(message, "server_error", null, null),
        delayMs: 0
      }
    }
    if (Effect.isEffect(plan)) {
      later(res, Effect.flatMap(plan, (ready) => Effect.sync(() => execute(res, ready))))
    } else {
      execute(res, plan)
    }
  }

  return (req: Http.IncomingMessage, res: Http.ServerResponse) => {
    if (req.method !== "POST" && req.method !== "PUT") return answer(req, res, "")
    let text = ""
    let tooLarge = false
    req.setEncoding("utf8")
    req.on("data", (chunk: string) => {
      text += chunk
      if (text.length > maxBody && !tooLarge) {
        tooLarge = true
        text = ""
      }
    })
    req.once("end", () => answer(req, res, tooLarge ? undefined : text))
  }
}
