/**
 * One side of the gateway bench (`bench/cases/gateway.ts`) in a process of
 * its own, in front of the simulator at `BENCH_UPSTREAM` (its base URL, with
 * `/v1`). `BENCH_GATEWAY_SIDE` picks it:
 *
 * - `gateway`: this library's `Gateway.make` over a provider.json
 *   configuration with one deployment of `gpt-4o-mini` at the simulator.
 * - `proxy`: a bare `node:http` server that reads the body, parses it for
 *   the model, forwards it with undici and pipes the response back: the
 *   baseline.
 * - `floor`: the same pass-through on `effect/http` (`HttpRouter` on
 *   `NodeHttpServer`, served as the gateway serves), the response piped back
 *   as a raw body: what the platform's server costs before any gateway work.
 * - `decoder`: the `proxy`, but decoding the answer as a gateway must to see
 *   what it forwards (each SSE event's JSON parsed and a new event written
 *   with its text and finish reason; a whole reply parsed and written anew):
 *   the cheapest decoding gateway, by hand, with no library and no checks.
 *
 * Prints its base URL (without `/v1`) as the first line of stdout. Over the
 * IPC channel, a `"cpu"` message is answered with this process's CPU time
 * (user + system, microseconds) so far; it serves until the channel closes
 * or a signal arrives.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { pipeline } from "node:stream"
import { Agent, type Dispatcher, request } from "undici"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

const upstream = process.env["BENCH_UPSTREAM"] ?? ""
const side = process.env["BENCH_GATEWAY_SIDE"] ?? ""
/** The key every side sends upstream (the simulator takes any). */
const upstreamKey = "sk-bench-gateway-0123456789ab"
const host = "127.0.0.1"

/** The model a body names; throws when it names none, as a pass-through must know where to send it. */
const modelOf = (body: string): string => {
  const parsed: unknown = JSON.parse(body)
  const model = typeof parsed === "object" && parsed !== null ? (parsed as { readonly model?: unknown }).model : undefined
  if (typeof model !== "string") throw new Error("the body names no model")
  return model
}

/** Forwards one chat body upstream with undici. */
const forward = (dispatcher: Dispatcher, path: string, body: string) =>
  request(`${upstream}${path.replace(/^\/v1/, "")}`, {
    method: "POST",
    dispatcher,
    headers: { "content-type": "application/json", authorization: `Bearer ${upstreamKey}` },
    body
  })

const contentType = (headers: Record<string, string | Array<string> | undefined>) => {
  const value = headers["content-type"]
  return typeof value === "string" ? value : "application/json"
}

const listen = (server: Http.Server) =>
  new Promise<string>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, host, () => resolve(`http://${host}:${(server.address() as AddressInfo).port}`))
  })

// A stream's events decoded and written anew, each with its text and finish reason: what any gateway that reads the
// answer it forwards must at least do. Events are split on blank lines; the simulator writes `data: ` lines only.
const redecodeStream = (upstreamBody: NodeJS.ReadableStream, res: Http.ServerResponse) => {
  const decoder = new TextDecoder()
  let buffered = ""
  upstreamBody.on("data", (chunk: Buffer) => {
    buffered += decoder.decode(chunk, { stream: true })
    let out = ""
    let from = 0
    let end: number
    while ((end = buffered.indexOf("\n\n", from)) >= 0) {
      const data = buffered.slice(from + "data: ".length, end)
      from = end + 2
      if (data === "[DONE]") {
        out += "data: [DONE]\n\n"
        continue
      }
      const choice = JSON.parse(data).choices[0]
      out += `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[{` +
        `"index":0,"delta":${JSON.stringify({ content: choice.delta.content ?? "" })},"logprobs":null,` +
        `"finish_reason":${JSON.stringify(choice.finish_reason ?? null)}}]}\n\n`
    }
    buffered = buffered.slice(from)
    if (out !== "") res.write(out)
  })
  upstreamBody.on("end", () => res.end())
}

// A whole reply parsed and written anew with its text, finish reason and usage.
const redecodeWhole = async (upstreamBody: { readonly text: () => Promise<string> }, res: Http.ServerResponse) => {
  const reply = JSON.parse(await upstreamBody.text())
  const choice = reply.choices[0]
  res.end(JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: 0,
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content: choice.message.content }, finish_reason: choice.finish_reason }],
    usage: reply.usage
  }))
}

/** The `node:http` + undici pass-through (`decode`: the answer decoded and written anew). */
const proxy = async (decode: boolean): Promise<{ readonly url: string; readonly close: () => Promise<void> }> => {
  const dispatcher = new Agent()
  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString()
      try {
        modelOf(body)
      } catch {
        res.writeHead(400, { "content-type": "application/json" }).end(`{"error":{"message":"bad body"}}`)
        return
      }
      forward(dispatcher, req.url ?? "/", body).then(
        (answer) => {
          // The client may have gone meanwhile (autocannon closes its connections at the end of a run).
          if (res.destroyed) return void answer.body.dump().catch(() => {})
          const type = contentType(answer.headers)
          res.writeHead(answer.statusCode, { "content-type": type })
          if (!decode || answer.statusCode !== 200) return void pipeline(answer.body, res, () => {})
          if (type.startsWith("text/event-stream")) return redecodeStream(answer.body, res)
          void redecodeWhole(answer.body, res)
        },
        () => res.destroyed || res.writeHead(502).end()
      )
    })
  })
  const url = await listen(server)
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => void dispatcher.close().then(() => resolve())))
  }
}

const floor = Effect.gen(function*() {
  const dispatcher = new Agent()
  yield* Effect.addFinalizer(() => Effect.promise(() => dispatcher.close()))
  const chat = Effect.flatMap(HttpServerRequest.HttpServerRequest, (req) =>
    Effect.flatMap(Effect.orDie(req.text), (body) =>
      Effect.map(
        Effect.promise(() => {
          modelOf(body)
          return forward(dispatcher, req.url, body)
        }),
        (answer) => HttpServerResponse.raw(answer.body, { status: answer.statusCode, contentType: contentType(answer.headers) })
      )))
  const router = yield* HttpRouter.make
  yield* router.addAll([HttpRouter.route("POST", "/v1/chat/completions", chat)])
  const server = Http.createServer()
  const httpServer = yield* NodeHttpServer.make(() => server, { host, port: 0 })
  yield* httpServer.serve(router.asHttpEffect()).pipe(Effect.provideService(HttpMiddleware.TracerDisabledWhen, () => true))
  return `http://${host}:${(server.address() as AddressInfo).port}`
})

const gateway = Effect.gen(function*() {
  // The client lives as long as the gateway, in the side's scope.
  const client = yield* Layer.build(UndiciHttpClient.layer())
  const config = yield* ProviderConfig.fromJson({
    sim: [{ model_name: "gpt-4o-mini", base_url: upstream, api_keys: [upstreamKey] }]
  })
  const service = yield* Effect.provideContext(Gateway.make({ config, port: 0 }), client)
  return service.url
})

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  let closeProxy = async () => {}
  let url: string
  if (side === "proxy" || side === "decoder") {
    const started = await proxy(side === "decoder")
    url = started.url
    closeProxy = started.close
  } else if (side === "floor" || side === "gateway") {
    const start: Effect.Effect<string, unknown, Scope.Scope> = side === "floor" ? floor : gateway
    url = await Effect.runPromise(Scope.provide(start, scope))
  } else {
    throw new Error(`BENCH_GATEWAY_SIDE: unknown side "${side}" (gateway, proxy, floor, decoder)`)
  }
  process.on("message", (message) => {
    if (message === "cpu") {
      const cpu = process.cpuUsage()
      process.send?.(cpu.user + cpu.system)
    }
  })
  const stop = () => {
    void Promise.all([closeProxy(), Effect.runPromise(Scope.close(scope, Exit.void))]).finally(() => process.exit(0))
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
  process.on("disconnect", stop)
  console.log(url)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
