/**
 * A simulator's HTTP server and its lifecycle: one `node:http` server, counted per request and per connection, answered
 * by the plain listener or the platform server, and closed (every connection with it) when the scope closes.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { Usage } from "../../ChatResponse.js"
import type { Simulator } from "../../simulator/Simulator.js"
import type { Config } from "./config.js"
import { makeEngine } from "./engine.js"
import { isMcpPath, mcpHandler } from "./mcp.js"
import { nodeListener } from "./nodeListener.js"
import { platformApp } from "./platformApp.js"
import { Recent } from "./recent.js"

/** How many arrival times, and replies' usages, a simulator keeps for its callers. */
const kept = 100_000

/** Starts the server and returns once it listens; `listenError` makes the failure when the address cannot be bound. */
export const start = <E>(
  config: Config,
  listenError: (cause: unknown) => E
): Effect.Effect<Simulator, E, Scope.Scope> =>
  Effect.gen(function*() {
    const counters = { requests: 0, inFlight: 0, clientClosed: 0, connections: 0, openConnections: 0 }
    const closedByServer = new WeakSet<Http.ServerResponse>()
    const closing = (res: Http.ServerResponse) => {
      closedByServer.add(res)
    }
    const server = Http.createServer({ keepAliveTimeout: 30_000 })
    server.on("connection", (socket) => {
      counters.connections++
      counters.openConnections++
      socket.once("close", () => {
        counters.openConnections--
      })
    })
    // Time is read from the Clock of the fiber that starts the simulator (a TestClock in tests), synchronously in the
    // request handlers.
    const clock = yield* Clock.Clock
    const arrivals = new Recent<number>(kept)
    // Registered first, so every request is counted whichever server answers it.
    server.on("request", (_req: Http.IncomingMessage, res: Http.ServerResponse) => {
      arrivals.push(clock.currentTimeMillisUnsafe())
      counters.requests++
      counters.inFlight++
      res.once("close", () => {
        counters.inFlight--
        if (!res.writableEnded && !closedByServer.has(res)) counters.clientClosed++
      })
    })
    const billed = new Recent<Usage>(kept)
    const engine = makeEngine(config, clock.currentTimeMillisUnsafe(), (usage) => billed.push(usage))
    if (config.server === "node") {
      const runFork = yield* FiberSet.makeRuntime<never, void, never>()
      const listener = nodeListener(engine, config, clock, runFork, closing)
      const mcp = yield* mcpHandler(closing)
      server.on("request", (req: Http.IncomingMessage, res: Http.ServerResponse) => {
        if (isMcpPath(req.url)) mcp(req, res)
        else listener(req, res)
      })
      yield* Effect.acquireRelease(
        Effect.callback<void, E>((resume) => {
          const onError = (error: Error) => resume(Effect.fail(listenError(error)))
          server.once("error", onError)
          server.listen({ host: config.host, port: config.port, backlog: config.backlog }, () => {
            server.off("error", onError)
            resume(Effect.void)
          })
        }),
        () =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
            // A stalled or slow stream must not keep close() waiting.
            server.closeAllConnections()
          })
      )
    } else {
      const httpServer = yield* NodeHttpServer.make(() => server, {
        host: config.host,
        port: config.port,
        backlog: config.backlog
      }).pipe(
        Effect.mapError((error) => listenError(error.cause))
      )
      const app = yield* platformApp(engine, config, clock, closing)
      // A tracing span per request would cost more than the simulator's own work.
      yield* httpServer.serve(app).pipe(
        Effect.provideService(HttpMiddleware.TracerDisabledWhen, () => true)
      )
      // Runs before the server's own finalizers (it is added after them): a stalled stream must not keep close()
      // waiting.
      yield* Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections()))
    }

    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : config.port
    const host = config.host.includes(":") ? `[${config.host}]` : config.host
    return {
      url: `http://${host}:${port}`,
      port,
      requestCount: Effect.sync(() => counters.requests),
      stats: Effect.sync(() => ({ ...counters, injected: engine.injected() })),
      arrivals: Effect.sync(() => arrivals.last),
      billed: Effect.sync(() => billed.last)
    }
  })
