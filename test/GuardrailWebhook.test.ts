/**
 * The webhook contract and OpenAI's moderation endpoint against local servers: what is posted, each verdict, and a
 * webhook that is slow, down or answers garbage under both failure policies.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as HttpClient from "effect/http/HttpClient"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import type * as http from "node:http"
import * as Guardrail from "../src/Guardrail.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { freePort } from "./utils/freePort.js"
import { serve } from "./utils/loopbackServer.js"

interface Seen {
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: unknown
}

/** A server that records each request and answers by its path; `/slow` never answers and says it was reached. */
function webhookServer(reached: Deferred.Deferred<void>) {
  const seen: Array<Seen> = []
  const answers: Record<string, readonly [number, string]> = {
    "/pass": [200, JSON.stringify({ verdict: "pass" })],
    "/mask": [200, JSON.stringify({ verdict: "mask", spans: [{ start: 0, end: 4, replacement: "****" }] })],
    "/block": [200, JSON.stringify({ verdict: "block", reason: "policy says no" })],
    "/not-json": [200, "<html>oops</html>"],
    "/not-a-verdict": [200, JSON.stringify({ verdict: "maybe" })],
    "/bad-span": [200, JSON.stringify({ verdict: "mask", spans: [{ start: 2, end: 999 }] })],
    "/error": [500, JSON.stringify({ error: "down" })],
    "/moderation/v1/moderations": [200, ""]
  }
  return Effect.map(
    serve((req, res) => {
      let body = ""
      req.on("data", (data) => body += data)
      req.on("end", () => {
        const parsed = JSON.parse(body)
        seen.push({ path: req.url ?? "", headers: req.headers, body: parsed })
        if (req.url === "/slow") {
          Deferred.doneUnsafe(reached, Exit.void)
          return
        }
        if (req.url?.endsWith("/moderations")) return moderationAnswer(req, res, parsed)
        const [status, text] = answers[req.url ?? ""] ?? [404, "{}"]
        res.writeHead(status, { "content-type": "application/json" })
        res.end(text)
      })
    }),
    (server) => ({ server, seen })
  )
}

const moderationKey = "sk-moderation-test-000000000000001"

/** OpenAI's moderation answer: flags `violence` for a text with "attack", `harassment` with "idiot"; 401 on a bad key. */
function moderationAnswer(req: http.IncomingMessage, res: http.ServerResponse, body: { readonly input: string }) {
  if (req.headers.authorization !== `Bearer ${moderationKey}`) {
    res.writeHead(401, { "content-type": "application/json" })
    res.end(
      JSON.stringify({
        error: {
          message: `Incorrect API key provided: ${req.headers.authorization}`,
          type: "invalid_request_error",
          code: "invalid_api_key"
        }
      })
    )
    return
  }
  const violence = body.input.includes("attack")
  const harassment = body.input.includes("idiot")
  res.writeHead(200, { "content-type": "application/json" })
  res.end(JSON.stringify({
    id: "modr-1",
    model: "omni-moderation-latest",
    results: [{
      flagged: violence || harassment,
      categories: { violence, harassment, "self-harm": false, sexual: false, "illicit/violent": null },
      category_scores: { violence: violence ? 0.9 : 0.01, harassment: harassment ? 0.9 : 0.01 }
    }]
  }))
}

const live = <A, E>(effect: Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>) =>
  effect.pipe(Effect.provide(UndiciHttpClient.layer()), Effect.scoped)

const context: Guardrail.CheckContext = { guardrail: "policy", where: "request", model: "gpt-4o" }

describe("Guardrail.webhook", () => {
  it.live("posts the text and its context, sends its headers, and reads each verdict", () =>
    live(Effect.gen(function*() {
      const { seen, server } = yield* webhookServer(yield* Deferred.make<void>())
      const hook = (path: string) =>
        Guardrail.webhook({
          name: "policy",
          url: `${server.url}${path}`,
          headers: { authorization: Redacted.make("Bearer hook-secret"), "x-team": "blue" }
        })
      const pass = yield* hook("/pass")
      expect(yield* pass.check("some text", context)).toEqual({ _tag: "Pass" })
      expect(seen[0]!.body).toEqual({
        guardrail: "policy",
        text: "some text",
        context: { where: "request", model: "gpt-4o" }
      })
      expect(seen[0]!.headers.authorization).toBe("Bearer hook-secret")
      expect(seen[0]!.headers["x-team"]).toBe("blue")
      const masked = yield* (yield* hook("/mask")).check("abcdefgh", context)
      expect(masked).toEqual({
        _tag: "Mask",
        spans: [{ start: 0, end: 4, replacement: "****", label: "webhook finding" }]
      })
      expect(yield* (yield* hook("/block")).check("x", context)).toEqual({ _tag: "Block", reason: "policy says no" })
      // Through a chain: the mask applied, the block a GuardrailError.
      expect(yield* Guardrail.checkText([yield* hook("/mask")], "abcdefgh", { where: "request" })).toBe("****efgh")
      const error = yield* Effect.flip(Guardrail.checkText([yield* hook("/block")], "x", { where: "request" }))
      expect(error).toMatchObject({ _tag: "GuardrailError", guardrail: "policy", reason: "policy says no" })
    })))

  for (const onError of ["closed", "open"] as const) {
    it.live(`a webhook that is down or answers garbage, ${onError}: ${onError === "closed" ? "a block" : "a pass"}`, () =>
      live(Effect.gen(function*() {
        const { server } = yield* webhookServer(yield* Deferred.make<void>())
        const down = `http://127.0.0.1:${yield* Effect.promise(freePort)}/check`
        const failures: ReadonlyArray<readonly [string, string]> = [
          [down, "the webhook could not be reached"],
          [`${server.url}/error`, "the webhook answered 500"],
          [`${server.url}/not-json`, "the answer is not JSON"],
          [`${server.url}/not-a-verdict`, "the answer is not a verdict"],
          [`${server.url}/bad-span`, "a mask's span is outside the text"]
        ]
        for (const [url, what] of failures) {
          const hook = yield* Guardrail.webhook({ name: "policy", url, onError })
          const verdict = yield* hook.check("some text", context)
          expect(verdict, url).toEqual(
            onError === "closed" ? { _tag: "Block", reason: `the check failed: ${what}` } : { _tag: "Pass" }
          )
        }
      })))

    it.effect(`a slow webhook, ${onError}: past its timeout on the Clock, ${onError === "closed" ? "a block" : "a pass"}`, () =>
      live(Effect.gen(function*() {
        const reached = yield* Deferred.make<void>()
        const { server } = yield* webhookServer(reached)
        const hook = yield* Guardrail.webhook({
          name: "policy",
          url: `${server.url}/slow`,
          timeout: "500 millis",
          onError
        })
        const fiber = yield* Effect.forkChild(hook.check("some text", context))
        yield* Deferred.await(reached)
        yield* TestClock.adjust("499 millis")
        expect(fiber.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        const verdict = yield* Fiber.join(fiber)
        expect(verdict).toEqual(
          onError === "closed"
            ? { _tag: "Block", reason: "the check failed: no answer within 500ms" }
            : { _tag: "Pass" }
        )
      })))
  }

  it.effect("bad options are refused, naming them", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Guardrail.webhook({ name: "policy", url: "ftp://nowhere", timeout: "-1 millis", mode: "window" })
      )
      expect(error._tag).toBe("OptionsError")
      expect(error.message).toContain("url must be an http or https URL")
      expect(error.message).toContain("timeout must be a positive, finite duration")
      const window = yield* Effect.flip(
        Guardrail.webhook({ name: "policy", url: "http://127.0.0.1:1/", mode: "window" })
      )
      expect(window.message).toContain("overlap must be set in window mode when the check's longest match is unknown")
    }).pipe(Effect.provide(UndiciHttpClient.layer())))
})

describe("Guardrail.moderation", () => {
  it.live("blocks what the endpoint flags, naming the categories; passes the rest; the key masked on failure", () =>
    live(Effect.gen(function*() {
      const { seen, server } = yield* webhookServer(yield* Deferred.make<void>())
      const baseUrl = `${server.url}/moderation/v1`
      const moderation = yield* Guardrail.moderation({ apiKey: Redacted.make(moderationKey), baseUrl })
      expect(moderation.name).toBe("openai-moderation")
      expect(yield* moderation.check("a calm text", context)).toEqual({ _tag: "Pass" })
      expect(yield* moderation.check("attack, idiot", context)).toEqual({
        _tag: "Block",
        reason: "flagged as violence, harassment"
      })
      expect(seen.at(-1)!.body).toEqual({ model: "omni-moderation-latest", input: "attack, idiot" })
      const onlyViolence = yield* Guardrail.moderation({
        apiKey: Redacted.make(moderationKey),
        baseUrl,
        categories: ["violence"]
      })
      expect(yield* onlyViolence.check("idiot", context)).toEqual({ _tag: "Pass" })
      const wrongKey = "sk-wrong-key-000000000000000000001"
      const refused = yield* Guardrail.moderation({ apiKey: Redacted.make(wrongKey), baseUrl })
      const verdict = yield* refused.check("a calm text", context)
      expect(verdict).toEqual({ _tag: "Block", reason: "the check failed: the moderation endpoint failed (AuthError)" })
      expect(JSON.stringify(verdict)).not.toContain(wrongKey)
      const open = yield* Guardrail.moderation({ apiKey: Redacted.make(wrongKey), baseUrl, onError: "open" })
      expect(yield* open.check("a calm text", context)).toEqual({ _tag: "Pass" })
    })))
})
