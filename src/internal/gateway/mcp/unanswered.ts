/**
 * A call at `/mcp` of a tool of a server that has not answered since the gateway started (down, or slower to start
 * than the start waits: `Upstreams.connectTimeout`): its tools are not registered yet, so `McpServer` would answer
 * "Tool not found", which reads as a tool that does not exist (docs/mcp.md). The caller whose rule allows the name is
 * told instead that the server has not answered yet, under the same JSON-RPC code (-32602), so that it can try again;
 * one it does not allow is left to `McpServer`'s answer, which tells it nothing of the server.
 */
import * as McpSchema from "effect/ai/McpSchema"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { isJsonObject, parseJsonObject } from "../../json.js"
import type * as Allow from "../access/tools.js"
import { separator } from "../access/tools.js"
import { isRequestId } from "./serverRequests.js"

/** A call of a tool of a server not answered yet: its request's id, the server and the qualified name called. */
export interface Unanswered {
  readonly id: string | number
  readonly server: string
  readonly name: string
}

/**
 * The call `text` (a JSON-RPC request at `/mcp`) makes of a tool of one of `waiting` (servers not answered since the
 * start) that `rule` allows, if it is one.
 */
export function callOf(
  text: string,
  waiting: ReadonlyArray<string>,
  rule: Allow.Rule
): Unanswered | undefined {
  const message = parseJsonObject(text)
  const id = message?.["id"]
  const params = message?.["params"]
  if (message?.["method"] !== "tools/call" || !isRequestId(id) || !isJsonObject(params)) return undefined
  const name = params["name"]
  if (typeof name !== "string" || !rule(name)) return undefined
  const server = waiting.find((server) => name.startsWith(server + separator))
  return server === undefined ? undefined : { id, server, name }
}

/** The answer to `call`: the server has not answered yet, its tools served once it does. */
export function answer(call: Unanswered): HttpServerResponse.HttpServerResponse {
  return HttpServerResponse.jsonUnsafe({
    jsonrpc: "2.0",
    id: call.id,
    error: {
      code: McpSchema.INVALID_PARAMS_ERROR_CODE,
      message: `Tool '${call.name}' is of the MCP server ${call.server}, which has not answered since the gateway ` +
        "started; its tools are served once it answers: try again shortly"
    }
  })
}
