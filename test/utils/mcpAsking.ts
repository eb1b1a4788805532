/**
 * The server-requests tests' upstream tool, `ask`, on the official SDK's `Server` (over HTTP in
 * `test/e2e/GatewayMcpServerRequests.test.ts`, over stdio in `test/fixtures/mcp/askingServer.ts`): it sends the request
 * `kind` names during the call, then says back what it was answered (or the error). With `standalone` it asks its
 * roots outside the call's stream (HTTP's standalone stream); with `detached` it asks them after the call has
 * answered, when no call is running, and `report` says back what that request was answered. With `progress` it asks
 * for progress of its request and says back the progress it was sent too (`{ answer, isError, progress }`); with
 * `cancelAfter` it cancels its request after that many milliseconds (its `AbortSignal`). With `hold` it asks nothing
 * and answers after that many milliseconds, or once its call is cancelled (counted); `held` says back how many were.
 */
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListRootsResultSchema,
  ListToolsRequestSchema
} from "@modelcontextprotocol/sdk/types.js"

/** What `ask` asks its client. */
export type Kind = "sampling" | "elicitation" | "roots"

interface Arguments {
  readonly kind: Kind
  readonly text: string
  readonly standalone?: boolean
  readonly detached?: boolean
  readonly report?: boolean
  readonly progress?: boolean
  readonly cancelAfter?: number
  readonly hold?: number
  readonly held?: boolean
}

// The answer of a request, or its error's code and message.
const outcome = (asked: Promise<unknown>) =>
  asked.then(
    (answer) => ({ answer, isError: false }),
    (error: { code: number; message: string }) => ({
      answer: { code: error.code, message: error.message },
      isError: true
    })
  )

/** `server` with the tool `ask`. */
export function asking(server: Server) {
  let detachedOutcome: Promise<{ answer: unknown; isError: boolean }> | undefined
  let cancelled = 0
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [{
      name: "ask",
      description: "Asks its client.",
      inputSchema: {
        type: "object",
        properties: {
          kind: { type: "string" },
          text: { type: "string" },
          standalone: { type: "boolean" },
          detached: { type: "boolean" },
          report: { type: "boolean" },
          progress: { type: "boolean" },
          cancelAfter: { type: "number" },
          hold: { type: "number" },
          held: { type: "boolean" }
        }
      }
    }]
  }))
  server.setRequestHandler(CallToolRequestSchema, async (call, extra) => {
    const { cancelAfter, detached, held, hold, kind, progress, report, standalone, text } = call.params
      .arguments as unknown as Arguments
    if (held === true) return { content: [{ type: "text", text: JSON.stringify({ cancelled }) }] }
    if (hold !== undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, hold)
        extra.signal.addEventListener("abort", () => {
          cancelled += 1
          clearTimeout(timer)
          resolve()
        })
      })
      return { content: [{ type: "text", text: "{}" }] }
    }
    const seen: Array<{ progress: number; total?: number | undefined; message?: string | undefined }> = []
    const options = {
      ...(progress === true ? { onprogress: (one: (typeof seen)[number]) => void seen.push(one) } : {}),
      ...(cancelAfter === undefined ? {} : { signal: AbortSignal.timeout(cancelAfter) })
    }
    if (detached === true) {
      detachedOutcome = new Promise((resolve) => setTimeout(resolve, 200)).then(() =>
        outcome(server.listRoots(undefined, { timeout: 5000 }))
      )
      return { content: [{ type: "text", text: "{}" }] }
    }
    const { answer, isError } = report === true && detachedOutcome !== undefined
      ? await detachedOutcome
      : await outcome(
        standalone === true
          ? server.listRoots(undefined, { timeout: 5000 })
          : kind === "sampling"
          ? extra.sendRequest(
            {
              method: "sampling/createMessage",
              params: { messages: [{ role: "user", content: { type: "text", text } }], maxTokens: 10 }
            },
            CreateMessageResultSchema,
            options
          )
          : kind === "elicitation"
          ? extra.sendRequest(
            {
              method: "elicitation/create",
              params: { message: text, requestedSchema: { type: "object", properties: { name: { type: "string" } } } }
            },
            ElicitResultSchema,
            options
          )
          : extra.sendRequest({ method: "roots/list", params: {} }, ListRootsResultSchema, options)
      )
    const said = progress === true ? { answer, isError, progress: seen } : answer
    return { content: [{ type: "text", text: JSON.stringify(said) }], ...(isError ? { isError } : {}) }
  })
}
