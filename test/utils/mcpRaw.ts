/**
 * One JSON-RPC message posted to an MCP endpoint as a client of any revision would post it, without an SDK (which
 * speaks only its own revisions): its status, the session the answer names and the answer, read from JSON or from the
 * SSE stream's one event.
 */
import * as Effect from "effect/Effect"

/** What an MCP endpoint answered one message. */
export interface Answered {
  readonly status: number
  readonly session: string | null
  readonly body?: {
    readonly result?: {
      readonly protocolVersion?: string
      readonly tools?: ReadonlyArray<{ readonly name: string }>
    }
  }
}

/** Posts `message` (a JSON-RPC message without its `jsonrpc`) to `url` with `key` as a Bearer token and `headers`. */
export const mcpPost = (url: string, key: string | undefined, headers: Record<string, string>, message: object) =>
  Effect.promise(async (): Promise<Answered> => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
        ...headers
      },
      body: JSON.stringify({ jsonrpc: "2.0", ...message })
    })
    const text = await response.text()
    const data = text.split("\n").find((line) => line.startsWith("data: "))
    const status = response.status
    const session = response.headers.get("mcp-session-id")
    return text === "" ? { status, session } : { status, session, body: JSON.parse(data?.slice(6) ?? text) }
  })

/** Starts a session of revision `offered` at `url` (its `initialize` and `notifications/initialized`). */
export const initialized = (url: string, key: string | undefined, offered: string) =>
  Effect.gen(function*() {
    const started = yield* mcpPost(url, key, {}, {
      id: 1,
      method: "initialize",
      params: { protocolVersion: offered, capabilities: {}, clientInfo: { name: "raw", version: "1" } }
    })
    const revision = started.body?.result?.protocolVersion
    const headers: Record<string, string> = started.session === null || revision === undefined
      ? {}
      : { "mcp-session-id": started.session, "mcp-protocol-version": revision }
    const notified = yield* mcpPost(url, key, headers, { method: "notifications/initialized" })
    return { started, notified, headers }
  })

/**
 * The first `count` events of a session's standalone stream (the `GET` of `url` with the session's `headers`), sent
 * `lastEventId` as `Last-Event-ID` when given one, each as its lines; the stream is closed once they are read.
 */
export const standaloneEvents = (
  url: string,
  key: string | undefined,
  headers: Record<string, string>,
  count: number,
  lastEventId?: string
) =>
  Effect.promise(async (): Promise<ReadonlyArray<string>> => {
    const stop = new AbortController()
    const response = await fetch(url, {
      headers: {
        accept: "text/event-stream",
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
        ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }),
        ...headers
      },
      signal: stop.signal
    })
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ""
    while (text.split("\n\n").length <= count) {
      const { done, value } = await reader.read()
      if (done) break
      text += value
    }
    stop.abort()
    return text.split("\n\n").slice(0, count)
  })
