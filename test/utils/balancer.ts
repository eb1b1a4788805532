/**
 * A balancer on loopback in front of several gateway instances, as an operator puts one: each request (and each
 * WebSocket upgrade, the socket then staying on its target) goes to the next target in turn, or to the one a test names
 * (`to`), its `Host` set to the target's, as a proxy does.
 */
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import * as Net from "node:net"
import type { AddressInfo } from "node:net"
import type { Duplex } from "node:stream"

/**
 * A running balancer: its URL, how many requests (upgrades among them) and how many naming an MCP session each target
 * was sent, and where it sends.
 */
export interface Balancer {
  readonly url: string
  readonly requests: Array<number>
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

/**
 * An upgrade `request` (its socket `client`, the bytes read past its head `head`) sent on to `target` as it came, its
 * `Host` set to the target's, and the two sockets joined whatever the answer; the upstream socket returned.
 */
export function tunnel(target: URL, request: Http.IncomingMessage, client: Duplex, head: Buffer): Net.Socket {
  const upstream = Net.connect(Number(target.port), target.hostname, () => {
    const lines = [`${request.method} ${request.url} HTTP/1.1`]
    for (let at = 0; at < request.rawHeaders.length; at += 2) {
      const name = request.rawHeaders[at]!
      lines.push(`${name}: ${name.toLowerCase() === "host" ? target.host : request.rawHeaders[at + 1]}`)
    }
    upstream.write(`${lines.join("\r\n")}\r\n\r\n`)
    upstream.write(head)
    client.pipe(upstream).pipe(client)
  })
  upstream.on("error", () => client.destroy())
  upstream.on("close", () => client.destroy())
  client.on("error", () => upstream.destroy())
  client.on("close", () => upstream.destroy())
  return upstream
}

/** A balancer over `targets` (their URLs), for the scope's life. */
export const balancer = (targets: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const requests = targets.map(() => 0)
      const sessionRequests = targets.map(() => 0)
      const tunnels = new Set<Net.Socket>()
      let next = 0
      let fixed: number | undefined
      const pick = () => {
        const index = fixed ?? next++ % targets.length
        requests[index]! += 1
        return index
      }
      const http = Http.createServer((request, response) => {
        const index = pick()
        if (request.headers["mcp-session-id"] !== undefined) sessionRequests[index]! += 1
        request.pipe(forward(new URL(targets[index]!), request, response))
      })
      http.on("upgrade", (request: Http.IncomingMessage, client: Duplex, head: Buffer) => {
        const upstream = tunnel(new URL(targets[pick()]!), request, client, head)
        tunnels.add(upstream)
        upstream.on("close", () => tunnels.delete(upstream))
      })
      const to = (target: number | undefined) => {
        fixed = target
      }
      return new Promise<
        { readonly http: Http.Server; readonly tunnels: Set<Net.Socket>; readonly balanced: Omit<Balancer, "url"> }
      >((resolve) =>
        http.listen(0, "127.0.0.1", () => resolve({ http, tunnels, balanced: { requests, sessionRequests, to } }))
      )
    }),
    ({ http, tunnels }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          for (const upstream of tunnels) upstream.destroy()
          http.closeAllConnections()
          http.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ balanced, http }): Balancer => ({
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    ...balanced
  })))
