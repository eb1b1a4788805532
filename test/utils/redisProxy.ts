/**
 * A TCP proxy in front of a redis-server (or any server on loopback: a Postgres) whose replies can be held back
 * (`pause`) and let through again (`resume`): a server that stops answering, or answers late, without closing its
 * connections; or each delayed by `replyDelayMillis`, a server far away, so that a client's steps are slow enough to
 * stop it between two of them.
 */
import * as Effect from "effect/Effect"
import { connect, createServer, type Socket } from "node:net"

export interface RedisProxy {
  /** The proxy as a Redis URL. */
  readonly url: string
  /** The proxy's port, for a URL of another scheme. */
  readonly port: number
  readonly pause: () => void
  readonly resume: () => void
  /** How many chunks of reply are held back now: each a server's answer to what reached it while paused. */
  readonly held: () => number
}

export const pausableProxy = (port: number, replyDelayMillis = 0) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<RedisProxy & { readonly close: () => void }>((resolve) => {
        let paused = false
        const held: Array<() => void> = []
        const sockets = new Set<Socket>()
        const server = createServer((client) => {
          const upstream = connect(port, "127.0.0.1")
          sockets.add(client).add(upstream)
          client.pipe(upstream)
          // Each reply after the same delay: timers of one delay run in the order they were set, so replies keep theirs.
          const write = (chunk: Buffer) =>
            replyDelayMillis === 0 ? client.write(chunk) : setTimeout(() => client.write(chunk), replyDelayMillis)
          upstream.on("data", (chunk: Buffer) => paused ? held.push(() => write(chunk)) : write(chunk))
          const end = () => {
            client.destroy()
            upstream.destroy()
          }
          client.on("error", end).on("close", end)
          upstream.on("error", end).on("close", end)
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resolve({
            url: `redis://127.0.0.1:${port}`,
            port,
            pause: () => {
              paused = true
            },
            resume: () => {
              paused = false
              for (const write of held.splice(0)) write()
            },
            held: () => held.length,
            close: () => {
              for (const socket of sockets) socket.destroy()
              server.close()
            }
          })
        })
      })
    ),
    (proxy) => Effect.sync(proxy.close)
  )
