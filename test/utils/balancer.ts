/**
 * A balancer on loopback in front of several gateway instances, as an operator puts one: each request goes to the
 * next target in turn, or to the one a test names (`to`), its `Host` set to the target's, as a proxy does.
 */
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** A running balancer: its URL, how many requests naming an MCP session each target was sent, and where it sends. */
export interface Balancer {
  readonly url: string
  readonly sessionRequests: Array<number>
  /** Sends every request to the target of this index from now on; `undefined` (the start): each to the next in turn. */
  readonly to: (target: number | undefined) => void
}

/**
 * `request` sent on to `target` (its `Host` set to the target's), its answer to `response`: the request to write the
 * body to. A connection that breaks either way breaks the client's.
 */
export function forward(target: URL, request: Http.IncomingMessage, response: Http.ServerResponse): Http.ClientRequest {
  const forwarded = Http.request({
    host: target.hostname,
    port: target.port,
    method: request.method,
    path: request.url,
    headers: { ...request.headers, host: target.host }
  }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(response)
    answer.on("error", () => response.destroy())
  })
  forwarded.on("error", () => response.destroy())
  return forwarded
}

/** A balancer over `targets` (their URLs), for the scope's life. */
export const balancer = (targets: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const sessionRequests = targets.map(() => 0)
      let next = 0
      let fixed: number | undefined
      const http = Http.createServer((request, response) => {
        const index = fixed ?? next++ % targets.length
        if (request.headers["mcp-session-id"] !== undefined) sessionRequests[index]! += 1
        request.pipe(forward(new URL(targets[index]!), request, response))
      })
      const to = (target: number | undefined) => {
        fixed = target
      }
      return new Promise<{ readonly http: Http.Server; readonly balanced: Omit<Balancer, "url"> }>((resolve) =>
        http.listen(0, "127.0.0.1", () => resolve({ http, balanced: { sessionRequests, to } }))
      )
    }),
    ({ http }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          http.closeAllConnections()
          http.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ balanced, http }): Balancer => ({
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    ...balanced
  })))
