/**
 * An HTTP server's standalone stream (Streamable HTTP, 2025-11-25): the `GET` on which the server sends what concerns
 * no request (a list changed, a log). `effect/ai`'s `McpClient` opens none, so the gateway does for each connection,
 * with its HTTP client (headers, token, `relay.ts`'s tap) and session. It is opened again `reopenAfter` after the
 * server ends it; not when the server offers none (405, or no session), forgot the session (404: the next request
 * finds that) or cannot be reached (the supervisor's).
 */
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Stream from "effect/Stream"

/** How long after the server ended the stream it is opened again. */
export const reopenAfter = "1 second"

/** The session a server gave a connection (its `Mcp-Session-Id`), once it gave one. */
export interface Session {
  id: string | undefined
}

/**
 * `http`, the session its server gives (on any response) remembered in `session`, as the response passes (a map: no
 * effect of its own run for each response, as `HttpClient.tap` would).
 */
export function remembering(http: HttpClient.HttpClient, session: Session): HttpClient.HttpClient {
  return HttpClient.transformResponse(
    http,
    Effect.map((response) => {
      const id = response.headers["mcp-session-id"]
      if (id !== undefined) session.id = id
      return response
    })
  )
}

/** What opens a connection's standalone stream. */
export interface Standalone {
  readonly http: HttpClient.HttpClient
  readonly url: string
  /** The entry's headers and the revision's (`Mcp-Protocol-Version`). */
  readonly headers: Readonly<Record<string, string>>
  readonly session: Session
}

// One opening of the stream, read to its end: whether it was open (200), else its status or why it failed.
function once(stream: Standalone, session: string) {
  const request = HttpClientRequest.get(stream.url).pipe(
    HttpClientRequest.setHeaders({ ...stream.headers, accept: "text/event-stream", "mcp-session-id": session })
  )
  return Effect.scoped(
    Effect.flatMap(stream.http.execute(request), (response) =>
      response.status === 200
        ? Effect.as(Stream.runDrain(response.stream), "open" as const)
        : Effect.succeed(`answered ${response.status}`))
  ).pipe(Effect.catch((error) => Effect.succeed(error.message)))
}

/**
 * The standalone stream of `stream`'s connection, read (by the tap of its HTTP client) until the server offers it no
 * more; nothing for a connection without a session.
 */
export const listen = Effect.fnUntraced(function*(stream: Standalone) {
  const session = stream.session.id
  if (session === undefined) return
  while (true) {
    const ended = yield* once(stream, session)
    if (ended !== "open") return yield* Effect.logDebug(`Gateway: an MCP server's standalone stream closed (${ended})`)
    yield* Effect.sleep(reopenAfter)
  }
})
