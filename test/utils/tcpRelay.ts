/**
 * A process in the middle: a TCP listener that opens a connection to `target` for each one it accepts and passes the
 * bytes both ways, keeping what the client sent (a request line, its headers, a credential) to be read after.
 */
import * as Effect from "effect/Effect"
import { connect, createServer, type Socket } from "node:net"

/** Where a listener binds, or a connection goes. */
export interface Address {
  readonly host: string
  readonly port: number
}

export interface Relay {
  /** Everything clients sent through the relay so far, as text. */
  readonly received: () => string
}

/** A relay listening at `at` (IPv6 addresses only on an IPv6 host) to `target`, for the scope's lifetime. */
export const on = (at: Address, target: Address) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.callback<{ readonly received: () => string; readonly close: () => void }, Error>((resume) => {
        let received = ""
        const sockets = new Set<Socket>()
        const server = createServer((client) => {
          const upstream = connect(target.port, target.host)
          sockets.add(client).add(upstream)
          client.on("data", (chunk: Buffer) => {
            received += chunk.toString("latin1")
          })
          client.pipe(upstream)
          upstream.pipe(client)
          const end = () => {
            client.destroy()
            upstream.destroy()
          }
          client.on("error", end).on("close", end)
          upstream.on("error", end).on("close", end)
        })
        server.once("error", (error) => resume(Effect.fail(error)))
        server.listen({ host: at.host, port: at.port, ipv6Only: at.host.includes(":") }, () =>
          resume(Effect.succeed({
            received: () => received,
            close: () => {
              for (const socket of sockets) socket.destroy()
              server.close()
            }
          })))
      }),
      (relay) => Effect.sync(relay.close)
    ),
    (relay): Relay => ({ received: relay.received })
  )

/** Whether this machine has an IPv6 loopback (`::1`) a process can listen on. */
export const ipv6Loopback = (): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen({ host: "::1", port: 0 }, () => server.close(() => resolve(true)))
  })
