/**
 * The upstream the MCP conformance suite's server scenarios expect (`@modelcontextprotocol/conformance`, `conformance
 * server`): the official SDK's low-level `Server` over its Streamable HTTP transport on loopback, with the
 * tools, resources, prompts and completions each scenario's description names (`test_simple_text`,
 * `test://static-text`, `test_prompt_with_arguments`...), written from those descriptions, and the diagnostic tools
 * the 2026-07-28 scenarios call. It speaks what the SDK speaks (2025-11-25 and earlier), so its 2026-07-28 scenarios
 * run through the gateway only. The gateway serves it at `/mcp/<server>` under the tools' own names, which is what
 * the suite calls. Over HTTP it guards against DNS rebinding (its own `Host` only), as the suite asks of a server on
 * loopback, and keeps each session's events for a client that resumes a stream, as the suite's reference server does
 * (its `test_reconnection` ends its call's stream before it answers); `conformanceStdioServer` is the same server over
 * stdio, for the gateway to start as a `command` server.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { type EventStore, StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import type { CallToolResult, JSONRPCMessage, Tool } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"

/** A 1x1 red PNG, the image of the image tool, the mixed tool, the binary resource and the image prompt. */
export const redPixelPng =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="

/** A WAV header of a silent, empty clip: the audio tool's. */
export const silentWav = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA="

const noArguments = { type: "object" as const, properties: {} }

const elicitationDefaults = {
  type: "object" as const,
  properties: {
    name: { type: "string" as const, default: "John Doe" },
    age: { type: "integer" as const, default: 30 },
    score: { type: "number" as const, default: 95.5 },
    status: { type: "string" as const, enum: ["active", "inactive", "pending"], default: "active" },
    verified: { type: "boolean" as const, default: true }
  }
}

const elicitationEnums = {
  type: "object" as const,
  properties: {
    untitledSingle: { type: "string" as const, enum: ["option1", "option2", "option3"] },
    titledSingle: {
      type: "string" as const,
      oneOf: [
        { const: "value1", title: "First Option" },
        { const: "value2", title: "Second Option" },
        { const: "value3", title: "Third Option" }
      ]
    },
    legacyEnum: {
      type: "string" as const,
      enum: ["opt1", "opt2", "opt3"],
      enumNames: ["Option One", "Option Two", "Option Three"]
    },
    untitledMulti: { type: "array" as const, items: { type: "string", enum: ["option1", "option2", "option3"] } },
    titledMulti: {
      type: "array" as const,
      items: {
        anyOf: [
          { const: "value1", title: "First Choice" },
          { const: "value2", title: "Second Choice" },
          { const: "value3", title: "Third Choice" }
        ]
      }
    }
  }
}

/** The tools, as the scenarios name them. */
export const conformanceTools: ReadonlyArray<Tool> = [
  { name: "test_simple_text", description: "Answers a simple text.", inputSchema: noArguments },
  { name: "test_image_content", description: "Answers an image.", inputSchema: noArguments },
  { name: "test_audio_content", description: "Answers an audio clip.", inputSchema: noArguments },
  { name: "test_embedded_resource", description: "Answers an embedded resource.", inputSchema: noArguments },
  {
    name: "test_multiple_content_types",
    description: "Answers text, an image and a resource.",
    inputSchema: noArguments
  },
  { name: "test_tool_with_logging", description: "Logs three messages as it runs.", inputSchema: noArguments },
  { name: "test_error_handling", description: "Always fails.", inputSchema: noArguments },
  {
    name: "test_reconnection",
    description: "Ends its call's stream before it answers (SSE polling).",
    inputSchema: noArguments
  },
  { name: "test_tool_with_progress", description: "Reports its progress.", inputSchema: noArguments },
  {
    name: "test_sampling",
    description: "Asks the client's model.",
    inputSchema: { type: "object", properties: { prompt: { type: "string" } }, required: ["prompt"] }
  },
  {
    name: "test_elicitation",
    description: "Asks the client's user.",
    inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] }
  },
  {
    name: "test_elicitation_sep1034_defaults",
    description: "Asks the client's user, with defaults.",
    inputSchema: noArguments
  },
  {
    name: "test_elicitation_sep1330_enums",
    description: "Asks the client's user to choose.",
    inputSchema: noArguments
  },
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: {
        address: {
          $anchor: "addressDef",
          type: "object",
          properties: { street: { type: "string" }, city: { type: "string" } }
        }
      },
      properties: {
        name: { type: "string" },
        address: { $ref: "#/$defs/address" },
        contactMethod: { type: "string", enum: ["phone", "email"] },
        phone: { type: "string" },
        email: { type: "string" }
      },
      allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
      if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
      then: { required: ["phone"] },
      else: { required: ["email"] },
      additionalProperties: false
    }
  },
  // The 2026-07-28 scenarios' diagnostic tools: one that samples whatever its client declared, one that elicits on
  // the call's stream, one that logs, one whose argument is mirrored in an `Mcp-Param-Region` header, and two that
  // change the tools and the prompts listed (for `subscriptions/listen` to be told).
  {
    name: "test_missing_capability",
    description: "Asks the client's model, declared or not.",
    inputSchema: noArguments
  },
  { name: "test_streaming_elicitation", description: "Asks the client's user as it runs.", inputSchema: noArguments },
  { name: "test_logging_tool", description: "Logs three messages as it runs.", inputSchema: noArguments },
  {
    name: "test_header_parameter",
    description: "Answers the region it is given, which its client sends in a header too.",
    inputSchema: {
      type: "object",
      properties: { region: { type: "string", "x-mcp-header": "Region" } },
      required: ["region"]
    }
  },
  { name: "test_trigger_tool_change", description: "Adds or removes test_dynamic_tool.", inputSchema: noArguments },
  {
    name: "test_trigger_prompt_change",
    description: "Adds or removes test_dynamic_prompt.",
    inputSchema: noArguments
  }
]

const dynamicTool: Tool = {
  name: "test_dynamic_tool",
  description: "Listed while test_trigger_tool_change has added it.",
  inputSchema: noArguments
}

// What the trigger tools have added, for every session of the process.
const added = { tool: false, prompt: false }

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const text = (value: string): CallToolResult => ({ content: [{ type: "text", text: value }] })

/** What a tool's answer may use of its request: its progress token, and its means on the call's own stream. */
interface Request {
  readonly progressToken: string | number | undefined
  /** Logs and reports progress on the call's stream. */
  readonly notify: (notification: {
    method: "notifications/progress" | "notifications/message"
    params: Record<string, unknown>
  }) => Promise<void>
  /** The call's request id, which a request of the server about the call names (sent on the call's stream). */
  readonly related: string | number
  /** Ends the call's stream before its answer, which its client then resumes (HTTP with an event store only). */
  readonly closeStream: (() => void) | undefined
}

// The answer of each tool to `request`.
async function call(
  server: Server,
  name: string,
  args: Readonly<Record<string, unknown>>,
  { closeStream, notify, progressToken, related }: Request
): Promise<CallToolResult> {
  switch (name) {
    case "test_simple_text":
      return text("This is a simple text response for testing.")
    case "test_image_content":
      return { content: [{ type: "image", data: redPixelPng, mimeType: "image/png" }] }
    case "test_audio_content":
      return { content: [{ type: "audio", data: silentWav, mimeType: "audio/wav" }] }
    case "test_embedded_resource":
      return {
        content: [{
          type: "resource",
          resource: {
            uri: "test://embedded-resource",
            mimeType: "text/plain",
            text: "This is an embedded resource content."
          }
        }]
      }
    case "test_multiple_content_types":
      return {
        content: [
          { type: "text", text: "Multiple content types test:" },
          { type: "image", data: redPixelPng, mimeType: "image/png" },
          {
            type: "resource",
            resource: {
              uri: "test://mixed-content-resource",
              mimeType: "application/json",
              text: JSON.stringify({ test: "data", value: 123 })
            }
          }
        ]
      }
    case "test_tool_with_logging":
    case "test_logging_tool":
      for (
        const [index, message] of ["Tool execution started", "Tool processing data", "Tool execution completed"]
          .entries()
      ) {
        if (index > 0) await sleep(50)
        // On the call's own response stream, as a log of the call is sent (the gateway relays those).
        await notify({ method: "notifications/message", params: { level: "info", data: message } })
      }
      return text("Tool with logging executed successfully")
    case "test_error_handling":
      return {
        isError: true,
        content: [{ type: "text", text: "This tool intentionally returns an error for testing" }]
      }
    case "test_tool_with_progress":
      for (const [index, progress] of [0, 50, 100].entries()) {
        if (index > 0) await sleep(50)
        if (progressToken !== undefined) {
          await notify({ method: "notifications/progress", params: { progressToken, progress, total: 100 } })
        }
      }
      return text("Tool with progress executed successfully")
    case "test_sampling":
    case "test_missing_capability": {
      // As the scenario asks: a client without the capability is answered with an error, not asked; the diagnostic
      // tool asks regardless, for a server (the gateway) that knows what its client declared to refuse it.
      if (name === "test_sampling" && server.getClientCapabilities()?.sampling === undefined) {
        return { isError: true, content: [{ type: "text", text: "The client does not support sampling." }] }
      }
      const reply = await server.request(
        {
          method: "sampling/createMessage",
          params: {
            messages: [{ role: "user", content: { type: "text", text: String(args["prompt"]) } }],
            maxTokens: 100
          }
        },
        CreateMessageResultSchema,
        { relatedRequestId: related }
      )
      const content = reply.content as { readonly type: string; readonly text?: string }
      return text(`LLM response: ${content.type === "text" ? content.text : JSON.stringify(content)}`)
    }
    case "test_elicitation":
    case "test_elicitation_sep1034_defaults":
    case "test_elicitation_sep1330_enums":
    case "test_streaming_elicitation": {
      const requestedSchema = name === "test_elicitation" || name === "test_streaming_elicitation"
        ? {
          type: "object" as const,
          properties: {
            username: { type: "string" as const, description: "User's response" },
            email: { type: "string" as const, description: "User's email address" }
          },
          required: ["username", "email"]
        }
        : name === "test_elicitation_sep1034_defaults"
        ? elicitationDefaults
        : elicitationEnums
      if (server.getClientCapabilities()?.elicitation === undefined) {
        return { isError: true, content: [{ type: "text", text: "The client does not support elicitation." }] }
      }
      const message = name === "test_elicitation" ? String(args["message"]) : "Please answer."
      // A request its client refuses (as the gateway refuses one for a client that cannot be asked) fails the call as
      // a tool's error, not the request.
      const reply = await server.request(
        {
          method: "elicitation/create",
          params: { message, requestedSchema } as never
        },
        ElicitResultSchema,
        { relatedRequestId: related }
      ).catch((error: unknown) => error instanceof Error ? error : new Error(String(error)))
      if (reply instanceof Error) {
        return { isError: true, content: [{ type: "text", text: `The client did not answer: ${reply.message}` }] }
      }
      const prefix = name === "test_elicitation" ? "User response: " : "Elicitation completed: "
      return text(`${prefix}action=${reply.action}, content=${JSON.stringify(reply.content ?? {})}`)
    }
    case "test_reconnection":
      // As the suite's reference server: the call's stream ended after its priming event, the answer sent a moment
      // later, which its client reads on the stream it resumes (a GET with Last-Event-ID), or on the stream it
      // already resumed.
      closeStream?.()
      await sleep(100)
      return text("Reconnection test completed successfully")
    case "json_schema_2020_12_tool":
      return text(`received ${JSON.stringify(args)}`)
    case "test_header_parameter":
      return text(`region ${String(args["region"])}`)
    case "test_trigger_tool_change":
      added.tool = !added.tool
      await server.sendToolListChanged()
      return text("The tools changed.")
    case "test_trigger_prompt_change":
      added.prompt = !added.prompt
      await server.sendPromptListChanged()
      return text("The prompts changed.")
    case "test_dynamic_tool":
      return text("This tool comes and goes.")
    default:
      return { isError: true, content: [{ type: "text", text: `no tool ${name}` }] }
  }
}

const staticResources = [
  { uri: "test://static-text", name: "static-text", description: "A static text.", mimeType: "text/plain" },
  { uri: "test://static-binary", name: "static-binary", description: "A static image.", mimeType: "image/png" },
  {
    uri: "test://watched-resource",
    name: "watched",
    description: "A resource to subscribe to.",
    mimeType: "text/plain"
  }
]

const template = /^test:\/\/template\/([^/]+)\/data$/

// The contents of the resource at `uri`.
function read(uri: string) {
  if (uri === "test://static-text") {
    return [{ uri, mimeType: "text/plain", text: "This is the content of the static text resource." }]
  }
  if (uri === "test://static-binary") return [{ uri, mimeType: "image/png", blob: redPixelPng }]
  if (uri === "test://watched-resource") return [{ uri, mimeType: "text/plain", text: "watched" }]
  const id = template.exec(uri)?.[1]
  if (id !== undefined) {
    return [{
      uri,
      mimeType: "application/json",
      text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` })
    }]
  }
  throw new Error(`no resource ${uri}`)
}

const dynamicPrompt = {
  name: "test_dynamic_prompt",
  description: "Listed while test_trigger_prompt_change has added it."
}

const prompts = [
  { name: "test_simple_prompt", description: "A simple prompt." },
  {
    name: "test_prompt_with_arguments",
    description: "A prompt with two arguments.",
    arguments: [
      { name: "arg1", description: "First test argument", required: true },
      { name: "arg2", description: "Second test argument", required: true }
    ]
  },
  {
    name: "test_prompt_with_embedded_resource",
    description: "A prompt embedding a resource.",
    arguments: [{ name: "resourceUri", description: "URI of the resource to embed", required: true }]
  },
  { name: "test_prompt_with_image", description: "A prompt with an image." }
]

// The messages of the prompt `name` with `args`.
function prompt(name: string, args: Readonly<Record<string, string>>) {
  switch (name) {
    case "test_simple_prompt":
      return [{
        role: "user" as const,
        content: { type: "text" as const, text: "This is a simple prompt for testing." }
      }]
    case "test_prompt_with_arguments":
      return [{
        role: "user" as const,
        content: {
          type: "text" as const,
          text: `Prompt with arguments: arg1='${args["arg1"]}', arg2='${args["arg2"]}'`
        }
      }]
    case "test_prompt_with_embedded_resource":
      return [
        {
          role: "user" as const,
          content: {
            type: "resource" as const,
            resource: {
              uri: args["resourceUri"] ?? "test://embedded",
              mimeType: "text/plain",
              text: "Embedded resource content for testing."
            }
          }
        },
        {
          role: "user" as const,
          content: { type: "text" as const, text: "Please process the embedded resource above." }
        }
      ]
    case "test_prompt_with_image":
      return [
        { role: "user" as const, content: { type: "image" as const, data: redPixelPng, mimeType: "image/png" } },
        { role: "user" as const, content: { type: "text" as const, text: "Please analyze the image above." } }
      ]
    case "test_dynamic_prompt":
      return [{ role: "user" as const, content: { type: "text" as const, text: "This prompt comes and goes." } }]
    default:
      throw new Error(`no prompt ${name}`)
  }
}

/** A `Server` with every handler the scenarios ask for, for one session (or one stdio process). */
export function conformanceServer(): Server {
  const server = new Server({ name: "conformance-fixture", version: "1.0.0" }, {
    capabilities: {
      tools: {},
      resources: { subscribe: true },
      prompts: {},
      logging: {},
      completions: {}
    }
  })
  server.setRequestHandler(
    ListToolsRequestSchema,
    () => ({ tools: [...conformanceTools, ...(added.tool ? [dynamicTool] : [])] })
  )
  server.setRequestHandler(
    CallToolRequestSchema,
    (request, extra) =>
      call(server, request.params.name, request.params.arguments ?? {}, {
        progressToken: request.params._meta?.progressToken,
        notify: (notification) => extra.sendNotification(notification as never),
        related: extra.requestId,
        closeStream: extra.closeSSEStream
      })
  )
  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: staticResources }))
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [{
      uriTemplate: "test://template/{id}/data",
      name: "template",
      description: "Data by id.",
      mimeType: "application/json"
    }]
  }))
  server.setRequestHandler(ReadResourceRequestSchema, (request) => ({ contents: read(request.params.uri) }))
  server.setRequestHandler(SubscribeRequestSchema, () => ({}))
  server.setRequestHandler(UnsubscribeRequestSchema, () => ({}))
  server.setRequestHandler(
    ListPromptsRequestSchema,
    () => ({ prompts: [...prompts, ...(added.prompt ? [dynamicPrompt] : [])] })
  )
  server.setRequestHandler(
    GetPromptRequestSchema,
    (request) => ({ messages: prompt(request.params.name, request.params.arguments ?? {}) })
  )
  server.setRequestHandler(CompleteRequestSchema, (request) => ({
    completion: {
      values: ["paris", "park", "party"].filter((value) => value.startsWith(request.params.argument.value)),
      hasMore: false
    }
  }))
  return server
}

/** How long the fixture tells a client to wait before it resumes a stream (its events' `retry`). */
export const retryMillis = 500

// The events of one session's streams, kept for a client that resumes one (`Last-Event-ID`), as the suite's reference
// server keeps them: each id names its stream and its place in the session's order.
function eventStore(): EventStore {
  const events: Array<{ readonly id: string; readonly stream: string; readonly message: JSONRPCMessage }> = []
  return {
    storeEvent: (stream, message) => {
      const id = `${stream}::${String(events.length).padStart(8, "0")}`
      events.push({ id, stream, message })
      return Promise.resolve(id)
    },
    replayEventsAfter: async (lastEventId, { send }) => {
      const stream = lastEventId.split("::")[0]!
      for (const event of events) {
        // The priming event (no message) is not sent again.
        if (event.stream === stream && event.id > lastEventId && Object.keys(event.message).length > 0) {
          await send(event.id, event.message)
        }
      }
      return stream
    }
  }
}

/**
 * The fixture on a loopback port for the scope's life, sessionful (so a tool knows the capabilities its client
 * declared) and resumable, as the suite's reference server is: a `Server`, a transport and an event store for each
 * session, each stream primed with an event id and `retryMillis`. Its URL, and the name of the client (its
 * `clientInfo`) of each resumption it was asked (a `GET` with `Last-Event-ID`), in order.
 */
export const conformanceUpstream = Effect.acquireRelease(
  Effect.promise(() => {
    const sessions = new Map<string, { readonly transport: StreamableHTTPServerTransport; readonly server: Server }>()
    const resumedBy: Array<string | undefined> = []
    const http = Http.createServer((request, response) => {
      const id = request.headers["mcp-session-id"]
      const known = typeof id === "string" ? sessions.get(id) : undefined
      if (known !== undefined) {
        if (request.method === "GET" && request.headers["last-event-id"] !== undefined) {
          resumedBy.push(known.server.getClientVersion()?.name)
        }
        return void known.transport.handleRequest(request, response)
      }
      const { port } = http.address() as AddressInfo
      const server = conformanceServer()
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (session) => void sessions.set(session, { transport, server }),
        enableDnsRebindingProtection: true,
        allowedHosts: [`127.0.0.1:${port}`, `localhost:${port}`],
        eventStore: eventStore(),
        retryInterval: retryMillis
      })
      void server.connect(transport).then(() => transport.handleRequest(request, response))
    })
    return new Promise<{ readonly http: Http.Server; readonly resumedBy: ReadonlyArray<string | undefined> }>(
      (resolve) => http.listen(0, "127.0.0.1", () => resolve({ http, resumedBy }))
    )
  }),
  ({ http }) =>
    Effect.promise(() =>
      new Promise<void>((resolve) => {
        http.closeAllConnections()
        http.close(() => resolve())
      })
    )
).pipe(Effect.map(({ http, resumedBy }) => ({
  url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
  resumedBy
})))

/** The same fixture over stdio (`test/fixtures/mcp/conformanceServer.ts`), as a `command` server of provider.json. */
export const conformanceStdioServer = {
  command: process.execPath,
  args: ["--import", "tsx", fileURLToPath(new URL("../fixtures/mcp/conformanceServer.ts", import.meta.url))]
}
