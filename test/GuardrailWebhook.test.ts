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
        if (req.url?.startsWith("/batch")) return batchAnswer(req.url, res, parsed)
        const [status, text] = answers[req.url ?? ""] ?? [404, "{}"]
        res.writeHead(status, { "content-type": "application/json" })
        res.end(text)
      })
    }),
    (server) => ({ server, seen })
  )
}

/**
 * A webhook taking a list: a verdict for each of `texts` (a block for "secret", a mask of the first four characters
 * for "mask", else a pass); `/batch-short` answers one too few.
 */
function batchAnswer(path: string, res: http.ServerResponse, body: { readonly texts: ReadonlyArray<string> }) {
  const verdicts = body.texts.map((text) =>
    text.includes("secret")
      ? { verdict: "block", reason: "no secrets" }
      : text.includes("mask")
      ? { verdict: "mask", spans: [{ start: 0, end: 4 }] }
      : { verdict: "pass" }
  )
  res.writeHead(200, { "content-type": "application/json" })
  res.end(JSON.stringify({ verdicts: path === "/batch-short" ? verdicts.slice(1) : verdicts }))
}

const moderationKey = "sk-moderation-test-000000000000001"

/** OpenAI's moderation answer: flags `violence` for a text with "attack", `harassment` with "idiot"; 401 on a bad key. */
function moderationAnswer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: { readonly input: string | ReadonlyArray<string> }
) {
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
  const inputs = typeof body.input === "string" ? [body.input] : body.input
  res.writeHead(200, { "content-type": "application/json" })
  res.end(JSON.stringify({
    id: "modr-1",
    model: "omni-moderation-latest",
    results: inputs.map((input) => {
      const violence = input.includes("attack")
      const harassment = input.includes("idiot")
      return {
        flagged: violence || harassment,
        categories: { violence, harassment, "self-harm": false, sexual: false, "illicit/violent": null },
        category_scores: { violence: violence ? 0.9 : 0.01, harassment: harassment ? 0.9 : 0.01 }
      }
    })
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

  it.live("several texts: a batch webhook gets one post of `texts` and answers a verdict each; one text a post else", () =>
    live(Effect.gen(function*() {
      const { seen, server } = yield* webhookServer(yield* Deferred.make<void>())
      const texts = ["plain words", "mask this", "a secret here", "fine"]
      const batch = yield* Guardrail.webhook({ name: "policy", url: `${server.url}/batch`, batch: true })
      expect(yield* batch.checkAll(texts, context)).toEqual([
        { _tag: "Pass" },
        { _tag: "Mask", spans: [{ start: 0, end: 4, label: "webhook finding", replacement: "[REDACTED:policy]" }] },
        { _tag: "Block", reason: "no secrets" },
        { _tag: "Pass" }
      ])
      expect(seen.map((one) => one.body)).toEqual([
        { guardrail: "policy", texts, context: { where: "request", model: "gpt-4o" } }
      ])
      // A single text to a batch webhook is a list of one.
      expect(yield* batch.check("mask me", context)).toMatchObject({ _tag: "Mask" })
      expect(seen[1]!.body).toMatchObject({ texts: ["mask me"] })
      // Not one verdict for each text: the check failed for every text, by the policy.
      for (const onError of ["closed", "open"] as const) {
        const short = yield* Guardrail.webhook({
          name: "policy",
          url: `${server.url}/batch-short`,
          batch: true,
          onError
        })
        const failed = onError === "closed"
          ? {
            _tag: "Block",
            reason: "the check failed: the answer is not a list of 4 verdicts, one for each text"
          }
          : { _tag: "Pass" }
        expect(yield* short.checkAll(texts, context)).toEqual(texts.map(() => failed))
      }
      // A webhook written for one text gets one post a text, as before.
      const before = seen.length
      const single = yield* Guardrail.webhook({ name: "policy", url: `${server.url}/mask` })
      expect((yield* single.checkAll(["abcdef", "ghijkl"], context)).map((verdict) => verdict._tag)).toEqual([
        "Mask",
        "Mask"
      ])
      expect(seen.slice(before).map((one) => one.body)).toEqual([
        { guardrail: "policy", text: "abcdef", context: { where: "request", model: "gpt-4o" } },
        { guardrail: "policy", text: "ghijkl", context: { where: "request", model: "gpt-4o" } }
      ])
      expect(yield* Effect.flip(Guardrail.webhook({ name: "policy", url: server.url, batch: "yes" as never })))
        .toMatchObject({ _tag: "OptionsError", option: "batch" })
    })))

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
      // Several texts: one post, `input` a list, a result for each.
      const before = seen.length
      expect(yield* moderation.checkAll(["calm", "an attack", "idiot"], context)).toEqual([
        { _tag: "Pass" },
        { _tag: "Block", reason: "flagged as violence" },
        { _tag: "Block", reason: "flagged as harassment" }
      ])
      expect(seen.slice(before).map((one) => one.body)).toEqual([
        { model: "omni-moderation-latest", input: ["calm", "an attack", "idiot"] }
      ])
    })))
})
