/**
 * A loopback proxy in front of a server (`serve`, in the agent CLIs' tests) that keeps the bodies of the requests
 * whose path starts with a given prefix: what an agent sent its model, its tools among it.
 */
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { forward } from "./balancer.js"

/** A loopback proxy to `target` that keeps the bodies (as text) of the requests whose path starts with `prefix`. */
export const recordingProxy = (target: string, prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const bodies: Array<string> = []
      const goal = new URL(target)
      const http = Http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const body = Buffer.concat(chunks)
          if (request.url?.startsWith(prefix)) bodies.push(body.toString("utf8"))
          forward(goal, request, response).end(body)
        })
      })
      return new Promise<{ readonly http: Http.Server; readonly bodies: Array<string> }>((resolve) =>
        http.listen(0, "127.0.0.1", () => resolve({ http, bodies }))
      )
    }),
    ({ http }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          http.closeAllConnections()
          http.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ bodies, http }) => ({
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    bodies
  })))
