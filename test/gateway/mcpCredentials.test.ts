/**
 * The mask of the MCP endpoints' answers (`internal/gateway/mcp/credentials.ts`): every credential the gateway holds
 * for its MCP servers masked in every string of an answer, a JSON body or a stream of server-sent events however its
 * chunks are cut; as it is and as JSON writes it in a string (nested up to three deep), in values and names; a piece
 * of a secret an upstream's cut left (its start or its end); the JSON left valid; an access token masked once it is
 * given; a token endpoint's address masked whole, its start shared with other addresses left alone. Servers that hold
 * no credential have their answers passed as they are, neither read nor written again.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import type * as Gateway from "../../src/Gateway.js"
import * as Credentials from "../../src/internal/gateway/mcp/credentials.js"
import { maskKey } from "../../src/LlmError.js"

const headerSecret = "hdr-Qm4Tz8Wn2Kp6"
const quoted = "env-\"quoted\\value-77"
const clientSecret = "client-Vb3Xr9Lc5Hd"
const tokenUrl = "https://auth.example.com/oauth/token?tenant=tenant-Ys7Pf2Gm"
const servers = {
  http: {
    url: "https://tools.example.com/mcp",
    headers: { authorization: Redacted.make(`Bearer ${headerSecret}`) },
    oauth: { tokenUrl, clientId: "gateway", clientSecret: Redacted.make(clientSecret) }
  },
  local: { command: "node", env: { TOKEN: Redacted.make(quoted), MODE: Redacted.make("1") } }
}

// The text of `response`'s body.
const bodyText = (response: HttpServerResponse.HttpServerResponse) =>
  response.body._tag === "Uint8Array"
    ? Effect.succeed(new TextDecoder().decode(response.body.body))
    : response.body._tag === "Stream"
    ? Stream.mkString(Stream.decodeText(response.body.stream))
    : Effect.succeed("")

// `text` as a stream body cut at `cuts` (byte offsets).
function streamed(text: string, cuts: ReadonlyArray<number>) {
  const bytes = new TextEncoder().encode(text)
  const ends = [...cuts, bytes.length]
  const chunks = ends.map((end, i) => bytes.slice(i === 0 ? 0 : ends[i - 1], end))
  return HttpServerResponse.stream(Stream.fromIterable(chunks), { contentType: "text/event-stream" })
}

describe("the MCP endpoints' mask of credentials", () => {
  it.effect("a stream of events, cut at every byte: no credential whole, every event still JSON", () =>
    Effect.gen(function*() {
      const credentials = Credentials.make(servers)
      const events = [
        { jsonrpc: "2.0", method: "notifications/message", params: { data: `sent Bearer ${headerSecret}` } },
        { jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: JSON.stringify({ env: quoted }) }] } }
      ]
      const text = events.map((event) => `event: message\ndata: ${JSON.stringify(event)}\n\n`).join("")
      const length = new TextEncoder().encode(text).length
      for (let cut = 0; cut <= length; cut++) {
        const out = yield* bodyText(credentials.masked(streamed(text, [cut])))
        expect(out, `${cut}`).not.toContain(headerSecret.slice(0, 8))
        expect(out, `${cut}`).not.toContain("quoted")
        const data = out.split("\n").filter((line) => line.startsWith("data: ")).map((line) =>
          JSON.parse(line.slice(6))
        )
        expect(data, `${cut}`).toHaveLength(2)
        expect(JSON.stringify(data)).toContain(maskKey(headerSecret))
      }
    }))

  it.effect("a JSON body: each credential as it is and as JSON writes it three deep, in values and names", () =>
    Effect.gen(function*() {
      const credentials = Credentials.make(servers)
      let nested: unknown = { value: quoted, [clientSecret]: "named", url: tokenUrl }
      for (let depth = 0; depth <= 3; depth++) {
        const body = JSON.stringify({ jsonrpc: "2.0", id: 1, result: { text: nested } })
        const out = yield* bodyText(credentials.masked(HttpServerResponse.text(body)))
        expect(() => JSON.parse(out), `${depth}`).not.toThrow()
        for (const credential of ["quoted", clientSecret.slice(0, 8), "auth.example.com", "tenant-Ys7Pf2Gm"]) {
          expect(out, `${depth} ${credential}`).not.toContain(credential)
        }
        nested = JSON.stringify(nested)
      }
      // A token endpoint's address is masked whole only: another address on the same scheme is left as it is.
      const other = yield* bodyText(credentials.masked(HttpServerResponse.text("\"see https://auth.example.org/\"")))
      expect(other).toBe("\"see https://auth.example.org/\"")
      // Too short to tell from other text: an `env` value of one character.
      expect(credentials.mask("MODE=1")).toBe("MODE=1")
    }))

  it("a piece an upstream's cut left, of every length from eight, at either end of a text", () => {
    const credentials = Credentials.make(servers)
    for (let length = 8; length < headerSecret.length; length++) {
      const start = headerSecret.slice(0, length)
      const end = headerSecret.slice(-length)
      for (const text of [`token ${start}`, `${start}... cut`, `${end} was`, `[${end}]`]) {
        const out = credentials.mask(text)
        expect(out, text).not.toContain(headerSecret.slice(0, 8))
        expect(out, text).not.toContain(headerSecret.slice(-8))
        expect(out, text).toContain(maskKey(headerSecret))
      }
    }
  })

  it("a credential that holds a start or an end of another, anywhere in it: each masked as itself, whole", () =>
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(..."abcdefghijkXYZ0123456789"), minLength: 8, maxLength: 24 }),
        fc.string({ unit: fc.constantFrom(..."lmnopqrstuvw"), minLength: 0, maxLength: 6 }),
        fc.string({ unit: fc.constantFrom(..."lmnopqrstuvw"), minLength: 0, maxLength: 6 }),
        fc.integer({ min: 8, max: 24 }),
        fc.boolean(),
        (first, before, after, length, end) => {
          const piece = end ? first.slice(-Math.min(length, first.length)) : first.slice(0, length)
          const second = `${before}${piece}${after}`
          fc.pre(second !== first && second.length >= 4 && !first.includes(second))
          const credentials = Credentials.make({
            one: { url: "https://one.example.com/mcp", headers: { "x-api-key": Redacted.make(first) } },
            two: { command: "node", env: { TOKEN: Redacted.make(second) } }
          })
          const out = credentials.mask(`sent ${second} and ${first}.`)
          expect(out).toBe(`sent ${maskKey(second)} and ${maskKey(first)}.`)
        }
      )
    ))

  it.effect("an access token is masked from the moment it is given, in answers and in the texts logged", () =>
    Effect.gen(function*() {
      const credentials = Credentials.make(servers)
      const tokens = ["at-Hq2Wd8Ls4Nc1", "at-Pr6Zk3Vy9Tf7"]
      let given = 0
      const token = credentials.noting("http", {
        current: Effect.sync(() => Redacted.make(tokens[given++]!)),
        expire: () => Effect.void
      })
      expect(credentials.mask(`Bearer ${tokens[0]}`)).toBe(`Bearer ${tokens[0]}`)
      expect(Redacted.value(yield* token.current)).toBe(tokens[0])
      expect(Redacted.value(yield* token.current)).toBe(tokens[1])
      for (const value of tokens) expect(credentials.mask(`Bearer ${value}`)).toBe(`Bearer ${maskKey(value)}`)
    }))

  // Servers that hold nothing to mask: HTTP servers whose URL names no user, password or query and whose headers'
  // values (after a scheme) are too short to tell, stdio servers whose `env` values are too short too.
  const short = fc.string({ maxLength: 3 }).filter((value) => !/\s/.test(value))
  const nothingHeld = fc.dictionary(
    fc.string({ minLength: 1, maxLength: 8 }),
    fc.oneof(
      fc.record({
        url: fc.constantFrom("https://tools.example.com/mcp", "http://127.0.0.1:8080/", "https://mcp.example.org/a#b"),
        headers: fc.dictionary(fc.constantFrom("authorization", "x-api-key"), short.map(Redacted.make))
      }),
      fc.record({
        command: fc.constant("node"),
        env: fc.dictionary(fc.string({ maxLength: 8 }), short.map(Redacted.make))
      })
    )
  ) as fc.Arbitrary<Record<string, Gateway.McpServer>>
  // Any text an answer may carry, a cut ("…"), JSON written with spaces and events among it.
  const answerText = fc.array(
    fc.oneof(fc.string(), fc.constantFrom("…", "data: {\"text\": \"…\"}\n\n", "{ \"id\" : 1 }\n", "\n\n"))
  ).map((parts) => parts.join(""))

  // fast-check's arbitraries, run by fast-check itself (`it.effect.prop` takes Effect's own `Arbitrary`).
  it("servers that hold no credential: every answer, JSON or a stream, passed as it is, its bytes untouched", () =>
    fc.assert(
      fc.asyncProperty(
        nothingHeld,
        answerText,
        fc.boolean(),
        (held, text, stream) =>
          Effect.runPromise(Effect.gen(function*() {
            const credentials = Credentials.make(held)
            const response = stream ? streamed(text, [Math.floor(text.length / 2)]) : HttpServerResponse.text(text)
            const out = credentials.masked(response)
            expect(out).toBe(response)
            expect(yield* bodyText(out)).toBe(text)
          }))
      )
    ))
})
