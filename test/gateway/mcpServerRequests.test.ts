/**
 * How a call's client is asked its upstream's requests (`internal/gateway/mcp/serverRequests.ts`): by what it declared
 * (none of the three: not asked at all; each method only with its own capability, else -32601), its answer or its own
 * JSON-RPC error passed on, params that cannot be read answered -32602, and no answer within the limit -32603 (on the
 * TestClock); the upstream's `initialize` declares the three capabilities. A stdio server's request is tied to the one
 * call in flight on it (none or several: not relayed), and its input carries the client's answer in place of
 * `McpClient`'s refusal, the lines after it not held behind it. The requests relayed on a POST's response stream: the id
 * each is sent under noted, so a client's cancel (of that id, in its session) fails exactly its request, for any
 * interleaving of requests and cancels (a property); a client's progress goes to the server under the server's token.
 * A 2026-07-28 server's call carried to its end for a client the gateway asks: for any number of multi round-trip
 * results, each input request asked and the call sent on with the answers and the state (a property); one the client
 * cannot answer fails it, as do more than `maxRounds`; the server is told what the client declared of the three.
 */
import { describe, expect, it } from "@effect/vitest"
import type * as McpClient from "effect/ai/McpClient"
import * as McpSchema from "effect/ai/McpSchema"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Queue from "effect/Queue"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Relay from "../../src/internal/gateway/mcp/relay.js"
import * as ServerRequests from "../../src/internal/gateway/mcp/serverRequests.js"

// A client of the endpoint that declared `capabilities` and answers as `reverse` does.
const clientWith = (
  capabilities: McpSchema.ClientCapabilities,
  reverse: Partial<McpSchema.McpReverseClient> = {}
): McpSchema.McpServerClient["Service"] => ({
  clientId: 1,
  protocolVersion: "2025-11-25",
  clientCapabilities: capabilities,
  clientInfo: { name: "test", version: "1" },
  initializePayload: undefined as never,
  getClient: Effect.succeed(reverse as McpSchema.McpReverseClient)
})

// How `client` (a 2025-11-25 session's, or none) is asked, its request's context the session's.
const askerOf = (client: McpSchema.McpServerClient["Service"] | undefined) =>
  ServerRequests.asker(client, {
    clientId: 1,
    protocolVersion: "2025-11-25",
    clientCapabilities: client?.clientCapabilities ?? {}
  })

const rootsResult = { roots: [{ uri: "file:///here" }] }

// A server no message is sent to.
const noSend: ServerRequests.Send = () => Effect.void

describe("the asking of a call's client", () => {
  it("a client that declared none of the capabilities is not asked", () => {
    expect(askerOf(undefined)).toBeUndefined()
    expect(askerOf(clientWith({}))).toBeUndefined()
    expect(askerOf(clientWith({ experimental: {} }))).toBeUndefined()
  })

  it.effect("each method is asked only of a client with its capability; the others are -32601", () =>
    Effect.gen(function*() {
      for (const declared of ServerRequests.relayedMethods) {
        const capability = ({
          "sampling/createMessage": "sampling",
          "elicitation/create": "elicitation",
          "roots/list": "roots"
        } as const)[declared]
        const ask = askerOf(clientWith({ [capability]: {} }, {
          listRoots: () => Effect.succeed(rootsResult as never)
        }))!
        for (const method of ServerRequests.relayedMethods) {
          const exit = yield* Effect.flip(ask(method, {}, noSend)).pipe(Effect.option)
          if (method === declared && method === "roots/list") expect(exit._tag).toBe("None")
          if (method !== declared) {
            expect(exit._tag === "Some" && exit.value.code, `${method} of a ${capability} client`).toBe(
              McpSchema.METHOD_NOT_FOUND_ERROR_CODE
            )
          }
        }
      }
    }))

  it.effect("the client's answer passes on; its own JSON-RPC error passes on as it gave it", () =>
    Effect.gen(function*() {
      const answered = askerOf(clientWith({ roots: {} }, {
        listRoots: () => Effect.succeed(rootsResult as never)
      }))!
      expect(yield* answered("roots/list", undefined, noSend)).toEqual(rootsResult)
      const refused = askerOf(clientWith({ roots: {} }, {
        listRoots: () =>
          Effect.fail(
            new McpSchema.McpReverseOperationError({
              operation: "roots/list",
              cause: { code: -1, message: "User rejected", data: { why: "no" } }
            })
          )
      }))!
      expect(yield* Effect.flip(refused("roots/list", {}, noSend))).toEqual({
        code: -1,
        message: "User rejected",
        data: { why: "no" }
      })
    }))

  it.effect("a 2026-07-28 client is answered -32601 naming its revision for each it declared, never asked", () =>
    Effect.gen(function*() {
      const modern = (clientCapabilities: McpSchema.ClientCapabilities) =>
        ServerRequests.asker(undefined, { clientId: 2, protocolVersion: "2026-07-28", clientCapabilities })
      expect(modern({})).toBeUndefined()
      const ask = modern({ sampling: {}, roots: {} })!
      for (const method of ServerRequests.relayedMethods) {
        const error = yield* Effect.flip(ask(method, {}, noSend))
        expect(error.code, method).toBe(McpSchema.METHOD_NOT_FOUND_ERROR_CODE)
        expect(error.message.includes("2026-07-28"), method).toBe(method !== "elicitation/create")
      }
    }))

  it.effect("params the endpoint cannot send are -32602, naming the method", () =>
    Effect.gen(function*() {
      const ask = askerOf(clientWith({ sampling: {} }, { createMessage: () => Effect.die("not asked") }))!
      const error = yield* Effect.flip(ask("sampling/createMessage", { messages: "nope" }, noSend))
      expect(error.code).toBe(McpSchema.INVALID_PARAMS_ERROR_CODE)
      expect(error.message).toContain("sampling/createMessage")
    }))

  it.effect("a client that does not answer within the limit is -32603; one that answers just in time is passed on", () =>
    Effect.gen(function*() {
      const slow = (after: number) =>
        askerOf(clientWith({ roots: {} }, {
          listRoots: () => Effect.as(Effect.sleep(after), rootsResult as never)
        }))!
      const limit = 60_000
      const late = yield* Effect.forkChild(Effect.flip(slow(limit + 1)("roots/list", {}, noSend)))
      const timely = yield* Effect.forkChild(slow(limit - 1)("roots/list", {}, noSend))
      yield* TestClock.adjust(limit)
      expect(yield* Fiber.join(timely)).toEqual(rootsResult)
      const error = yield* Fiber.join(late)
      expect(error.code).toBe(McpSchema.INTERNAL_ERROR_CODE)
      expect(error.message).toContain("roots/list")
    }))

  it.effect("the upstream's initialize declares the three capabilities; its other requests pass unchanged", () =>
    Effect.gen(function*() {
      const sent: Array<McpSchema.JsonRpcRequest> = []
      const transport = ServerRequests.declaring({
        request: (message: McpSchema.JsonRpcRequest) =>
          Effect.sync(() => {
            sent.push(message)
            return { jsonrpc: "2.0", id: message.id, result: {} } as never
          })
      } as unknown as McpClient.Transport)
      const initialize = {
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "g", version: "1" } }
      } as const
      const list = { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} } as const
      yield* transport.request(initialize as never)
      yield* transport.request(list as never)
      expect(sent).toEqual([
        { ...initialize, params: { ...initialize.params, capabilities: { sampling: {}, elicitation: {}, roots: {} } } },
        list
      ])
    }))

  // A call in flight on `relay` whose client answers `roots/list` after `after`.
  const callOn = (relay: Relay.Relay, after: Duration.Input) =>
    Effect.map(Queue.unbounded<Relay.Relayed, Cause.Done>(), (queue) => {
      const call: Relay.Call = {
        token: undefined,
        queue,
        listener: {
          progressToken: undefined,
          logLevel: undefined,
          declared: {},
          deliver: () => Effect.void,
          ask: (method, params) => Effect.as(Effect.sleep(after), { asked: method, params })
        },
        context: Context.empty(),
        delivering: undefined,
        progress: 0,
        logs: 0,
        bytes: 0,
        dropped: 0
      }
      relay.calls.add(call)
      return call
    })

  // `lines` as a stdio server's output, read by `relay`.
  const output = (relay: Relay.Relay, lines: ReadonlyArray<unknown>) =>
    Stream.runDrain(
      Relay.tapLines(
        Stream.make(new TextEncoder().encode(lines.map((line) => `${JSON.stringify(line)}\n`).join(""))),
        relay,
        1e6
      )
    )

  const roots = (id: number) => ({ jsonrpc: "2.0", id, method: "roots/list", params: { n: id } })

  it.effect("a stdio server's request is the call's only while it is the one call in flight on the server", () =>
    Effect.gen(function*() {
      for (const inFlight of [0, 1, 2, 3]) {
        const relay = Relay.make(() => {})
        const calls = yield* Effect.forEach(Array.from({ length: inFlight }), () => callOn(relay, "1 second"))
        yield* output(relay, [roots(1), { jsonrpc: "2.0", method: "notifications/message", params: {} }])
        expect(relay.requests.asked.get("1")?.call, `${inFlight} calls`).toBe(inFlight === 1 ? calls[0] : undefined)
      }
    }))

  it.effect("a stdio server's input: the refusal of a relayed request becomes the client's answer, nothing held", () =>
    Effect.gen(function*() {
      const relay = Relay.make(() => {})
      yield* callOn(relay, "1 second")
      yield* output(relay, [roots(7)])
      const written: Array<string> = []
      const decoder = new TextDecoder()
      const stdin = Sink.forEach((chunk: Uint8Array) => Effect.sync(() => written.push(decoder.decode(chunk))))
      const sink = yield* ServerRequests.answeringLines(stdin, relay.requests, yield* Effect.scope)
      const mcpClient = yield* Queue.unbounded<Uint8Array, Cause.Done>()
      const writing = yield* Effect.forkChild(Stream.run(Stream.fromQueue(mcpClient), sink))
      const refusal = (id: number) => ({ jsonrpc: "2.0", id, error: { code: -32601, message: "Unsupported" } })
      const line = (message: unknown) => `${JSON.stringify(message)}\n`
      const tools = { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "t" } }
      const encoder = new TextEncoder()
      yield* Queue.offer(mcpClient, encoder.encode(line(tools)))
      yield* Queue.offer(mcpClient, encoder.encode(line(refusal(7)) + line({ jsonrpc: "2.0", method: "x" })))
      const half = line(refusal(9))
      yield* Queue.offer(mcpClient, encoder.encode(half.slice(0, 10)))
      yield* Queue.offer(mcpClient, encoder.encode(half.slice(10)))
      yield* TestClock.adjust("500 millis")
      expect(written).toEqual([line(tools), line({ jsonrpc: "2.0", method: "x" }), half])
      expect(relay.requests.asked.size).toBe(0)
      yield* TestClock.adjust("500 millis")
      expect(written.slice(3)).toEqual([
        line({ jsonrpc: "2.0", id: 7, result: { asked: "roots/list", params: { n: 7 } } })
      ])
      yield* Queue.end(mcpClient)
      yield* Fiber.join(writing)
    }))

  it.effect("a stdio server's input that failed fails McpClient's next write with its error", () =>
    Effect.gen(function*() {
      const broken = Sink.forEach((_: Uint8Array) => Effect.fail("EPIPE" as const))
      const sink = yield* ServerRequests.answeringLines(broken, Relay.make(() => {}).requests, yield* Effect.scope)
      const mcpClient = yield* Queue.unbounded<Uint8Array, Cause.Done>()
      const writing = yield* Effect.forkChild(Stream.run(Stream.fromQueue(mcpClient), sink))
      yield* Queue.offer(mcpClient, new TextEncoder().encode("{}\n"))
      yield* TestClock.adjust("10 millis")
      yield* Queue.offer(mcpClient, new TextEncoder().encode("{}\n"))
      expect(yield* Effect.flip(Fiber.join(writing))).toBe("EPIPE")
    }))
})

// A client's POST to the endpoint of `message`, in `session`.
const posted = (session: string, message: unknown) =>
  HttpServerRequest.fromWeb(
    new Request("http://gateway/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", "mcp-session-id": session },
      body: JSON.stringify({ jsonrpc: "2.0", ...message as object })
    })
  )

// Runs `effect` until `holds` is true of what it reads, yielding between reads (no clock moves).
const until = <A>(read: Effect.Effect<A>, holds: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000; i++) {
      const value = yield* read
      if (holds(value)) return value
      yield* Effect.yieldNow
    }
    return yield* Effect.die("the state never came")
  })

/**
 * An endpoint's POST in `session` whose response stream carries what its client is asked (a sampling client that
 * never answers): the asker of the call, the ids its requests went out under by their text, the progress its server
 * was sent, and the POST's response as its client reads it.
 */
const endpoint = (relayed: ServerRequests.Relayed, session: string) =>
  Effect.gen(function*() {
    const out = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    const ids = new Map<string, string | number>()
    const read: Array<string> = []
    let next = 100
    const reverse = {
      createMessage: (payload: { readonly messages: ReadonlyArray<{ readonly content: unknown }> }) =>
        Effect.gen(function*() {
          const id = next++
          ids.set((payload.messages[0]!.content as { text: string }).text, id)
          const event = { jsonrpc: "2.0", id, method: "sampling/createMessage", params: payload }
          yield* Queue.offer(out, new TextEncoder().encode(`data: ${JSON.stringify(event)}\n\n`))
          return yield* Effect.never
        })
    } as unknown as McpSchema.McpReverseClient
    let outbound: ServerRequests.Outgoing | undefined
    const answer = Effect.map(Effect.service(ServerRequests.Outbound), (one) => {
      outbound = one
      return HttpServerResponse.stream(Stream.fromQueue(out), { contentType: "text/event-stream" })
    })
    const response = yield* ServerRequests.served(relayed, posted(session, { id: 1, method: "tools/call" }), answer)
    const body = response.body._tag === "Stream" ? response.body.stream : Stream.empty
    yield* Effect.forkChild(Effect.ignore(
      Stream.runForEach(body, (chunk) => Effect.sync(() => void read.push(new TextDecoder().decode(chunk))))
    ))
    const ask = ServerRequests.asker(
      clientWith({ sampling: {} }, reverse),
      { clientId: 1, protocolVersion: "2025-11-25", clientCapabilities: { sampling: {} } },
      outbound
    )!
    return { ask, ids, read }
  })

const sampling = (text: string, meta?: Record<string, unknown>) => ({
  messages: [{ role: "user", content: { type: "text", text } }],
  maxTokens: 1,
  ...(meta === undefined ? {} : { _meta: meta })
})

// A client's cancel of `id` in `session` through the endpoint: whether the gateway took it (else `McpServer` would).
const cancel = (relayed: ServerRequests.Relayed, session: string, id: unknown) =>
  Effect.map(
    ServerRequests.served(
      relayed,
      posted(session, { method: "notifications/cancelled", params: { requestId: id } }),
      Effect.succeed(HttpServerResponse.empty({ status: 299 }))
    ),
    (response) => response.status === 202
  )

describe("the requests relayed on a POST's response stream", () => {
  it("any interleaving of relayed requests and cancels fails each cancelled request, and only it", () =>
    fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 6 }).chain((n) =>
        fc.tuple(
          fc.constant(n),
          // For each request: cancelled after the start of request k (k >= its own), or never.
          fc.tuple(...Array.from({ length: n }, (_, i) => fc.option(fc.integer({ min: i, max: n - 1 }))))
        )
      ),
      ([n, cancelAt]) =>
        Effect.runPromise(Effect.scoped(Effect.gen(function*() {
          const relayed = ServerRequests.relayed()
          const { ask, ids } = yield* endpoint(relayed, "s1")
          const fibers: Array<Fiber.Fiber<unknown, ServerRequests.Failure>> = []
          let live = 0
          for (let step = 0; step < n; step++) {
            fibers.push(yield* Effect.forkChild(ask("sampling/createMessage", sampling(`t${step}`), noSend)))
            live += 1
            // Sent, and its id noted as it went out on the stream.
            yield* until(Effect.sync(() => ids.has(`t${step}`) && relayed.byId.size === live), (noted) => noted)
            for (let i = 0; i <= step; i++) {
              if (cancelAt[i] !== step) continue
              // Another session naming the id is not taken; the request's own session is.
              expect(yield* cancel(relayed, "s2", ids.get(`t${i}`))).toBe(false)
              expect(yield* cancel(relayed, "s1", ids.get(`t${i}`))).toBe(true)
              live -= 1
              yield* until(Effect.sync(() => relayed.byId.size), (size) => size === live)
            }
          }
          for (let i = 0; i < n; i++) {
            if (cancelAt[i] === null) {
              expect(fibers[i]!.pollUnsafe(), `t${i}`).toBeUndefined()
            } else {
              const exit = yield* Fiber.await(fibers[i]!)
              expect(exit, `t${i}`).toEqual(
                Exit.fail({
                  code: McpSchema.INTERNAL_ERROR_CODE,
                  message: "The client cancelled sampling/createMessage"
                })
              )
            }
          }
          // What remains: the requests never cancelled, each still under its own id.
          expect(relayed.byId.size).toBe(cancelAt.filter((at) => at === null).length)
          yield* Effect.forEach(fibers, Fiber.interrupt)
          expect(relayed.byId.size).toBe(0)
        })))
    )))

  it.effect("a client is sent the gateway's progress token; its progress of it reaches the server under the server's", () =>
    Effect.gen(function*() {
      const relayed = ServerRequests.relayed()
      const { ask, read } = yield* endpoint(relayed, "s1")
      const sent: Array<unknown> = []
      const send: ServerRequests.Send = (message) => Effect.sync(() => void sent.push(JSON.parse(message)))
      const fiber = yield* Effect.forkChild(ask("sampling/createMessage", sampling("p", { progressToken: 7 }), send))
      const [event] = yield* until(Effect.sync(() => read), (chunks) => chunks.length > 0)
      const token = JSON.parse(event!.slice("data: ".length)).params._meta.progressToken
      expect(token).toMatch(/^progress-[0-9a-f-]{36}$/)
      const progress = { method: "notifications/progress", params: { progressToken: token, progress: 1, total: 2 } }
      const answered = yield* ServerRequests.served(relayed, posted("s9", progress), Effect.die("not McpServer's"))
      expect(answered.status).toBe(202)
      expect(sent).toEqual([{
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: 7, progress: 1, total: 2 }
      }])
      // A token the gateway did not give is McpServer's to answer.
      const other = { method: "notifications/progress", params: { progressToken: 7, progress: 1 } }
      const passed = yield* ServerRequests.served(
        relayed,
        posted("s1", other),
        Effect.succeed(HttpServerResponse.empty())
      )
      expect(passed.status).toBe(204)
      yield* Fiber.interrupt(fiber)
      expect(relayed.byToken.size).toBe(0)
    }))
})

describe("a 2026-07-28 server's call carried to its end for a client the gateway asks", () => {
  const sampling = { method: "sampling/createMessage" as const, params: { messages: [], maxTokens: 1 } }
  const done = new McpSchema.CallToolResult({ content: [{ type: "text", text: "done" }] })

  it.effect("for any number of rounds, each input request is asked, and the call sent on with the answers and state", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.nat({ max: ServerRequests.maxRounds - 1 }), fc.nat({ max: 3 }), (rounds, width) =>
          Effect.runPromise(Effect.gen(function*() {
            const sent: Array<ServerRequests.Continuation> = []
            const asked: Array<unknown> = []
            const ask: ServerRequests.Ask = (method, params) =>
              Effect.sync(() => {
                asked.push(params)
                return { answered: method, round: asked.length }
              })
            const keys = Array.from({ length: width }, (_, n) =>
              `k${n}`)
            const result = yield* ServerRequests.carried((continuation) =>
              Effect.sync(() => {
                sent.push(continuation)
                const round = sent.length
                return round > rounds ? done : new McpSchema.InputRequired({
                  inputRequests: Object.fromEntries(keys.map((key) => [key, sampling])),
                  requestState: `state-${round}`
                })
              }), ask)
            expect(result).toBe(done)
            expect(asked.length).toBe(rounds * width)
            expect(sent[0]).toEqual({})
            sent.slice(1).forEach((continuation, n) => {
              expect(continuation.requestState).toBe(`state-${n + 1}`)
              expect(Object.keys(continuation.inputResponses ?? {})).toEqual(keys)
            })
          })))
      )
    ))

  it.effect("a request the client cannot answer fails the call naming it; past maxRounds, the call fails", () =>
    Effect.gen(function*() {
      const asking = new McpSchema.InputRequired({ inputRequests: { a: sampling } })
      const unanswered = yield* Effect.flip(ServerRequests.carried(() => Effect.succeed(asking), undefined))
      expect(unanswered).toEqual({
        code: -32601,
        message: "sampling/createMessage of its client: Unsupported MCP method: sampling/createMessage"
      })
      let calls = 0
      const endless = yield* Effect.flip(ServerRequests.carried(
        () => Effect.sync(() => (calls += 1, asking)),
        () => Effect.succeed({})
      ))
      expect(calls).toBe(ServerRequests.maxRounds)
      expect(endless.message).toContain(`more than ${ServerRequests.maxRounds} times`)
    }))

  it("what a client declared of the three is what a 2026-07-28 server is told", () => {
    expect(ServerRequests.declaredOf({ sampling: { tools: {} }, roots: { listChanged: true }, experimental: {} }))
      .toEqual({ sampling: { tools: {} }, roots: { listChanged: true } })
    expect(ServerRequests.declaredOf({})).toEqual({})
  })
})
