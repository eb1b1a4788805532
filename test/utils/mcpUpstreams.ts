/**
 * The MCP servers the gateway's MCP tests put behind it, each on loopback: `effectServer`, an `effect/ai/McpServer`
 * over Streamable HTTP (`read`: a block of every content type and `structuredContent`; `fail`: an `isError` result),
 * which records the `authorization` header of every request it is sent; `sdkServer`, the official SDK's low-level
 * `Server` over its stateless Streamable HTTP transport (`echo`, and `secret`, which the tests' configuration does not
 * take); `changingServer`, the same, whose tools a test changes; `calcServer` and `unrulyServer`, the commands of the
 * stdio fixtures (`test/fixtures/mcp/`); `revisionServer`, an Effect upstream in chosen revisions that can forget its
 * sessions; and `oauthServers`, a token endpoint in front of an upstream that checks the bearer.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"

/** The stdio fixture's command and arguments, as a `command` server of provider.json takes them. */
export const calcServer = {
  command: process.execPath,
  args: ["--import", "tsx", fileURLToPath(new URL("../fixtures/mcp/calcServer.ts", import.meta.url))]
}

/** A tiny PNG's bytes (its signature), the `read` tool's image. */
export const imageBytes = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10])

// The `read` tool's result: one block of every content type, and structured content.
function readResult(path: string) {
  return new McpSchema.CallToolResult({
    content: [
      { type: "text", text: `contents of ${path}` },
      { type: "image", data: imageBytes, mimeType: "image/png" },
      { type: "audio", data: imageBytes, mimeType: "audio/wav" },
      { type: "resource", resource: { uri: `file:///${path}`, mimeType: "text/plain", text: "embedded" } },
      { type: "resource_link", uri: `file:///${path}.md`, name: `${path}.md` }
    ],
    structuredContent: { path, size: 42 }
  })
}

const pathArgument = { type: "object" as const, properties: { path: { type: "string" } }, required: ["path"] }

/** The Effect upstream: its URL (`/mcp` on it) and the `authorization` headers it was sent. */
export const effectServer = Effect.gen(function*() {
  const router = yield* HttpRouter.make
  const context = yield* Layer.build(
    McpServer.layerHttp({ name: "files", version: "1.0.0", path: "/mcp", protocols: [McpProtocol.v2025_11_25] }).pipe(
      Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router))
    )
  ).pipe(Effect.orDie)
  const server = Context.get(context, McpServer.McpServer)
  yield* server.addTool({
    tool: new McpSchema.Tool({ name: "read", description: "Reads a file.", inputSchema: pathArgument }),
    annotations: Context.empty(),
    handle: (payload: { readonly path: string }) => Effect.succeed(readResult(payload.path))
  })
  yield* server.addTool({
    tool: new McpSchema.Tool({ name: "fail", description: "Fails as a tool does.", inputSchema: pathArgument }),
    annotations: Context.empty(),
    handle: (payload: { readonly path: string }) =>
      Effect.succeed(
        new McpSchema.CallToolResult({
          content: [{ type: "text", text: `no such file: ${payload.path}` }],
          isError: true
        })
      )
  })
  const authorizations: Array<string | undefined> = []
  const inner = router.asHttpEffect()
  const url = yield* onLoopback(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    authorizations.push(request.headers["authorization"])
    return inner
  }))
  return { url, authorizations }
})

// `app` served on a loopback port for the scope's life; its `/mcp` URL.
function onLoopback<E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) {
  return Effect.gen(function*() {
    const http = Http.createServer()
    const listening = yield* NodeHttpServer.make(() => http, { host: "127.0.0.1", port: 0 }).pipe(Effect.orDie)
    yield* listening.serve(app)
    return `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`
  })
}

/** An Effect upstream over HTTP whose tools are `names`, each answering its own name; its URL (`/mcp` on it). */
export const namedTools = (names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const router = yield* HttpRouter.make
    const context = yield* Layer.build(
      McpServer.layerHttp({ name: "named", version: "1.0.0", path: "/mcp", protocols: [McpProtocol.v2025_11_25] })
        .pipe(Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router)))
    ).pipe(Effect.orDie)
    const server = Context.get(context, McpServer.McpServer)
    for (const name of names) {
      yield* server.addTool({
        tool: new McpSchema.Tool({ name, description: `The ${name} tool.`, inputSchema: { type: "object" } }),
        annotations: Context.empty(),
        handle: () => Effect.succeed(new McpSchema.CallToolResult({ content: [{ type: "text", text: name }] }))
      })
    }
    return yield* onLoopback(router.asHttpEffect())
  })

/**
 * An Effect upstream over HTTP with one tool, `wait`, that answers after `millis`: its URL, and the most calls it had
 * in flight at once and the times (epoch millis) its calls began, as it saw them.
 */
export const waitingServer = (millis: number) =>
  Effect.gen(function*() {
    const router = yield* HttpRouter.make
    const context = yield* Layer.build(
      McpServer.layerHttp({ name: "waiting", version: "1.0.0", path: "/mcp", protocols: [McpProtocol.v2025_11_25] })
        .pipe(Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router)))
    ).pipe(Effect.orDie)
    const server = Context.get(context, McpServer.McpServer)
    const seen = { inFlight: 0, most: 0, began: [] as Array<number> }
    yield* server.addTool({
      tool: new McpSchema.Tool({
        name: "wait",
        description: "Answers after a while.",
        inputSchema: { type: "object" }
      }),
      annotations: Context.empty(),
      handle: () =>
        Effect.acquireUseRelease(
          Effect.map(Clock.currentTimeMillis, (now) => {
            seen.inFlight += 1
            seen.most = Math.max(seen.most, seen.inFlight)
            seen.began.push(now)
          }),
          () =>
            Effect.as(
              Effect.sleep(millis),
              new McpSchema.CallToolResult({ content: [{ type: "text", text: "done" }] })
            ),
          () => Effect.sync(() => void (seen.inFlight -= 1))
        )
    })
    return { url: yield* onLoopback(router.asHttpEffect()), seen }
  })

/** The official SDK's server, stateless: a `Server` and a transport made for each request. Its URL (`/mcp`). */
export const sdkServer = Effect.acquireRelease(
  Effect.promise(() => {
    const http = Http.createServer((request, response) => {
      const server = new Server({ name: "sdk", version: "1.0.0" }, { capabilities: { tools: {} } })
      server.setRequestHandler(ListToolsRequestSchema, () => ({
        tools: [
          {
            name: "echo",
            description: "Says back what it is told.",
            inputSchema: { type: "object", properties: { text: { type: "string" } } }
          },
          { name: "secret", description: "Not taken by the gateway.", inputSchema: { type: "object" } }
        ]
      }))
      server.setRequestHandler(CallToolRequestSchema, (call) => ({
        content: [{ type: "text", text: `echo: ${String(call.params.arguments?.["text"])}` }],
        structuredContent: { echoed: call.params.arguments?.["text"] ?? null }
      }))
      const transport = new StreamableHTTPServerTransport({})
      response.on("close", () => {
        void transport.close()
        void server.close()
      })
      void server.connect(transport).then(() => transport.handleRequest(request, response))
    })
    return new Promise<Http.Server>((resolve) => http.listen(0, "127.0.0.1", () => resolve(http)))
  }),
  (http) => Effect.promise(() => new Promise<void>((resolve) => http.close(() => resolve())))
).pipe(Effect.map((http) => ({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp` })))

/** A tool as `changingServer` lists it. */
export interface ListedTool {
  readonly name: string
  readonly description: string
}

/**
 * The official SDK's server, stateless, listing whatever `tools` holds when it is asked (a test changes it between
 * two lists: a description swapped, a tool removed or added); each tool's call answers its name. Its URL (`/mcp`).
 */
export const changingServer = (tools: { current: ReadonlyArray<ListedTool> }) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const http = Http.createServer((request, response) => {
        const server = new Server({ name: "changing", version: "1.0.0" }, { capabilities: { tools: {} } })
        server.setRequestHandler(ListToolsRequestSchema, () => ({
          tools: tools.current.map((tool) => ({ ...tool, inputSchema: { type: "object" as const } }))
        }))
        server.setRequestHandler(CallToolRequestSchema, (call) => ({
          content: [{ type: "text", text: `called ${call.params.name}` }]
        }))
        const transport = new StreamableHTTPServerTransport({})
        response.on("close", () => {
          void transport.close()
          void server.close()
        })
        void server.connect(transport).then(() => transport.handleRequest(request, response))
      })
      return new Promise<Http.Server>((resolve) => http.listen(0, "127.0.0.1", () => resolve(http)))
    }),
    (http) => Effect.promise(() => new Promise<void>((resolve) => http.close(() => resolve())))
  ).pipe(Effect.map((http) => ({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp` })))

/** The misbehaving stdio fixture's command and arguments (`test/fixtures/mcp/unrulyServer.ts`). */
export const unrulyServer = {
  command: process.execPath,
  args: ["--import", "tsx", fileURLToPath(new URL("../fixtures/mcp/unrulyServer.ts", import.meta.url))]
}

/**
 * An Effect upstream over HTTP in the revisions `protocols`, with one tool, `whoami`; its URL (`/mcp` on it), the
 * `MCP-Protocol-Version` of every request it was sent, and how many it was sent without a session (a 2025-11-25
 * client's `initialize`). `forget` replaces its `McpServer` by a new one, as a restarted server is: the sessions it
 * gave are unknown (404) from then on.
 */
export const revisionServer = (
  protocols: readonly [
    McpProtocol.ProtocolAdapter<"2025-11-25" | "2026-07-28">,
    ...Array<McpProtocol.ProtocolAdapter<"2025-11-25" | "2026-07-28">>
  ]
) =>
  Effect.gen(function*() {
    const build = Effect.gen(function*() {
      const router = yield* HttpRouter.make
      const context = yield* Layer.build(
        McpServer.layerHttp({ name: "revision", version: "1.0.0", path: "/mcp", protocols })
          .pipe(Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router)))
      ).pipe(Effect.orDie)
      yield* Context.get(context, McpServer.McpServer).addTool({
        tool: new McpSchema.Tool({ name: "whoami", description: "Says who.", inputSchema: { type: "object" } }),
        annotations: Context.empty(),
        handle: () => Effect.succeed(new McpSchema.CallToolResult({ content: [{ type: "text", text: "revision" }] }))
      })
      return router.asHttpEffect()
    })
    const state = { app: yield* build, sessionless: 0, versions: [] as Array<string | undefined> }
    const url = yield* onLoopback(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      state.versions.push(request.headers["mcp-protocol-version"])
      if (request.method === "POST" && request.headers["mcp-session-id"] === undefined) state.sessionless += 1
      return state.app
    }))
    const scope = yield* Effect.scope
    return {
      url,
      versions: state.versions,
      get sessionless() {
        return state.sessionless
      },
      forget: Effect.map(Scope.provide(build, scope), (app) => void (state.app = app))
    }
  })

/**
 * An OAuth token endpoint (client credentials) in front of an Effect upstream over HTTP that takes only the tokens it
 * gave and has not revoked (else 401). The endpoint's URL, the upstream's URL, the grants' bodies as it got them
 * (form-encoded), and `revoke`, which makes every token given so far refused. Tokens expire in `expiresIn` seconds.
 */
export const oauthServers = (expiresIn: number) =>
  Effect.gen(function*() {
    const grants: Array<URLSearchParams> = []
    const valid = new Set<string>()
    const refused: Array<string> = []
    const tokenUrl = yield* onLoopback(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      Effect.map(request.text, (body) => {
        const params = new URLSearchParams(body)
        grants.push(params)
        if (
          request.headers["content-type"] !== "application/x-www-form-urlencoded" ||
          params.get("grant_type") !== "client_credentials" || params.get("client_secret") !== "s3cret-client-value"
        ) {
          return HttpServerResponse.jsonUnsafe({ error: "invalid_client" }, { status: 401 })
        }
        const token = `token-${grants.length}`
        valid.add(token)
        return HttpServerResponse.jsonUnsafe({ access_token: token, token_type: "Bearer", expires_in: expiresIn })
      })))
    const router = yield* HttpRouter.make
    const context = yield* Layer.build(
      McpServer.layerHttp({ name: "guarded", version: "1.0.0", path: "/mcp", protocols: [McpProtocol.v2025_11_25] })
        .pipe(Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router)))
    ).pipe(Effect.orDie)
    yield* Context.get(context, McpServer.McpServer).addTool({
      tool: new McpSchema.Tool({ name: "ping", description: "Pong.", inputSchema: { type: "object" } }),
      annotations: Context.empty(),
      handle: () =>
        Effect.succeed(new McpSchema.CallToolResult({ content: [{ type: "text", text: "pong" }] }))
    })
    const inner = router.asHttpEffect()
    const url = yield* onLoopback(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const token = (request.headers["authorization"] ?? "").replace(/^Bearer /, "")
      if (valid.has(token)) return inner
      refused.push(token)
      return Effect.succeed(HttpServerResponse.empty({ status: 401 }))
    }))
    return {
      tokenUrl: tokenUrl.replace(/\/mcp$/, "/token"),
      url,
      grants,
      refused,
      revoke: Effect.sync(() => valid.clear())
    }
  })
