/**
 * The MCP servers the gateway's MCP tests put behind it, each on loopback, built by two builders: `effectUpstream`,
 * an `effect/ai/McpServer` over Streamable HTTP with the registrations a test gives it, and `sdkUpstream`, the official
 * SDK's low-level `Server` over its Streamable HTTP transport (stateless, a server made for each request, or with a
 * session). Made with them: `effectServer` (`read`: a block of every content type and `structuredContent`; `fail`: an
 * `isError` result; resources, a template and a prompt; it records the `authorization` header of every request and
 * the `_meta` of every call), `namedTools`, `namedCatalog` (resources, templates and prompts of given names),
 * `waitingServer` (a `wait` tool that records its calls and their cancellations), `sdkServer` (`echo`, and `secret`,
 * which the tests' configuration does not take; a resource and a prompt; the `_meta` of every call), `echoServer`
 * (`say`, which records its arguments), `changingServer` (tools a test changes) and `askingServer` (a tool that asks
 * its client for sampling and roots, with a session), `completingServer` (a prompt and a template whose arguments it
 * completes, recording the completions and log levels it is asked for), `subscribableServer` (resources it takes
 * subscriptions to, or not, and tells the changes of). And `calcServer` and `unrulyServer`: the commands of the stdio
 * fixtures (`test/fixtures/mcp/`; the unruly one lists what a file holds, when given one); `revisionServer`, an
 * Effect upstream in chosen revisions that can forget its sessions; and `oauthServers`, a token endpoint in front of
 * an upstream that checks the bearer. And `heldUpstream`, a proxy in front of one that holds each request a while, or
 * for good.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Server, type ServerOptions } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { forward } from "./balancer.js"
import { freePort } from "./freePort.js"

/** The stdio fixture's command and arguments, as a `command` server of provider.json takes them. */
export const calcServer = {
  command: process.execPath,
  args: ["--import", "tsx", fileURLToPath(new URL("../fixtures/mcp/calcServer.ts", import.meta.url))]
}

/** Whether the process `pid` (a stdio server's, as `CALC_PID_FILE` tells it) is running. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A tiny PNG's bytes (its signature), the `read` tool's image. */
export const imageBytes = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10])

/** What an upstream saw of the requests sent to it. */
export interface Seen {
  /** The `authorization` header of every HTTP request. */
  readonly authorizations: Array<string | undefined>
  /** The `_meta` of every tool call (`{}` for one without). */
  readonly metas: Array<Readonly<Record<string, unknown>>>
}

// `app` served on a loopback port for the scope's life; its `/mcp` URL.
function onLoopback<E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) {
  return Effect.gen(function*() {
    const http = Http.createServer()
    const listening = yield* NodeHttpServer.make(() => http, { host: "127.0.0.1", port: 0 }).pipe(Effect.orDie)
    yield* listening.serve(app)
    return `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`
  })
}

/**
 * An `effect/ai/McpServer` named `name` over Streamable HTTP (2025-11-25, or the revisions `protocols` names) on
 * loopback, with what `register` adds to it: its URL (`/mcp` on it) and what it saw (`seen.metas` is for `register`'s
 * tools to fill, by `recordMeta`).
 */
export const effectUpstream = <E>(
  name: string,
  register: (server: McpServer.McpServer["Service"], seen: Seen) => Effect.Effect<void, E>,
  protocols: readonly [
    McpProtocol.ProtocolAdapter<"2025-11-25" | "2026-07-28">,
    ...Array<McpProtocol.ProtocolAdapter<"2025-11-25" | "2026-07-28">>
  ] = [McpProtocol.v2025_11_25]
) =>
  Effect.gen(function*() {
    const router = yield* HttpRouter.make
    const context = yield* Layer.build(
      McpServer.layerHttp({ name, version: "1.0.0", path: "/mcp", protocols }).pipe(
        Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router))
      )
    ).pipe(Effect.orDie)
    const seen: Seen = { authorizations: [], metas: [] }
    yield* register(Context.get(context, McpServer.McpServer), seen)
    const inner = router.asHttpEffect()
    const url = yield* onLoopback(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      seen.authorizations.push(request.headers["authorization"])
      return inner
    }))
    return { url, seen }
  })

/** Records the `_meta` of the call being handled in `seen`. */
export const recordMeta = (seen: Seen) =>
  Effect.map(McpSchema.McpRequestContext, (context) => {
    seen.metas.push({ ...context.requestMetadata })
  })

// A tool with `inputSchema` whose handler is `handle`.
function tool<P>(
  name: string,
  description: string,
  inputSchema: McpSchema.Tool["inputSchema"],
  handle: (payload: P) => Effect.Effect<McpSchema.CallToolResult, never, McpSchema.McpRequestContext>
) {
  return { tool: new McpSchema.Tool({ name, description, inputSchema }), annotations: Context.empty(), handle }
}

const text = (value: string) => new McpSchema.CallToolResult({ content: [{ type: "text", text: value }] })

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

/**
 * The Effect upstream `files`: tools `read` and `fail`; resources `readme` (`file:///readme.md`, text) and `logo`
 * (`file:///logo.png`, binary: `imageBytes`); the template `note` (`file:///notes/{name}`, read as `note <name>`); the
 * prompt `review` (argument `path`: a text, an embedded resource and an image). Its URL and what it saw.
 */
export const effectServer = effectUpstream("files", (server, seen) =>
  Effect.gen(function*() {
    yield* server.addTool(
      tool("read", "Reads a file.", pathArgument, (payload: { readonly path: string }) =>
        Effect.as(recordMeta(seen), readResult(payload.path)))
    )
    yield* server.addTool(
      tool("fail", "Fails as a tool does.", pathArgument, (payload: { readonly path: string }) =>
        Effect.succeed(
          new McpSchema.CallToolResult({
            content: [{ type: "text", text: `no such file: ${payload.path}` }],
            isError: true
          })
        ))
    )
    yield* server.addResource({
      resource: new McpSchema.Resource({ uri: "file:///readme.md", name: "readme", mimeType: "text/markdown" }),
      annotations: Context.empty(),
      handle: Effect.succeed({ contents: [{ uri: "file:///readme.md", mimeType: "text/markdown", text: "# Files" }] })
    })
    yield* server.addResource({
      resource: new McpSchema.Resource({ uri: "file:///logo.png", name: "logo", mimeType: "image/png" }),
      annotations: Context.empty(),
      handle: Effect.succeed({ contents: [{ uri: "file:///logo.png", mimeType: "image/png", blob: imageBytes }] })
    })
    yield* server.addResourceTemplate({
      template: new McpSchema.ResourceTemplate({ uriTemplate: "file:///notes/{name}", name: "note" }),
      annotations: Context.empty(),
      routerPath: "file::///notes/:0",
      completions: {},
      handle: (uri, [name]) =>
        Effect.succeed({ contents: [{ uri, mimeType: "text/plain", text: `note ${name}` }] })
    })
    yield* server.addPrompt({
      prompt: new McpSchema.Prompt({
        name: "review",
        description: "Asks for a review of a file.",
        arguments: [{ name: "path", description: "The file.", required: true }]
      }),
      annotations: Context.empty(),
      completions: {},
      handle: (params) =>
        Effect.succeed(
          new McpSchema.GetPromptResult({
            description: `A review of ${params["path"]}`,
            messages: [
              { role: "user", content: { type: "text", text: `Review ${params["path"]}.` } },
              {
                role: "user",
                content: {
                  type: "resource",
                  resource: { uri: `file:///${params["path"]}`, mimeType: "text/plain", text: "the file" }
                }
              },
              { role: "assistant", content: { type: "image", data: imageBytes, mimeType: "image/png" } }
            ]
          })
        )
    })
  }))

/** An Effect upstream over HTTP whose tools are `names`, each answering its own name; its URL (`/mcp` on it). */
export const namedTools = (names: ReadonlyArray<string>) =>
  effectUpstream("named", (server) =>
    Effect.forEach(
      names,
      (name) => server.addTool(tool(name, `The ${name} tool.`, { type: "object" }, () => Effect.succeed(text(name)))),
      { discard: true }
    )).pipe(Effect.map(({ url }) => url))

/**
 * An Effect upstream over HTTP with, for each of `names`, a resource (`doc:///<name>`, read as its name), a template
 * `<name>_page` (`doc:///<name>/pages/{n}`) and a prompt, each named `<name>`; its URL (`/mcp` on it).
 */
export const namedCatalog = (names: ReadonlyArray<string>) =>
  effectUpstream("catalog", (server) =>
    Effect.forEach(names, (name) =>
      Effect.gen(function*() {
        yield* server.addResource({
          resource: new McpSchema.Resource({ uri: `doc:///${name}`, name }),
          annotations: Context.empty(),
          handle: Effect.succeed({ contents: [{ uri: `doc:///${name}`, text: name }] })
        })
        yield* server.addResourceTemplate({
          template: new McpSchema.ResourceTemplate({ uriTemplate: `doc:///${name}/pages/{n}`, name: `${name}_page` }),
          annotations: Context.empty(),
          routerPath: `doc::///${name}/pages/:0`,
          completions: {},
          handle: (uri) => Effect.succeed({ contents: [{ uri, text: name }] })
        })
        yield* server.addPrompt({
          prompt: new McpSchema.Prompt({ name }),
          annotations: Context.empty(),
          completions: {},
          handle: () =>
            Effect.succeed(
              new McpSchema.GetPromptResult({ messages: [{ role: "user", content: { type: "text", text: name } }] })
            )
        })
      }), { discard: true })).pipe(Effect.map(({ url }) => url))

/**
 * An Effect upstream over HTTP with one tool, `wait`, that answers after `millis`: its URL, and the most calls it had
 * in flight at once, the times (epoch millis) its calls began and how many were cancelled, as it saw them.
 */
export const waitingServer = (millis: number) =>
  Effect.gen(function*() {
    const seen = { inFlight: 0, most: 0, began: [] as Array<number>, cancelled: 0 }
    const { url } = yield* effectUpstream("waiting", (server) =>
      server.addTool(tool("wait", "Answers after a while.", { type: "object" }, () =>
        Effect.acquireUseRelease(
          Effect.map(Clock.currentTimeMillis, (now) => {
            seen.inFlight += 1
            seen.most = Math.max(seen.most, seen.inFlight)
            seen.began.push(now)
          }),
          () =>
            Effect.as(Effect.sleep(millis), text("done")),
          () => Effect.sync(() => void (seen.inFlight -= 1))
        ).pipe(Effect.onInterrupt(() => Effect.sync(() => void (seen.cancelled += 1)))))))
    return { url, seen }
  })

/**
 * An Effect upstream over HTTP, `echo`, with one tool, `say`, that answers its `text` argument as a text block and
 * as `structuredContent` (`{ said }`): its URL, and the arguments of every call, as it received them.
 */
export const echoServer = Effect.gen(function*() {
  const received: Array<Readonly<Record<string, unknown>>> = []
  const textArgument = { type: "object" as const, properties: { text: { type: "string" } }, required: ["text"] }
  const { url } = yield* effectUpstream(
    "echo",
    (server) =>
      server.addTool(
        tool("say", "Says its text.", textArgument, (payload: Readonly<Record<string, unknown>>) =>
          Effect.sync(() => {
            received.push(payload)
            const said = String(payload["text"])
            return new McpSchema.CallToolResult({
              content: [{ type: "text", text: said }],
              structuredContent: { said }
            })
          }))
      )
  )
  return { url, received }
})

/** The input request of `roundTripServer`'s `sample` tool: its client's model asked what two and two make. */
export const sampleRequest = {
  method: "sampling/createMessage",
  params: { messages: [{ role: "user", content: { type: "text", text: "2+2?" } }], maxTokens: 10 }
} as const

/**
 * A 2026-07-28 Effect upstream with one tool, `sample`, that needs its client's model: called without the answer, it
 * answers with a multi round-trip result (the input request `answer`, `sampleRequest`, and its state `round-1`), or
 * with -32021 when its client did not declare sampling (`McpServer` checks that); called again with the answer and the
 * state, it says what the model said and the state it was given. Its URL, and the `_meta` of each call (`seen.metas`).
 */
export const roundTripServer = effectUpstream("round-trips", (server, seen) =>
  server.addTool({
    tool: new McpSchema.Tool({
      name: "sample",
      description: "Asks its client's model.",
      inputSchema: { type: "object" }
    }),
    annotations: Context.empty(),
    handle: () =>
      Effect.gen(function*() {
        yield* recordMeta(seen)
        const context = yield* McpSchema.McpRequestContext
        const answer: unknown = context.inputResponses?.["answer"]
        if (answer === undefined) {
          return new McpSchema.InputRequired({ inputRequests: { answer: sampleRequest }, requestState: "round-1" })
        }
        const content = typeof answer === "object" && answer !== null && "content" in answer ? answer.content : {}
        const said = typeof content === "object" && content !== null && "text" in content ? content.text : undefined
        return text(`the model said ${String(said)} (state ${context.requestState})`)
      })
  }), [McpProtocol.v2026_07_28])

/**
 * The official SDK's server on loopback, `setup` giving it its handlers: stateless (a `Server` and a transport made
 * for each request) or, `session`, one of each per session (so a request it makes of its client can be answered), on
 * `port` (one the system picks by default). Its URL (`/mcp`), and `forget`, which drops its sessions (a request naming
 * one is answered 404, as by a server that restarted).
 */
export const sdkUpstream = (
  name: string,
  options: ServerOptions,
  setup: (server: Server) => void,
  { port = 0, session = false }: { readonly session?: boolean; readonly port?: number } = {}
) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const sessions = new Map<string, StreamableHTTPServerTransport>()
      const http = Http.createServer((request, response) => {
        const id = request.headers["mcp-session-id"]
        const existing = typeof id === "string" ? sessions.get(id) : undefined
        if (existing !== undefined) return void existing.handleRequest(request, response)
        // A session it does not hold (forgotten) is 404, as the protocol has a server say a session ended.
        if (session && typeof id === "string") return void response.writeHead(404).end()
        const server = new Server({ name, version: "1.0.0" }, options)
        setup(server)
        const transport = new StreamableHTTPServerTransport(
          session
            ? { sessionIdGenerator: randomUUID, onsessioninitialized: (id) => void sessions.set(id, transport) }
            : {}
        )
        if (!session) {
          response.on("close", () => {
            void transport.close()
            void server.close()
          })
        }
        void server.connect(transport).then(() => transport.handleRequest(request, response))
      })
      await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", () => resolve()))
      return { http, forget: () => sessions.clear() }
    }),
    ({ http }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          http.close(() => resolve())
          http.closeAllConnections()
        })
      )
  ).pipe(
    Effect.map(({ forget, http }) => ({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, forget }))
  )

/**
 * The official SDK's server, stateless: `echo`, and `secret`; the resource `memo` (`memo://today`) and the prompt
 * `greet` (argument `name`). Its URL (`/mcp`) and the `_meta` of every call.
 */
export const sdkServer = Effect.gen(function*() {
  const metas: Array<Readonly<Record<string, unknown>>> = []
  const { url } = yield* sdkUpstream("sdk", { capabilities: { tools: {}, resources: {}, prompts: {} } }, (server) => {
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
    server.setRequestHandler(CallToolRequestSchema, (call) => {
      metas.push({ ...call.params._meta })
      return {
        content: [{ type: "text", text: `echo: ${String(call.params.arguments?.["text"])}` }],
        structuredContent: { echoed: call.params.arguments?.["text"] ?? null }
      }
    })
    server.setRequestHandler(ListResourcesRequestSchema, () => ({
      resources: [{ uri: "memo://today", name: "memo", mimeType: "text/plain" }]
    }))
    server.setRequestHandler(ReadResourceRequestSchema, (read) => ({
      contents: [{ uri: read.params.uri, mimeType: "text/plain", text: `memo at ${read.params.uri}` }]
    }))
    server.setRequestHandler(ListPromptsRequestSchema, () => ({
      prompts: [{ name: "greet", arguments: [{ name: "name", required: true }] }]
    }))
    server.setRequestHandler(GetPromptRequestSchema, (get) => ({
      messages: [{ role: "user", content: { type: "text", text: `Hello, ${get.params.arguments?.["name"]}!` } }]
    }))
  })
  return { url, metas }
})

/** A request of `completion/complete` as a server receives it. */
export interface CompletionAsked {
  readonly ref: { readonly type: string; readonly name?: string; readonly uri?: string }
  readonly argument: { readonly name: string; readonly value: string }
  readonly context?: { readonly arguments?: Readonly<Record<string, string>> | undefined }
}

/**
 * The official SDK's server, stateless, with completions and logging: the prompt `greet` (arguments `name` and
 * `greeting`) and the template `notes` (`file:///notes/{name}`), whose arguments it completes from a list of names
 * (`ada`, `alan`, `grace`) by prefix, its values the argument's name then the match (`name:ada`). It records each
 * completion asked of it, and each `logging/setLevel`.
 */
export const completingServer = Effect.gen(function*() {
  const completions: Array<CompletionAsked> = []
  const levels: Array<string> = []
  const names = ["ada", "alan", "grace"]
  const capabilities = { resources: {}, prompts: {}, completions: {}, logging: {} }
  const { url } = yield* sdkUpstream("completing", { capabilities }, (server) => {
    server.setRequestHandler(ListPromptsRequestSchema, () => ({
      prompts: [{ name: "greet", arguments: [{ name: "name", required: true }, { name: "greeting" }] }]
    }))
    server.setRequestHandler(GetPromptRequestSchema, (get) => ({
      messages: [{ role: "user", content: { type: "text", text: `Hello, ${get.params.arguments?.["name"]}!` } }]
    }))
    server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: [] }))
    server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
      resourceTemplates: [{ name: "notes", uriTemplate: "file:///notes/{name}" }]
    }))
    server.setRequestHandler(ReadResourceRequestSchema, (read) => ({
      contents: [{ uri: read.params.uri, text: `note at ${read.params.uri}` }]
    }))
    server.setRequestHandler(CompleteRequestSchema, (complete) => {
      const { argument, context, ref } = complete.params
      completions.push({ ref, argument, ...(context === undefined ? {} : { context }) })
      const values = names.filter((name) => name.startsWith(argument.value)).map((name) => `${argument.name}:${name}`)
      return { completion: { values, total: values.length, hasMore: false } }
    })
    server.setRequestHandler(SetLevelRequestSchema, (set) => {
      levels.push(set.params.level)
      return {}
    })
  })
  return { url, completions, levels }
})

/** A tool as `changingServer` lists it. */
export interface ListedTool {
  readonly name: string
  readonly description: string
}

/**
 * The official SDK's server, stateless, listing whatever `tools` holds when it is asked (a test changes it between
 * two lists: a description swapped, a tool removed or added); each tool's call answers its name. With `prompts`, it
 * lists whatever that holds too, each prompt's text its name. On `port` (one the system picks by default); its URL
 * (`/mcp`).
 */
export const changingServer = (
  tools: { current: ReadonlyArray<ListedTool> },
  port = 0,
  prompts?: { current: ReadonlyArray<ListedTool> }
) =>
  sdkUpstream("changing", { capabilities: prompts === undefined ? { tools: {} } : { tools: {}, prompts: {} } }, (
    server
  ) => {
    server.setRequestHandler(ListToolsRequestSchema, () => ({
      tools: tools.current.map((tool) => ({ ...tool, inputSchema: { type: "object" as const } }))
    }))
    server.setRequestHandler(CallToolRequestSchema, (call) => ({
      content: [{ type: "text", text: `called ${call.params.name}` }]
    }))
    if (prompts === undefined) return
    server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: [...prompts.current] }))
    server.setRequestHandler(GetPromptRequestSchema, (get) => ({
      messages: [{ role: "user", content: { type: "text", text: get.params.name } }]
    }))
  }, { port })

/**
 * A `changingServer` listing `tools` on a port of its own that it can leave and come back to, as a server that goes
 * down and up again: `stop` closes it, `restart` serves it again on the same port (in the caller's scope) listing
 * `added` too. Its URL (`/mcp`).
 */
export const restartingServer = (tools: ReadonlyArray<ListedTool>) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const listed = { current: tools }
    const up = yield* Scope.make()
    yield* Scope.provide(changingServer(listed, port), up)
    return {
      url: `http://127.0.0.1:${port}/mcp`,
      stop: Scope.close(up, Exit.void),
      restart: (added: ReadonlyArray<ListedTool>) =>
        Effect.suspend(() => {
          listed.current = [...listed.current, ...added]
          return changingServer(listed, port)
        })
    }
  })

// What a request of the client ended in: its result, or its error's code and message.
function outcome(request: Promise<unknown>) {
  return request.then(
    (result) => ({ result }),
    (error: unknown) => ({ code: (error as { code?: unknown }).code, message: (error as Error).message })
  )
}

/**
 * The official SDK's server with a session, whose tool `ask` asks its client for a sampling (`sampling/createMessage`)
 * and its roots (`roots/list`), and answers what each ended in and the capabilities its client declared, as
 * `structuredContent`. Its URL (`/mcp`).
 */
export const askingServer = sdkUpstream("asking", { capabilities: { tools: {} } }, (server) => {
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [{ name: "ask", description: "Asks its client.", inputSchema: { type: "object" } }]
  }))
  server.setRequestHandler(CallToolRequestSchema, async (_call, extra) => {
    // On the call's own response stream, as a request made while handling it is sent.
    const related = { relatedRequestId: extra.requestId }
    const sampling = await outcome(
      server.createMessage(
        { messages: [{ role: "user", content: { type: "text", text: "hi" } }], maxTokens: 8 },
        related
      )
    )
    const roots = await outcome(server.listRoots(undefined, related))
    const structuredContent = { sampling, roots, capabilities: server.getClientCapabilities() ?? null }
    return { content: [{ type: "text", text: JSON.stringify(structuredContent) }], structuredContent }
  })
}, { session: true })

/** The asking stdio fixture's command and arguments (`test/fixtures/mcp/askingServer.ts`). */
export const askingStdioServer = {
  command: process.execPath,
  args: ["--import", "tsx", fileURLToPath(new URL("../fixtures/mcp/askingServer.ts", import.meta.url))]
}

/**
 * The stdio fixture that takes subscriptions (`test/fixtures/mcp/subscribingServer.ts`), its subscriptions appended to
 * `log`: its first process exits after its first subscription, a later one tells the changes of what it is subscribed
 * to.
 */
export const subscribingStdioServer = (log: string) => ({
  command: process.execPath,
  args: ["--import", "tsx", fileURLToPath(new URL("../fixtures/mcp/subscribingServer.ts", import.meta.url))],
  env: { SUBSCRIBED_LOG: log }
})

/** The misbehaving stdio fixture's command and arguments (`test/fixtures/mcp/unrulyServer.ts`). */
export const unrulyServer = {
  command: process.execPath,
  args: ["--import", "tsx", fileURLToPath(new URL("../fixtures/mcp/unrulyServer.ts", import.meta.url))]
}

/** A request an upstream was sent: its `MCP-Protocol-Version`, and the JSON-RPC method its body named (none: a GET). */
export interface Received {
  readonly version: string | undefined
  readonly method: string | undefined
}

// The JSON-RPC method `request`'s body names, if any (its body read once and kept for the app that answers it).
const methodOf = (request: HttpServerRequest.HttpServerRequest) =>
  request.method !== "POST" ? Effect.succeed(undefined) : Effect.map(
    Effect.orElseSucceed(request.text, () => ""),
    (text) => {
      try {
        const body: unknown = JSON.parse(text)
        return typeof body === "object" && body !== null && "method" in body && typeof body.method === "string"
          ? body.method
          : undefined
      } catch {
        return undefined
      }
    }
  )

/**
 * An Effect upstream over HTTP in the revisions `protocols`, with one tool, `whoami`; its URL (`/mcp` on it), every
 * request it was sent (`received`: its `MCP-Protocol-Version` and method), and how many it was sent without a session
 * (a 2025-11-25 client's `initialize`). `forget` replaces its `McpServer` by a new one, as a restarted server is: the
 * sessions it gave are unknown (404) from then on.
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
    const state = { app: yield* build, sessionless: 0, received: [] as Array<Received> }
    const url = yield* onLoopback(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      Effect.flatMap(methodOf(request), (method) => {
        state.received.push({ version: request.headers["mcp-protocol-version"], method })
        if (request.method === "POST" && request.headers["mcp-session-id"] === undefined) state.sessionless += 1
        return state.app
      })))
    const scope = yield* Effect.scope
    return {
      url,
      received: state.received as ReadonlyArray<Received>,
      get sessionless() {
        return state.sessionless
      },
      forget: Effect.map(Scope.provide(build, scope), (app) =>
        void (state.app = app))
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

/** A `subscribableServer`: what it was asked, and how a test tells a change. */
export interface Subscribable {
  readonly url: string
  /** The URIs it was asked to subscribe to, and to unsubscribe from, in order. */
  readonly subscribes: Array<string>
  readonly unsubscribes: Array<string>
  /** Tells each of its sessions that `uri` changed (`notifications/resources/updated`). */
  readonly update: (uri: string) => Promise<void>
  /** Drops its sessions: the gateway's next request is answered 404, as by a server that restarted. */
  readonly forget: () => void
}

/** The resources of a `subscribableServer`. */
export const subscribableResources = [
  { uri: "file:///doc.md", name: "doc", mimeType: "text/plain" },
  { uri: "file:///other.md", name: "other", mimeType: "text/plain" },
  { uri: "file:///secret.md", name: "secret", mimeType: "text/plain" }
]

/** The resource templates of a `subscribableServer`. */
export const subscribableTemplates = [
  { uriTemplate: "file:///notes/{name}", name: "notes", mimeType: "text/plain" }
]

/** What a `subscribableServer` does besides: a URI whose subscription it never answers, other templates it lists. */
export interface SubscribableOptions {
  readonly hangs?: string
  /** Default: `subscribableTemplates`. */
  readonly templates?: ReadonlyArray<{ readonly uriTemplate: string; readonly name: string }>
}

/**
 * The official SDK's server named `name`, a session per client: the resources `subscribableResources` and the
 * templates `subscribableTemplates` (or those `options` gives), each resource read as `contents of <uri>`; when
 * `subscribe`, it advertises `resources.subscribe` and takes subscriptions, recording them (a subscription to
 * `options.hangs` is never answered).
 */
export const subscribableServer = (name: string, subscribe: boolean, options: SubscribableOptions = {}) =>
  Effect.gen(function*() {
    const servers: Array<Server> = []
    const subscribes: Array<string> = []
    const unsubscribes: Array<string> = []
    const capabilities = { resources: subscribe ? { subscribe: true } : {} }
    const { forget, url } = yield* sdkUpstream(name, { capabilities }, (server) => {
      servers.push(server)
      server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: subscribableResources }))
      server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
        resourceTemplates: [...options.templates ?? subscribableTemplates]
      }))
      server.setRequestHandler(ReadResourceRequestSchema, (request) => ({
        contents: [{ uri: request.params.uri, mimeType: "text/plain", text: `contents of ${request.params.uri}` }]
      }))
      if (!subscribe) return
      server.setRequestHandler(SubscribeRequestSchema, (request) => {
        subscribes.push(request.params.uri)
        return request.params.uri === options.hangs ? new Promise<never>(() => undefined) : {}
      })
      server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
        unsubscribes.push(request.params.uri)
        return {}
      })
    }, { session: true })
    const update = async (uri: string) => {
      await Promise.all(servers.map((server) => server.sendResourceUpdated({ uri }).catch(() => undefined)))
    }
    return { url, subscribes, unsubscribes, update, forget } satisfies Subscribable
  })

// A loopback server answering with `handler` for the scope's life: its `/mcp` URL.
const loopbackServer = (handler: Http.RequestListener) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const http = Http.createServer(handler)
      return new Promise<Http.Server>((resolve) => http.listen(0, "127.0.0.1", () => resolve(http)))
    }),
    (http) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          http.closeAllConnections()
          http.close(() => resolve())
        })
      )
  ).pipe(Effect.map((http) => `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`))

/**
 * A loopback proxy in front of the MCP server over HTTP at `target` (its `/mcp` URL) that holds each request `millis`
 * before it passes it on, or with `"never"` holds it for good: a server slow, or silent, to initialize and to list.
 * Its `/mcp` URL, for the scope's life.
 */
export const heldUpstream = (target: string, millis: number | "never") => {
  const goal = new URL(target)
  return loopbackServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      if (millis !== "never") setTimeout(() => forward(goal, request, response).end(Buffer.concat(chunks)), millis)
    })
  })
}

/**
 * A loopback proxy in front of the MCP server over HTTP at `target` (its `/mcp` URL) that answers 405 to every
 * resumption of a stream (a `GET` with `Last-Event-ID`) and passes the rest on: a server that ends a call's stream
 * before its answer and then will not resume it. Its `/mcp` URL, for the scope's life.
 */
export const refusingResumption = (target: string) => {
  const goal = new URL(target)
  return loopbackServer((request, response) => {
    if (request.method === "GET" && request.headers["last-event-id"] !== undefined) {
      return void response.writeHead(405).end()
    }
    request.pipe(forward(goal, request, response))
  })
}
