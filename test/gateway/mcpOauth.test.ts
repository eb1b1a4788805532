/**
 * An HTTP MCP server's OAuth token (`internal/gateway/mcp/oauth.ts`, over `providers/renewing.ts`) on a `TestClock`:
 * granted once and shared by concurrent calls, asked for again 5 minutes before its `expires_in`, dropped by a refusal
 * only while it is the one held (so concurrent refusals ask once), held without `expires_in` until refused; a refused
 * grant's failure names the endpoint and never the secret. The token endpoint is an `HttpClient` answering in memory.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/testing/TestClock"
import { clientCredentials } from "../../src/internal/gateway/mcp/oauth.js"

const credentials = {
  tokenUrl: "https://auth.example.com/oauth/token",
  clientId: "gateway",
  clientSecret: Redacted.make("client-secret-value-77"),
  scope: "tools"
}

// A token endpoint: each grant answered by `answer(n)` (n from 1), its bodies kept.
function endpoint(answer: (grant: number) => { readonly status: number; readonly body: unknown }) {
  const bodies: Array<string> = []
  const http = HttpClient.make((request) =>
    Effect.sync(() => {
      const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
      bodies.push(body)
      const { body: reply, status } = answer(bodies.length)
      return HttpClientResponse.fromWeb(request, new Response(JSON.stringify(reply), { status }))
    })
  )
  return { http, bodies }
}

describe("MCP OAuth client credentials", () => {
  it.effect("one grant shared by concurrent calls; asked for again 5 minutes before it expires", () =>
    Effect.gen(function*() {
      const token = endpoint((n) => ({ status: 200, body: { access_token: `t${n}`, expires_in: 3600 } }))
      const held = clientCredentials("search", credentials, token.http)
      const values = yield* Effect.all(Array.from({ length: 5 }, () => held.current), { concurrency: "unbounded" })
      expect(values.map(Redacted.value)).toEqual(["t1", "t1", "t1", "t1", "t1"])
      expect(Object.fromEntries(new URLSearchParams(token.bodies[0]))).toEqual({
        grant_type: "client_credentials",
        client_id: "gateway",
        client_secret: "client-secret-value-77",
        scope: "tools"
      })
      yield* TestClock.adjust("54 minutes")
      expect(Redacted.value(yield* held.current)).toBe("t1")
      yield* TestClock.adjust("1 minute")
      expect(Redacted.value(yield* held.current)).toBe("t2")
      expect(token.bodies.length).toBe(2)
    }))

  it.effect("a refused token is dropped once however many calls saw it refused; one without expires_in is held", () =>
    Effect.gen(function*() {
      const token = endpoint((n) => ({ status: 200, body: { access_token: `t${n}` } }))
      const held = clientCredentials("search", credentials, token.http)
      const first = yield* held.current
      yield* TestClock.adjust("365 days")
      expect(Redacted.value(yield* held.current)).toBe("t1")
      yield* Effect.all([held.expire(first), held.expire(first)])
      const second = yield* held.current
      expect(Redacted.value(second)).toBe("t2")
      // A late refusal of the first token leaves the second alone.
      yield* held.expire(first)
      expect(Redacted.value(yield* held.current)).toBe("t2")
      expect(token.bodies.length).toBe(2)
    }))

  it.effect("a refused grant fails naming the server's endpoint and its answer, never the secret nor its address", () =>
    Effect.gen(function*() {
      const token = endpoint(() => ({ status: 401, body: { error: "invalid_client" } }))
      const detail = yield* Effect.flip(clientCredentials("search", credentials, token.http).current)
      expect(detail).toBe(
        "the OAuth token endpoint of the MCP server search answered 401: {\"error\":\"invalid_client\"}"
      )
      const empty = endpoint(() => ({ status: 200, body: { token: "no" } }))
      const missing = yield* Effect.flip(clientCredentials("search", credentials, empty.http).current)
      expect(missing).toContain("answered no access_token in JSON")
      expect(`${detail} ${missing}`).not.toContain("client-secret-value-77")
      expect(`${detail} ${missing}`).not.toContain("auth.example.com")
    }))

  it.effect("an answer quoting the grant's form holds no piece of the secret, wherever the quote's cut falls", () =>
    Effect.gen(function*() {
      const secret = "Zq9-Kx7w-Vb41-Pm3t"
      const form = `grant_type=client_credentials&client_id=gateway&client_secret=${secret}&scope=tools`
      // Every length of text before the form, so that the quote's cut falls before, across and after the secret.
      for (let padding = 0; padding <= 340; padding++) {
        const http = HttpClient.make((request) =>
          Effect.succeed(
            HttpClientResponse.fromWeb(request, new Response(`${"x".repeat(padding)} ${form}`, { status: 400 }))
          )
        )
        const detail = yield* Effect.flip(
          clientCredentials("search", { ...credentials, clientSecret: Redacted.make(secret) }, http).current
        )
        expect(detail).toMatch(/^the OAuth token endpoint of the MCP server search answered 400: x*/)
        // Five characters: the masked id shows the secret's first three and last four.
        for (let start = 0; start + 5 <= secret.length; start++) {
          expect(detail, `${padding}`).not.toContain(secret.slice(start, start + 5))
        }
      }
    }))
})
