/**
 * What the gateway's loopback tests share, whichever client they drive: a
 * deployment that the simulator fails, the rejection of a client's promise,
 * and the check that a client that went away freed its call.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type * as Gateway from "../../src/Gateway.js"
import type * as Simulator from "../../src/simulator/Simulator.js"
import { eventually } from "./eventually.js"

/** The admin key of the tests' gateways: a gateway without one refuses its admin paths to every caller. */
export const testAdminKey = "gw-test-admin-key-0000"

/** `Gateway.Options.adminKeys` holding `testAdminKey`. */
export const testAdmins: ReadonlyArray<Gateway.AdminKey> = [{ name: "test-admin", key: Redacted.make(testAdminKey) }]

/** A `gpt-4o-mini` deployment on the simulator sending `fault` (its fault header) with `key`, plus `extra` fields. */
export const faulty = (
  simulator: Simulator.Simulator,
  key: string,
  fault: string,
  extra?: Record<string, unknown>
) => [{
  model_name: "gpt-4o-mini",
  base_url: `${simulator.url}/v1`,
  api_keys: [key],
  max_retries: 0,
  headers: { "x-simulator-fault": fault },
  ...extra
}]

/** The error a promise rejects with (undefined when it resolves). */
export const rejection = (f: () => Promise<unknown>) =>
  Effect.promise(() => f().then(() => undefined, (error: unknown) => error))

/** Once a client has gone away: the deployment holds nothing and the simulator saw the upstream request closed. */
export const settledAfterAbort = (
  gateway: Gateway.Service,
  simulator: Simulator.Simulator,
  deployment: string,
  closed: number
) =>
  eventually(
    `${deployment} freed and its upstream request closed`,
    Effect.all({ load: Effect.map(gateway.status, (status) => status.details[deployment]!), stats: simulator.stats }),
    ({ load, stats }) => load.inFlight === 0 && load.keys[0]!.current === 0 && stats.clientClosed > closed
  )

/**
 * A stream from the `stall/gpt-4o-mini` deployment (the simulator's `stall=2`:
 * two chunks, then the stream held open) that `open` starts with a client,
 * aborted by the client on its first event; `during`, the deployment's load
 * while it was open, and `settled` once it has been freed,
 * with the simulator's stats from `before`.
 */
export const abortedStall = (
  { gateway, simulator }: Omit<Served<unknown>, "client">,
  open: (signal: AbortSignal) => Promise<AsyncIterable<unknown>>
) =>
  Effect.gen(function*() {
    const deployment = "stall/gpt-4o-mini"
    const before = yield* simulator.stats
    const controller = new AbortController()
    const stream = yield* Effect.promise(() => open(controller.signal))
    const during = (yield* gateway.status).details[deployment]!
    yield* rejection(async () => {
      for await (const event of stream) {
        void event
        controller.abort()
      }
    })
    const settled = yield* settledAfterAbort(gateway, simulator, deployment, before.clientClosed)
    return { before, during, settled }
  })

/** Reads `stream` to its end; the error it fails with (undefined when it ends cleanly). */
export const drain = (stream: AsyncIterable<unknown>) =>
  rejection(async () => {
    for await (const item of stream) void item
  })

/** A gateway in front of a simulator, and the client a test drives it with. */
export interface Served<Client> {
  readonly gateway: Gateway.Service
  readonly simulator: Simulator.Simulator
  readonly client: Client
}

/** An answer of the gateway, read whole. */
export interface Answer {
  readonly status: number
  readonly contentType: string | null
  readonly text: string
}

/** An answer's status, content type and text. */
export const answerOf = async (response: Response): Promise<Answer> => ({
  status: response.status,
  contentType: response.headers.get("content-type"),
  text: await response.text()
})

/** `GET path` of `gateway`, with `key` as a Bearer token when given. */
export const get = (gateway: Gateway.Service, path: string, key?: string) =>
  Effect.promise(() =>
    fetch(`${gateway.url}${path}`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } }).then(
      answerOf
    )
  )

/** What `send` got back: the status, the headers and the body's text. */
export interface Raw {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
}

/**
 * One request to `gateway` through `node:http`, which sends the path and the headers as given (a `Host` of the
 * test's choosing, a path with doubled slashes); `body`, when given, is sent as it is.
 */
export const send = (
  gateway: Gateway.Service,
  request: {
    readonly method: string
    readonly path: string
    readonly headers?: Http.OutgoingHttpHeaders
    readonly body?: string
  }
) =>
  Effect.callback<Raw>((resume) => {
    const { method, path, headers = {} } = request
    const outgoing = Http.request(
      { host: "127.0.0.1", port: gateway.port, method, path, headers },
      (response) => {
        let text = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => (text += chunk))
        response.on("end", () => {
          resume(Effect.succeed({ status: response.statusCode!, headers: response.headers, text }))
        })
      }
    )
    outgoing.on("error", (error) => resume(Effect.die(error)))
    outgoing.end(request.body)
  })
