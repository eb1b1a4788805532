/**
 * Loopback `node:http` servers for the suites that drive an HTTP client over
 * real sockets and watch what the client does to the connection.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { pause } from "./eventually.js"

export interface Server {
  readonly url: string
  /** Sockets the server accepted. */
  readonly sockets: () => number
}

/**
 * Watches the server's side of a request's connection: `watch(req)` in the
 * handler, then `closed` succeeds once that connection closed (within 30 s on a
 * real timer, so also under a TestClock: a loaded machine never needs that long, and
 * a test waits it out only when it fails).
 */
export const connectionWatch = Effect.map(Deferred.make<void>(), (deferred) => ({
  watch: (req: http.IncomingMessage, onClose?: () => void) => {
    req.socket.on("close", () => {
      onClose?.()
      Deferred.doneUnsafe(deferred, Exit.void)
    })
  },
  closed: Effect.raceFirst(Deferred.await(deferred), Effect.andThen(pause(30_000), Effect.fail("no close")))
}))

/** A loopback `node:http` server for the scope's lifetime. */
export const serve = (handler: http.RequestListener): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; counter: { n: number } }>((resume) => {
      const counter = { n: 0 }
      const server = http.createServer(handler)
      server.on("connection", () => counter.n++)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, counter })))
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ counter, server }) => ({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets: () => counter.n
  })))

/**
 * A server whose every reply sends its headers and "partial", then hangs;
 * `watch` sees each request (`connectionWatch`'s `watch`).
 */
export const servePartial = (watch: (req: http.IncomingMessage) => void): Effect.Effect<Server, never, Scope.Scope> =>
  serve((req, res) => {
    res.writeHead(200)
    res.write("partial")
    watch(req)
  })

/** The request body as text. */
const readBody = (req: http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let body = ""
    req.setEncoding("utf8")
    req.on("data", (part: string) => body += part)
    req.on("end", () => resolve(body))
    req.on("error", reject)
  })

/** Answers the request's method, url, headers and body as JSON (404 for `/missing`), with `x-echo: yes`. */
export const echo: http.RequestListener = (req, res) => {
  void readBody(req).then((body) => {
    res.writeHead(req.url === "/missing" ? 404 : 200, { "content-type": "application/json", "x-echo": "yes" })
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }))
  })
}
