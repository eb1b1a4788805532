/**
 * Requests the gateway sends an upstream on its `McpClient`'s own transport, for what `McpClient` does not send: a
 * `tools/call` carrying `_meta` (the caller's trace, `trace.ts`) and `resources/templates/list`. Each goes through the
 * transport as `McpClient`'s do, so that an interrupted one is cancelled upstream, with an id of the gateway's own
 * (`gateway-<n>`, never one of `McpClient`'s numbers).
 */
import type * as McpClient from "effect/ai/McpClient"
import * as McpClientError from "effect/ai/McpClientError"
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

let nextId = 1

function protocolError(description: string, extra?: { readonly code: number; readonly data: unknown }) {
  return new McpClientError.McpClientError({ reason: new McpClientError.ProtocolError({ description, ...extra }) })
}

/** `method` with `params` sent on `transport` (`tool`, for a call), its result decoded with `schema`. */
export const request = Effect.fnUntraced(function*<S extends Schema.Top & { readonly DecodingServices: never }>(
  transport: McpClient.Transport,
  method: string,
  params: Readonly<Record<string, unknown>>,
  schema: S,
  tool?: McpSchema.Tool
) {
  const response = yield* transport.request({ jsonrpc: "2.0", id: `gateway-${nextId++}`, method, params }, tool)
  if ("error" in response) {
    const { code, data, message } = response.error
    return yield* protocolError(message, { code, data })
  }
  // Decoded in the step that reads it: the result's schemas are synchronous.
  const decoded = Schema.decodeUnknownResult(schema)(response.result)
  if (Result.isFailure(decoded)) {
    return yield* protocolError(`The result of ${method} does not decode: ${decoded.failure.message}`)
  }
  return decoded.success
})

/** The `_meta` key of a 2026-07-28 request under which its client's capabilities go. */
export const capabilitiesMeta = "io.modelcontextprotocol/clientCapabilities"

// The params of an input request, as its method has them.
const InputParams = Schema.Record(Schema.String, Schema.Unknown)

// A multi round-trip result of a 2026-07-28 server (its `resultType` says so): the input requests its client is to
// answer, by their keys, and the state it is to send back.
const InputRequiredResult = Schema.Struct({
  resultType: Schema.Literal("input_required"),
  inputRequests: Schema.optional(Schema.Record(
    Schema.String,
    Schema.Union([
      Schema.Struct({ method: Schema.Literal("roots/list"), params: Schema.optional(InputParams) }),
      Schema.Struct({ method: Schema.Literals(["sampling/createMessage", "elicitation/create"]), params: InputParams })
    ])
  )),
  requestState: Schema.optional(Schema.String)
})

/** A tool call's result as its server gives it: complete, or (a 2026-07-28 server's) a multi round-trip result. */
export const CallResult = Schema.Union([InputRequiredResult, McpSchema.CallToolResult])

// Whether `result` is a multi round-trip result (a complete one may carry `resultType: "complete"`).
const isInputRequired = (result: typeof CallResult.Type): result is typeof InputRequiredResult.Type =>
  "resultType" in result && result.resultType === "input_required"

/**
 * A call's `result` (`CallResult`'s) as `McpServer` answers one: a multi round-trip result as `InputRequired`, which
 * holds an input request or a state (one with neither is no result the revision defines).
 */
export function callOutcome(
  result: typeof CallResult.Type
): Effect.Effect<McpSchema.CallToolResult | McpSchema.InputRequired, McpClientError.McpClientError> {
  if (!isInputRequired(result)) return Effect.succeed(result)
  const { inputRequests, requestState } = result
  if (inputRequests !== undefined) return Effect.succeed(new McpSchema.InputRequired({ inputRequests, requestState }))
  if (requestState !== undefined) return Effect.succeed(new McpSchema.InputRequired({ requestState }))
  return Effect.fail(
    protocolError("The result of tools/call asks for input with neither inputRequests nor requestState")
  )
}

/** Whether `error` is a server's answer that it has no such method (`-32601`). */
export function isMethodNotFound(error: McpClientError.McpClientError): boolean {
  return error.reason._tag === "ProtocolError" && error.reason.code === McpSchema.METHOD_NOT_FOUND_ERROR_CODE
}

/** An upstream's failure to answer, as the gateway's error to the client: the server named, never its address. */
export function failed(server: string, error: { readonly message: string }) {
  return new McpSchema.InternalError({ message: `The MCP server \`${server}\` failed this request: ${error.message}` })
}

/**
 * What a request of the 2026-07-28 revision carries in its `_meta`, as `McpClient`'s own requests do: the revision,
 * the client's identity and its capabilities (none: a call declares its client's in their place, `upstream.ts`);
 * nothing in 2025-11-25, whose session holds them.
 */
export function revisionMeta(
  protocol: "2025-11-25" | "2026-07-28",
  client: { readonly name: string; readonly version: string }
): Readonly<Record<string, unknown>> {
  return protocol === "2026-07-28"
    ? {
      "io.modelcontextprotocol/protocolVersion": protocol,
      "io.modelcontextprotocol/clientInfo": client,
      [capabilitiesMeta]: {}
    }
    : {}
}

/** `meta` as a request's `_meta`, when it has anything. */
export function withMeta(meta: Readonly<Record<string, unknown>>) {
  return Object.keys(meta).length === 0 ? {} : { _meta: meta }
}

// As `McpClient`'s own lists: at most this many pages.
const maxPages = 100

/** Every resource template of the server on `transport`; none from a server without the method. */
export const listTemplates = Effect.fnUntraced(function*(
  transport: McpClient.Transport,
  meta: Readonly<Record<string, unknown>>
) {
  const templates: Array<McpSchema.ResourceTemplate> = []
  let cursor: string | undefined
  for (let page = 0; page < maxPages; page++) {
    const result = yield* request(
      transport,
      "resources/templates/list",
      { ...(cursor === undefined ? {} : { cursor }), ...withMeta(meta) },
      McpSchema.ListResourceTemplatesResult
    )
    templates.push(...result.resourceTemplates)
    cursor = result.nextCursor
    if (cursor === undefined) return templates
  }
  return yield* protocolError(`The list of resource templates ran past ${maxPages} pages`)
}, Effect.catchIf(isMethodNotFound, () => Effect.succeed([])))
