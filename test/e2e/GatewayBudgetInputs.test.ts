/**
 * A budgeted key's reservation bounds every billable input, over loopback against the simulator: images counted at
 * the most an image costs (`Pricing.defaultImageTokens` unless the model's pricing says `image_tokens`), a request
 * with tools the provider's own tool prompt too; a request of 400 images on a $0.01 budget is refused before the
 * provider is called, one image fits; an input the gateway cannot bound (audio, a file) is refused as it cannot be
 * read. A request asking for a service tier the model prices (`service_tier`, in any dialect that has one) is reserved
 * at that tier's prices, and one asking for `auto` or naming none at priority's, which the provider may serve it at
 * (unset, `service_tier` is `auto`). A reply limit
 * below the least a Responses deployment sends (16) is reserved at 16.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { budgetedGateway, simDeployment } from "../utils/adminApi.js"

const tinyKey = "gw-budget-inputs-tiny-7a9c1e3f5b"
// A one-pixel PNG, as a data URL.
const pixel =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"

const served = budgetedGateway({
  name: "tiny",
  key: tinyKey,
  models: ["vision-priced", "tiered", "by-the-token", "by-the-token-chat"],
  sections: (simulator) => ({
    sim: [
      simDeployment(simulator, "gpt-4o-mini", { input_per_mtok: 0.15, output_per_mtok: 0.6 }),
      simDeployment(simulator, "tiered", {
        input_per_mtok: 0.15,
        output_per_mtok: 0.6,
        service_tiers: { priority: { input_per_mtok: 15, output_per_mtok: 60 } }
      }),
      simDeployment(simulator, "vision-priced", { input_per_mtok: 0.15, output_per_mtok: 0.6, image_tokens: 1_445 }),
      // A tenth of a cent an output token: one fits the $0.01 budget, sixteen do not.
      { ...simDeployment(simulator, "by-the-token", { input_per_mtok: 0, output_per_mtok: 1_000 }), api: "responses" },
      simDeployment(simulator, "by-the-token-chat", { input_per_mtok: 0, output_per_mtok: 1_000 })
    ]
  })
})

/** A chat with `parts` as its user message's content, with the tiny key: its status and error code. */
const ask = (url: string, model: string, parts: ReadonlyArray<unknown>) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${tinyKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model, max_tokens: 1, messages: [{ role: "user", content: parts }] })
    })
    const body = await response.json() as { readonly error?: { readonly code?: string; readonly message?: string } }
    return { status: response.status, code: body.error?.code, message: body.error?.message }
  })

const images = (count: number) => [
  { type: "text", text: "What is in these?" },
  ...Array.from({ length: count }, () => ({ type: "image_url", image_url: { url: pixel } }))
]

describe("a budgeted key's reservation bounds every billable input", () => {
  it.live(
    "400 images on a $0.01 budget are refused before the provider is called; one image fits",
    () =>
      Effect.gen(function*() {
        const { gateway, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const many = yield* ask(gateway.url, "gpt-4o-mini", images(400))
        assert.deepStrictEqual([many.status, many.code], [429, "insufficient_quota"])
        assert.strictEqual((yield* simulator.stats).requests, before)
        // One image, counted at 50,000 tokens of $0.15 a million: $0.0075, within the budget.
        const one = yield* ask(gateway.url, "gpt-4o-mini", images(1))
        assert.strictEqual(one.status, 200)
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a model whose pricing says image_tokens is reserved by it: six images fit where one did",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* served
        // 6 × 1,445 tokens at $0.15 a million is $0.0013; at the default bound it would be $0.045.
        assert.strictEqual((yield* ask(gateway.url, "vision-priced", images(6))).status, 200)
        assert.strictEqual((yield* ask(gateway.url, "gpt-4o-mini", images(6))).status, 429)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "audio and files, which the gateway cannot bound, are refused (400) before the provider is called",
    () =>
      Effect.gen(function*() {
        const { gateway, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        for (
          const part of [
            { type: "input_audio", input_audio: { data: "AAAA", format: "wav" } },
            { type: "file", file: { file_id: "file-abc" } }
          ]
        ) {
          const answer = yield* ask(gateway.url, "gpt-4o-mini", [{ type: "text", text: "Listen" }, part])
          assert.strictEqual(answer.status, 400)
          assert.include(answer.message, "messages[0].content[1]")
        }
        assert.strictEqual((yield* simulator.stats).requests, before)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a request asking for a priced service tier is reserved at it, in each dialect's spelling",
    () =>
      Effect.gen(function*() {
        const { gateway, simulator } = yield* served
        // 8,000 characters: at most about $0.0012 at the standard $0.15 a million, $0.12 at priority's $15.
        const text = "a".repeat(8_000)
        // Anthropic's `service_tier` is `auto` or `standard_only`; the OpenAI wires' are the others.
        const anthropic = (tier: string | undefined) =>
          tier === undefined || tier === "auto" || tier === "standard_only"
        const openAi = (tier: string | undefined) => tier !== "standard_only"
        const requests = (tier: string | undefined) => {
          const asked = tier === undefined ? {} : { service_tier: tier }
          const all = [
            {
              path: "/v1/chat/completions",
              body: { model: "tiered", max_tokens: 1, messages: [{ role: "user", content: text }], ...asked }
            },
            { path: "/v1/responses", body: { model: "tiered", max_output_tokens: 16, input: text, ...asked } },
            {
              path: "/v1/messages",
              body: { model: "tiered", max_tokens: 1, messages: [{ role: "user", content: text }], ...asked }
            }
          ]
          return all.filter((request) => request.path === "/v1/messages" ? anthropic(tier) : openAi(tier))
        }
        const send = (request: { readonly path: string; readonly body: unknown }) =>
          Effect.promise(() =>
            fetch(`${gateway.url}${request.path}`, {
              method: "POST",
              headers: { authorization: `Bearer ${tinyKey}`, "x-api-key": tinyKey, "content-type": "application/json" },
              body: JSON.stringify(request.body)
            }).then(async (response) => ({ status: response.status, text: await response.text() }))
          )
        // `auto` leaves the tier to the provider, which may serve it at priority (Anthropic's Priority Tier capacity,
        // an OpenAI project's default tier): reserved at priority too, and so is a request naming none, served as
        // `auto`.
        for (const tier of [undefined, "priority", "fast", "auto"]) {
          for (const request of requests(tier)) {
            const before = (yield* simulator.stats).requests
            const answer = yield* send(request)
            assert.strictEqual(answer.status, 429, `${request.path} at ${tier}: ${answer.text}`)
            assert.strictEqual((yield* simulator.stats).requests, before)
          }
        }
        for (const tier of ["default", "flex", "standard_only"]) {
          for (const request of requests(tier)) {
            const answer = yield* send(request)
            assert.strictEqual(answer.status, 200, `${request.path} at ${tier}: ${answer.text}`)
          }
        }
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a reply limit below 16, routed to a Responses deployment, is reserved at the 16 it is sent as, in every dialect",
    () =>
      Effect.gen(function*() {
        const { gateway, simulator } = yield* served
        const headers = { authorization: `Bearer ${tinyKey}`, "x-api-key": tinyKey, "content-type": "application/json" }
        const requests = (model: string) => [
          { path: "/v1/chat/completions", body: { model, max_tokens: 1, messages: [{ role: "user", content: "Hi" }] } },
          {
            path: "/v1/messages",
            body: { model, max_tokens: 1, messages: [{ role: "user", content: "Hi" }] }
          },
          {
            path: `/v1beta/models/${model}:generateContent`,
            body: { contents: [{ role: "user", parts: [{ text: "Hi" }] }], generationConfig: { maxOutputTokens: 1 } }
          }
        ]
        const send = (request: { readonly path: string; readonly body: unknown }) =>
          Effect.promise(() =>
            fetch(`${gateway.url}${request.path}`, { method: "POST", headers, body: JSON.stringify(request.body) })
              .then(async (response) => ({ status: response.status, text: await response.text() }))
          )
        for (const request of requests("by-the-token")) {
          const before = (yield* simulator.stats).requests
          const answer = yield* send(request)
          // 16 tokens at $0.001 is $0.016, past the $0.01 budget: refused before the provider is called.
          assert.strictEqual(answer.status, 429, `${request.path}: ${answer.text}`)
          assert.strictEqual((yield* simulator.stats).requests, before)
        }
        // The same price through Chat Completions, which sends the limit as asked: one token, $0.001, fits.
        for (const request of requests("by-the-token-chat")) {
          const answer = yield* send(request)
          assert.strictEqual(answer.status, 200, `${request.path}: ${answer.text}`)
        }
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
