/**
 * One side of the gateway bench (`bench/cases/gateway.ts`) in a process of
 * its own, in front of the simulator at `BENCH_UPSTREAM` (its base URL, with
 * `/v1`): every side but the gateway itself, which is the command line's
 * `serve` (`gateway.ts`'s `startSide`). `BENCH_GATEWAY_SIDE` picks it:
 *
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
 * - `engine`: the `floor`'s server (its body parsed for the model, as the
 *   floor does) answering through this library instead of forwarding bytes:
 *   the one deployment's `Llm` built from the same provider.json as the
 *   gateway's engine builds it (`ProviderConfig.deployments`: key pool, rate
 *   limiter, retry policy), its `chatStream` batches each encoded by the
 *   gateway's OpenAI SSE encoder into one write, its `chat` reply rendered by
 *   the Chat Completions codec's reply. The request's messages are mapped
 *   role and content as the wire gives them (cheaper than the gateway's wire
 *   decoding), the model compared with the deployment's (404 otherwise); no
 *   router, gateway keys, logs, metrics or further checks: the least a
 *   gateway on this library's engine costs.
 * - `mcp-engine` (the MCP case, `bench/cases/mcpToolCall.ts`; `BENCH_UPSTREAM` is then an MCP server's URL): the
 *   least MCP relay on this library's parts, `effect/ai`'s `McpServer` at `/mcp` on the floor's server, each tool
 *   of the upstream registered under its own name and its call forwarded by `effect/ai`'s `McpClient` (over
 *   `UndiciHttpClient`, as `serve`'s) connected once: none of the gateway's layers (key, session store, span,
 *   guardrails, request log, limits, relay of notifications).
 * - `mcp-sdk`: the same relay on the official SDK alone (its `Server` and Streamable HTTP transport a session, its
 *   `Client` forwarding): what an MCP proxy without Effect costs.
 *
 * Prints its base URL (without `/v1`) as the first line of stdout. Over the
 * IPC channel, a `"cpu"` message is answered with this process's CPU time
 * (user + system, microseconds) so far, and a `"delay"` message with its event
 * loop's delay since the last one (`monitorEventLoopDelay`: p50, p99 and max,
 * in milliseconds); it serves until the channel closes or a signal arrives.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import * as McpClient from "effect/ai/McpClient"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { pipeline } from "node:stream"
import { Agent, type Dispatcher, request } from "undici"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as Errors from "../../src/internal/gateway/errorAnswer.js"
import { completion, wirePath } from "../../src/internal/wire/openAiChat/codec.js"
import * as Render from "../../src/internal/wire/openAiChat/writer.js"
import * as Llm from "../../src/Llm.js"
import type * as Message from "../../src/Message.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { providerJson, upstreamKey } from "./deployment.js"
import { answerSideQuestions } from "./sideMonitor.js"

const upstream = process.env["BENCH_UPSTREAM"] ?? ""
const side = process.env["BENCH_GATEWAY_SIDE"] ?? ""
const host = "127.0.0.1"

/** The model a body names; throws when it names none, as a pass-through must know where to send it. */
const modelOf = (body: string): string => {
  const parsed: unknown = JSON.parse(body)
  const model = typeof parsed === "object" && parsed !== null
    ? (parsed as { readonly model?: unknown }).model
    : undefined
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
      out +=
        `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"gpt-4o-mini","choices":[{` +
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
    choices: [{
      index: 0,
      message: { role: "assistant", content: choice.message.content },
      finish_reason: choice.finish_reason
    }],
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

/** `router` served by `effect/http`'s server, as the gateway serves (tracer off); its base URL. */
const serveRouter = (router: HttpRouter.HttpRouter) =>
  Effect.gen(function*() {
    const server = Http.createServer()
    const httpServer = yield* NodeHttpServer.make(() => server, { host, port: 0 })
    yield* httpServer.serve(router.asHttpEffect()).pipe(
      Effect.provideService(HttpMiddleware.TracerDisabledWhen, () => true)
    )
    return `http://${host}:${(server.address() as AddressInfo).port}`
  })

/** `chat` served on `POST /v1/chat/completions` (`serveRouter`). */
const serveChat = <E, R>(chat: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.gen(function*() {
    const router = yield* HttpRouter.make
    yield* router.addAll([HttpRouter.route("POST", "/v1/chat/completions", chat)])
    return yield* serveRouter(router)
  })

const floor = Effect.gen(function*() {
  const dispatcher = new Agent()
  yield* Effect.addFinalizer(() => Effect.promise(() => dispatcher.close()))
  const chat = Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (req) =>
      Effect.flatMap(Effect.orDie(req.text), (body) =>
        Effect.map(
          Effect.promise(() => {
            modelOf(body)
            return forward(dispatcher, req.url, body)
          }),
          (answer) =>
            HttpServerResponse.raw(answer.body, { status: answer.statusCode, contentType: contentType(answer.headers) })
        ))
  )
  return yield* serveChat(chat)
})

/**
 * What the engine side reads of a chat body; throws, as `modelOf` does, when it has no model or no list of messages.
 */
const chatOf = (body: string) => {
  const parsed = JSON.parse(body)
  const { messages, model } = typeof parsed === "object" && parsed !== null ? parsed : {}
  if (typeof model !== "string" || !Array.isArray(messages)) throw new Error("the body names no model or messages")
  return {
    model,
    // Role and content as the wire gives them; the `Llm` checks the request against `ChatRequest` before sending it.
    request: {
      model,
      messages: messages.map(({ role, content }: { readonly role: unknown; readonly content: unknown }) =>
        ({ role, content }) as Message.Message
      )
    } satisfies ChatRequest.Input,
    stream: parsed.stream === true,
    includeUsage: parsed.stream_options?.include_usage === true
  }
}

const badBody = HttpServerResponse.text(`{"error":{"message":"bad body"}}`, {
  status: 400,
  contentType: "application/json"
})

const errorAnswer = (answer: Errors.ErrorAnswer) =>
  HttpServerResponse.text(Render.errors.body(answer), { status: answer.status, contentType: "application/json" })

const engine = Effect.gen(function*() {
  // The client and the deployment's `Llm` live as long as the side, in its scope.
  const client = yield* Layer.build(UndiciHttpClient.layer())
  const config = yield* ProviderConfig.fromJson(providerJson(upstream))
  // What the gateway's engine builds each deployment's `Llm` from (through `ProviderConfig.gatewayConfig`).
  const [deployment] = yield* ProviderConfig.deployments(config)
  const llm = Context.get(yield* Effect.provideContext(Layer.build(deployment!.layer), client), Llm.Llm)
  const served = deployment!.settings.entry.model_name
  const clock = yield* Clock.Clock
  const now = () => clock.currentTimeMillisUnsafe()
  const chat = Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (req) =>
      Effect.flatMap(Effect.orDie(req.text), (body) => {
        let chat: ReturnType<typeof chatOf>
        try {
          chat = chatOf(body)
        } catch {
          return Effect.succeed(badBody)
        }
        if (chat.model !== served) return Effect.succeed(errorAnswer(Errors.modelNotFound(chat.model, [served])))
        const id = `chatcmpl-${randomUUID()}`
        const created = Math.floor(now() / 1000)
        if (!chat.stream) {
          return Effect.match(llm.chat(chat.request), {
            onFailure: (error) => errorAnswer(Errors.fromLlmError(error, now(), wirePath)),
            onSuccess: (response) =>
              HttpServerResponse.text(completion(response, id, created), { contentType: "application/json" })
          })
        }
        const encoder = Render.streamEncoder(id, chat.model, created, chat.includeUsage)
        // One write per batch; a lone `Llm` never restarts a stream (only a router does), so `restarted` stays unset.
        const events = llm.chatStream(chat.request).pipe(
          Stream.mapArray((batch) => [encoder.batch(batch).bytes] as const),
          Stream.orElseSucceed((error) => encoder.error(Errors.fromLlmError(error, now(), wirePath)))
        )
        return Effect.succeed(
          HttpServerResponse.stream(events, {
            contentType: encoder.contentType,
            headers: { "cache-control": "no-cache" }
          })
        )
      })
  )
  return yield* serveChat(chat)
})

/** The revisions `serve`'s `/mcp` speaks. */
const mcpProtocols = [
  McpProtocol.v2025_11_25,
  McpProtocol.v2025_06_18,
  McpProtocol.v2025_03_26,
  McpProtocol.v2026_07_28
] as const

const relayInfo = { name: "relay", version: "1.0.0" }

/** The `mcp-engine` side: `McpServer` at `/mcp`, each upstream tool's call forwarded by one `McpClient`. */
const mcpEngine = Effect.gen(function*() {
  const client = yield* Layer.build(UndiciHttpClient.layer())
  const transport = yield* Effect.provideContext(
    McpClient.http({ url: upstream, protocol: McpProtocol.v2025_11_25 }),
    client
  )
  const mcp = yield* Effect.provideService(McpClient.make(relayInfo), McpClient.Transport, transport)
  const router = yield* HttpRouter.make
  const server = Context.get(
    yield* Layer.build(
      McpServer.layerHttp({ ...relayInfo, path: "/mcp", protocols: mcpProtocols }).pipe(
        Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router))
      )
    ),
    McpServer.McpServer
  )
  for (const tool of yield* mcp.listTools()) {
    yield* server.addTool({
      tool,
      annotations: Context.empty(),
      handle: (payload: Readonly<Record<string, unknown>> | undefined) =>
        Effect.mapError(
          mcp.callTool({ tool, arguments: payload }),
          (error) => new McpSchema.InternalError({ message: error.message })
        )
    })
  }
  return yield* serveRouter(router)
})

/** The `mcp-sdk` side: the official SDK's server, a transport a session, each call forwarded by one SDK client. */
const mcpSdk = async (): Promise<{ readonly url: string; readonly close: () => Promise<void> }> => {
  const client = new Client(relayInfo)
  await client.connect(new StreamableHTTPClientTransport(new URL(upstream)))
  const sessions = new Map<string, StreamableHTTPServerTransport>()
  const server = Http.createServer((req, res) => {
    const id = req.headers["mcp-session-id"]
    const known = typeof id === "string" ? sessions.get(id) : undefined
    if (known !== undefined) return void known.handleRequest(req, res)
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => void sessions.set(id, transport)
    })
    transport.onclose = () => void (transport.sessionId === undefined || sessions.delete(transport.sessionId))
    const relay = new Server(relayInfo, { capabilities: { tools: {} } })
    relay.setRequestHandler(ListToolsRequestSchema, () => client.listTools())
    relay.setRequestHandler(CallToolRequestSchema, (call) => client.callTool(call.params) as Promise<never>)
    void relay.connect(transport).then(() => transport.handleRequest(req, res))
  })
  const url = await listen(server)
  return {
    url,
    close: async () => {
      await Promise.all([...sessions.values()].map((transport) => transport.close()))
      await client.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  let closeProxy = async () => {}
  let url: string
  if (side === "proxy" || side === "decoder" || side === "mcp-sdk") {
    const started = side === "mcp-sdk" ? await mcpSdk() : await proxy(side === "decoder")
    url = started.url
    closeProxy = started.close
  } else if (side === "floor" || side === "engine" || side === "mcp-engine") {
    const start: Effect.Effect<string, unknown, Scope.Scope> = side === "floor"
      ? floor
      : side === "engine"
      ? engine
      : mcpEngine
    url = await Effect.runPromise(Scope.provide(start, scope))
  } else {
    throw new Error(
      `BENCH_GATEWAY_SIDE: unknown side "${side}" (proxy, floor, decoder, engine, mcp-engine, mcp-sdk)`
    )
  }
  answerSideQuestions()
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
