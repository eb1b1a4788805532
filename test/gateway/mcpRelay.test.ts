/**
 * The relay of an upstream's notifications to the calls that asked for them (`internal/gateway/mcp/relay.ts`), over a
 * stdio server's output as the gateway reads it (`tapLines`): for any set of concurrent calls, their clients' tokens
 * colliding or absent, any interleaving of the server's progress for them among responses, unknown tokens and lines
 * that are not JSON, and any cut of the output into chunks, each call gets exactly its own progress, in order, under
 * its own client's token; a log goes to the one call in flight and to none when several are; the lists' changes the
 * server announces among them are told to the relay's owner, each once, as is a log when no call is in flight.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import { countOps } from "../../bench/effectOps.js"
import * as Relay from "../../src/internal/gateway/mcp/relay.js"
import * as Tapped from "../../src/internal/gateway/mcp/tapped.js"

interface Spec {
  readonly clientToken: string | number | undefined
  readonly steps: number
}

const spec = fc.record({ clientToken: fc.constantFrom(undefined, 0, 1, "t"), steps: fc.nat({ max: 5 }) })

const line = (message: unknown) => JSON.stringify(message) + "\n"

// The server's output for `specs`' calls (sent `tokens`), shuffled by `order`, with `logs` logs, the lists' changes
// `changed` and noise among them.
function output(
  specs: ReadonlyArray<Spec>,
  tokens: ReadonlyArray<string | undefined>,
  logs: number,
  order: number[],
  changed: ReadonlyArray<string> = []
) {
  const lines: Array<string> = changed.map((method) => line({ jsonrpc: "2.0", method }))
  specs.forEach((one, i) => {
    for (let step = 1; step <= one.steps && tokens[i] !== undefined; step++) {
      lines.push(line({
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: tokens[i], progress: step, message: `${i} ${step}` }
      }))
    }
  })
  for (let j = 0; j < logs; j++) {
    lines.push(line({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: `log ${j}` } }))
  }
  lines.push(
    line({
      jsonrpc: "2.0",
      method: "notifications/progress",
      params: { progressToken: "progress-unknown", progress: 1 }
    }),
    line({ jsonrpc: "2.0", id: 7, result: { content: [{ type: "text", text: "notifications/progress" }] } }),
    "not json, notifications/progress\n"
  )
  // Each call's own progress keeps its order (a stable sort by a random key of each line's position among its kind).
  const keyed = lines.map((text, index) => ({ text, key: order[index % order.length]! + index / 1e6 }))
  const progressOf = (text: string) => /"message":"(\d+) (\d+)"/.exec(text)
  const shuffled = keyed.sort((a, b) => a.key - b.key).map((one) => one.text)
  // Restore each call's order among the places its lines took.
  const places = new Map<string, Array<number>>()
  shuffled.forEach((text, at) => {
    const call = progressOf(text)?.[1]
    if (call !== undefined) places.set(call, [...places.get(call) ?? [], at])
  })
  for (const [call, at] of places) {
    const own = lines.filter((text) => progressOf(text)?.[1] === call)
    at.forEach((place, k) => (shuffled[place] = own[k]!))
  }
  return shuffled.join("")
}

// `text` cut at `cuts` (positions, any order) into UTF-8 chunks.
function chunked(text: string, cuts: ReadonlyArray<number>) {
  const bytes = new TextEncoder().encode(text)
  const at = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  return [0, ...at].map((start, i) => bytes.slice(start, at[i] ?? bytes.length))
}

describe("MCP relay", () => {
  it.effect(
    "each call gets exactly its own progress, in order, under its client's token; logs only when alone; the lists' " +
      "changes told",
    () =>
      Effect.gen(function*() {
        const property = fc.asyncProperty(
          fc.array(spec, { minLength: 1, maxLength: 4 }),
          fc.nat({ max: 3 }),
          fc.array(fc.nat({ max: 1000 }), { minLength: 1, maxLength: 40 }),
          fc.array(fc.nat(), { maxLength: 8 }),
          fc.array(fc.constantFrom(...Relay.listChangedMethods), { maxLength: 3 }),
          (specs, logs, order, cuts, changed) =>
            Effect.runPromise(Effect.gen(function*() {
              const told: Array<Relay.Unsolicited> = []
              const relay = Relay.make((one) => void told.push(one))
              const got = specs.map(() => [] as Array<Relay.Relayed>)
              const tokens: Array<string | undefined> = specs.map(() => undefined)
              const gate = yield* Deferred.make<void>()
              const started = yield* Effect.forEach(specs, () => Deferred.make<void>())
              const calls = yield* Effect.forEach(specs, (one, i) =>
                Effect.forkChild(Relay.relaying(relay, {
                  progressToken: one.clientToken,
                  logLevel: undefined,
                  declared: {},
                  ask: undefined,
                  deliver: (relayed) => Effect.sync(() => void got[i]!.push(relayed))
                }, (meta) =>
                  Effect.andThen(
                    Effect.andThen(
                      Effect.sync(() => void (tokens[i] = meta["progressToken"])),
                      Deferred.succeed(started[i]!, void 0)
                    ),
                    Deferred.await(gate)
                  ))))
              yield* Effect.forEach(started, Deferred.await)
              const text = output(specs, tokens, logs, order, changed)
              yield* Stream.runDrain(Relay.tapLines(Stream.fromIterable(chunked(text, cuts)), relay, 1 << 20))
              yield* Deferred.succeed(gate, void 0)
              yield* Fiber.joinAll(calls)

              // The logs in the order the server wrote them.
              const inOutput = [...text.matchAll(/"data":"(log \d+)"/g)].map((match) => match[1])
              expect(inOutput).toHaveLength(logs)
              const sent = tokens.filter((token) => token !== undefined)
              expect(new Set(sent).size).toBe(sent.length)
              specs.forEach((one, i) => {
                expect(tokens[i] === undefined).toBe(one.clientToken === undefined)
                const progress = got[i]!.filter((relayed) => relayed._tag === "Progress").map((relayed) =>
                  relayed.params
                )
                expect(progress).toEqual(
                  one.clientToken === undefined ? [] : Array.from({ length: one.steps }, (_, k) => ({
                    progressToken: one.clientToken,
                    progress: k + 1,
                    message: `${i} ${k + 1}`
                  }))
                )
                const logged = got[i]!.filter((relayed) => relayed._tag === "Log").map((relayed) => relayed.params.data)
                expect(logged).toEqual(specs.length === 1 ? inOutput : [])
              })
              // Every change told once; no log (each went to the one call, or, with several, whose it is is unknown).
              const methods = (one: Relay.Unsolicited) => one._tag === "ListChanged" ? one.method : one._tag
              expect(told.map(methods).sort()).toEqual([...changed].sort())
              // Nothing is left registered once the calls are done.
              expect(relay.calls.size + relay.byToken.size).toBe(0)
            }))
        )
        yield* Effect.promise(() => fc.assert(property, { numRuns: 200 }))
      })
  )

  it.effect("what a server sends with no call in flight is told: its lists' and resources' changes, its logs, nothing else", () =>
    Effect.gen(function*() {
      const told: Array<Relay.Unsolicited> = []
      const relay = Relay.make((one) => void told.push(one))
      const lines = [
        line({ jsonrpc: "2.0", method: "notifications/tools/list_changed" }),
        line({ jsonrpc: "2.0", method: "notifications/message", params: { level: "warning", data: "disk low" } }),
        line({
          jsonrpc: "2.0",
          method: "notifications/progress",
          params: { progressToken: "progress-x", progress: 1 }
        }),
        line({ jsonrpc: "2.0", id: 3, method: "notifications/prompts/list_changed" }),
        line({ jsonrpc: "2.0", method: "notifications/other/list_changed" }),
        "not json, notifications/resources/list_changed\n",
        line({ jsonrpc: "2.0", method: "notifications/resources/list_changed" }),
        line({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri: "file:///doc.md" } }),
        line({ jsonrpc: "2.0", method: "notifications/resources/updated", params: {} })
      ]
      yield* Stream.runDrain(Relay.tapLines(Stream.make(new TextEncoder().encode(lines.join(""))), relay, 1 << 20))
      expect(told).toEqual([
        { _tag: "ListChanged", method: "notifications/tools/list_changed" },
        { _tag: "Log", params: { level: "warning", data: "disk low" } },
        { _tag: "ListChanged", method: "notifications/resources/list_changed" },
        { _tag: "Updated", uri: "file:///doc.md" }
      ])
    }))

  it.effect("a call relays at most maxProgress progress notifications; the rest are dropped", () =>
    Effect.gen(function*() {
      const relay = Relay.make(() => {})
      const got: Array<Relay.Relayed> = []
      yield* Relay.relaying(relay, {
        progressToken: "mine",
        logLevel: undefined,
        declared: {},
        ask: undefined,
        deliver: (relayed) => Effect.sync(() => void got.push(relayed))
      }, (meta) => {
        const lines = Array.from(
          { length: Relay.maxProgress + 5 },
          (_, k) =>
            line({
              jsonrpc: "2.0",
              method: "notifications/progress",
              params: { progressToken: meta["progressToken"], progress: k }
            })
        )
        return Stream.runDrain(Relay.tapLines(Stream.make(new TextEncoder().encode(lines.join(""))), relay, 1 << 24))
      })
      expect(got.length).toBe(Relay.maxProgress)
      expect(got.at(-1)).toEqual({
        _tag: "Progress",
        params: { progressToken: "mine", progress: Relay.maxProgress - 1 }
      })
    }))
})

describe("MCP relay's deliverer", () => {
  it("a call its server relays nothing runs in its own fiber's one turn: no deliverer starts", async () => {
    const counted = countOps()
    const relay = Relay.make(() => {})
    const listener: Relay.Listener = {
      progressToken: "mine",
      logLevel: "debug",
      declared: {},
      ask: undefined,
      deliver: () => Effect.void
    }
    const before = counted()
    // The server's output holds only what is not this call's: another call's progress, a response.
    const output = Stream.make(new TextEncoder().encode(
      line({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "other", progress: 1 } }) +
        line({ jsonrpc: "2.0", id: 1, result: {} })
    ))
    await Effect.runPromise(
      Relay.relaying(relay, listener, () => Stream.runDrain(Relay.tapLines(output, relay, 1 << 20)))
    )
    expect(counted().turns - before.turns).toBe(1)
  })
})

describe("MCP relay after a call", () => {
  it.live("a log read on a call's response stream after the call ended reaches no client", () =>
    Effect.gen(function*() {
      const relay = Relay.make(() => {})
      const delivered: Array<Relay.Relayed> = []
      const log = line({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "late" } })
      const http = HttpClient.make((request) =>
        Effect.succeed(HttpClientResponse.fromWeb(
          request,
          new Response(`data: ${log}\n`, { headers: { "content-type": "text/event-stream" } })
        ))
      )
      const response = yield* Relay.relaying(relay, {
        progressToken: undefined,
        logLevel: undefined,
        declared: {},
        ask: undefined,
        deliver: (relayed) => Effect.sync(() => void delivered.push(relayed))
      }, () => Relay.tapHttp(http, relay, 1 << 20).get("http://upstream.test/mcp"))
      yield* Stream.runDrain(response.stream)
      yield* Effect.sleep("10 millis")
      expect(delivered).toEqual([])
    }))
})

describe("MCP relay over HTTP (tapHttp)", () => {
  // An HTTP client whose one answer is `chunks`, server-sent events.
  const serving = (chunks: ReadonlyArray<Uint8Array>) =>
    HttpClient.make((request) =>
      Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(
          new ReadableStream({
            start(controller) {
              for (const chunk of chunks) controller.enqueue(chunk)
              controller.close()
            }
          }),
          { headers: { "content-type": "text/event-stream", "x-upstream": "yes" }, status: 200 }
        )
      ))
    )

  it.effect(
    "an SSE response is read as it came through every accessor and its notifications told, for any cut; its body " +
      "stays the tap's own stream, not a web stream read back",
    () =>
      Effect.gen(function*() {
        const events = fc.array(
          fc.oneof(
            fc.constantFrom(...Relay.listChangedMethods).map((method) => ({ jsonrpc: "2.0", method })),
            fc.string().map((text) => ({ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text }] } }))
          ),
          { maxLength: 6 }
        )
        const property = fc.asyncProperty(
          events,
          fc.array(fc.nat(), { maxLength: 8 }),
          fc.constantFrom("stream", "text", "arrayBuffer") satisfies fc.Arbitrary<"stream" | "text" | "arrayBuffer">,
          (messages, cuts, accessor) =>
            Effect.runPromise(Effect.gen(function*() {
              const told: Array<Relay.Unsolicited> = []
              const relay = Relay.make((one) => void told.push(one))
              const text = messages.map((message) => `data: ${JSON.stringify(message)}\n\n`).join("")
              const http = Relay.tapHttp(serving(chunked(text, cuts)), relay, 1 << 20)
              const response = yield* http.get("http://upstream.test/mcp")
              expect(HttpClientResponse.toWeb(response)._tag).toBe("None")
              expect([response.status, response.headers["x-upstream"]]).toEqual([200, "yes"])
              const read = accessor === "stream"
                ? Stream.mkString(Stream.decodeText(response.stream))
                : accessor === "text"
                ? response.text
                : Effect.map(response.arrayBuffer, (bytes) => new TextDecoder().decode(bytes))
              expect(yield* read).toBe(text)
              const changes = messages.filter((message) => "method" in message).map((message) => message.method)
              expect(told).toEqual(changes.map((method) => ({ _tag: "ListChanged", method })))
            }))
        )
        yield* Effect.promise(() => fc.assert(property, { numRuns: 200 }))
      })
  )

  it.effect(
    "a call's response stream is read ahead of its reader only when its client can be asked the server's requests",
    () =>
      Effect.gen(function*() {
        for (const asks of [false, true]) {
          let pulled = 0
          const source = Stream.range(1, 8).pipe(
            Stream.rechunk(1),
            Stream.tap(() => Effect.sync(() => void pulled++)),
            Stream.map((n) =>
              new TextEncoder().encode(`data: ${JSON.stringify({ jsonrpc: "2.0", method: `notifications/n${n}` })}\n\n`)
            )
          )
          const http = HttpClient.make((request) =>
            Effect.succeed(Tapped.tapped(
              HttpClientResponse.fromWeb(
                request,
                new Response(null, { headers: { "content-type": "text/event-stream" } })
              ),
              source
            ))
          )
          const relay = Relay.make(() => {})
          yield* Relay.relaying(relay, {
            progressToken: undefined,
            logLevel: undefined,
            declared: {},
            ask: asks ? () => Effect.never : undefined,
            deliver: () => Effect.void
          }, () =>
            Effect.scoped(Effect.gen(function*() {
              const response = yield* Relay.tapHttp(http, relay, 1 << 20).get("http://upstream.test/mcp")
              yield* Stream.runDrain(Stream.take(response.stream, 1))
              yield* Effect.yieldNow
            })))
          if (asks) expect(pulled).toBe(8)
          else expect(pulled).toBe(1)
        }
      })
  )
})

describe("MCP relay's tapped response", () => {
  it.effect(
    "reads its body through every accessor as effect's own response reads the same bytes, for any body and any cut; " +
      "it inspects and pipes as effect's does",
    () =>
      Effect.gen(function*() {
        const body = fc.oneof(
          fc.string({ unit: "grapheme" }),
          fc.jsonValue().map((value) => JSON.stringify(value)),
          fc.dictionary(fc.string(), fc.string()).map((fields) => new URLSearchParams(fields).toString())
        )
        const property = fc.asyncProperty(body, fc.array(fc.nat(), { maxLength: 6 }), (text, cuts) =>
          Effect.runPromise(Effect.gen(function*() {
            const bytes = new TextEncoder().encode(text)
            const request = HttpClientRequest.post("http://upstream.test/mcp")
            const own = () =>
              HttpClientResponse.fromWeb(request, new Response(bytes, { status: 201 }))
            const pieces: Array<Uint8Array> = []
            let from = 0
            for (const cut of cuts) {
              const to = Math.min(bytes.length, from + cut)
              pieces.push(bytes.slice(from, to))
              from = to
            }
            pieces.push(bytes.slice(from))
            const tapped = () =>
              Tapped.tapped(own(), Stream.fromIterable(pieces))
            const outcome = <A>(read: Effect.Effect<A, HttpClientError.HttpClientError>) =>
              Effect.match(read, { onFailure: (error) => `${error.reason._tag}`, onSuccess: (value) => value })
            for (
              const read of [
                (response: HttpClientResponse.HttpClientResponse) => outcome(response.text),
                (response: HttpClientResponse.HttpClientResponse) => outcome(response.json),
                (response: HttpClientResponse.HttpClientResponse) =>
                  outcome(Effect.map(response.arrayBuffer, (buffer) => [...new Uint8Array(buffer)])),
                (response: HttpClientResponse.HttpClientResponse) =>
                  outcome(Effect.map(response.urlParamsBody, (params) => params.params))
              ]
            ) {
              expect(yield* read(tapped())).toEqual(yield* read(own()))
            }
            const response = tapped()
            expect(response.toJSON()).toEqual(own().toJSON())
            expect(response.pipe((self) => self.status)).toBe(201)
          })))
        yield* Effect.promise(() =>
          fc.assert(property, { numRuns: 300 })
        )
      })
  )
})
