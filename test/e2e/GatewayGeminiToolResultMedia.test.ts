/**
 * A Gemini function response that carries media in its own `parts` (Gemini 3's multimodal function responses), sent
 * through the gateway by the official `@google/genai` client: a Gemini deployment (a recording upstream) is sent the
 * function response as the client wrote it, its parts' names and the response's `$ref`s to them kept; the budget
 * reserves a PDF there by its pages as it does a user turn's; a Chat Completions deployment, whose tool messages take
 * text only, is sent the media in a user message after them; a medium Gemini does not take in a function response
 * (audio) is refused by its path.
 */
import { assert, describe, it } from "@effect/vitest"
import { ApiError, type Content, GoogleGenAI } from "@google/genai"
import * as Effect from "effect/Effect"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { budgetedGateway, providerKey, simDeployment } from "../utils/adminApi.js"
import { recordingUpstream, reservedTokens } from "../utils/anthropicUpstream.js"
import { rejection } from "../utils/gatewayHarness.js"
import { pdf, wav } from "../utils/media.js"

// A dollar a million tokens in and out: the key's budget of $0.01 holds 10,000 tokens, a PDF page 258 of them, and
// an image as many.
const perMillion = { input_per_mtok: 1, output_per_mtok: 1, image_tokens: 258 }
const budgetedKey = "gw-gemini-tool-media-key-5b7d9f1a3c"
const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

/** A Gemini upstream that keeps each body it is sent and answers "A chart." */
const recordingGemini = recordingUpstream({
  candidates: [{ content: { role: "model", parts: [{ text: "A chart." }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 3, totalTokenCount: 15 },
  modelVersion: "gemini-recorded"
})

const served = Effect.gen(function*() {
  const { bodies, url } = yield* recordingGemini
  const { gateway, simulator } = yield* budgetedGateway({
    name: "gemini-tool-media",
    key: budgetedKey,
    models: [],
    sections: (simulator) => ({
      sim: [simDeployment(simulator, "gpt-4o-mini", perMillion)],
      google: [{
        model_name: "gemini-recorded",
        api: "gemini",
        base_url: url,
        api_keys: [providerKey],
        max_retries: 0,
        pricing: perMillion
      }]
    })
  })
  const google = new GoogleGenAI({
    apiKey: budgetedKey,
    apiVersion: "v1beta",
    httpOptions: { baseUrl: new URL(gateway.url).origin, retryOptions: { attempts: 1 } }
  })
  return { google, bodies, simulator }
})

// A conversation whose last turn answers a function call with a note, a chart it references and a PDF of `pages`.
const conversation = (pages: number, extra: ReadonlyArray<Record<string, unknown>> = []): Array<Content> => [
  { role: "user", parts: [{ text: "Chart the quarterly report." }] },
  { role: "model", parts: [{ functionCall: { id: "fc-1", name: "chart_report", args: { quarter: 3 } } }] },
  {
    role: "user",
    parts: [{
      functionResponse: {
        id: "fc-1",
        name: "chart_report",
        response: { note: "Drawn from the filed report.", chart: { $ref: "chart.png" } },
        parts: [
          { inlineData: { mimeType: "image/png", data: png, displayName: "chart.png" } },
          { inlineData: { mimeType: "application/pdf", data: pdf(pages).toString("base64") } },
          ...extra
        ]
      }
    }]
  }
]

/** A generateContent of `contents` to `model`: 200, or its refusal's status and message. */
const ask = (google: GoogleGenAI, model: string, contents: Array<Content>) =>
  Effect.map(
    rejection(() => google.models.generateContent({ model, contents, config: { maxOutputTokens: 16 } })),
    (error) => {
      if (error === undefined) return { status: 200, message: "" }
      assert.instanceOf(error, ApiError)
      return { status: error.status, message: error.message }
    }
  )

describe("media in a Gemini function response", () => {
  it.live(
    "reach a Gemini deployment as the client wrote them, reserved by what they are",
    () =>
      Effect.gen(function*() {
        const { bodies, google } = yield* served
        const sent = conversation(30)
        // 30 pages at 258 tokens and an image fit $0.01: the call is made, the function response carried whole.
        assert.deepStrictEqual(yield* ask(google, "gemini-recorded", sent), { status: 200, message: "" })
        assert.strictEqual(bodies.length, 1)
        // (The unsigned call is sent with the signature Gemini documents for calls made elsewhere; not asserted here.)
        assert.deepStrictEqual((bodies[0]!["contents"] as ReadonlyArray<unknown>)[2], sent[2])
        // 50 pages do not: refused before the provider is called, the reservation the PDF's pages and the image.
        const refused = yield* ask(google, "gemini-recorded", conversation(50))
        assert.strictEqual(refused.status, 429)
        assert.isAtLeast(reservedTokens(refused.message), 51 * 258)
        assert.isBelow(reservedTokens(refused.message), 51 * 258 + 300)
        assert.strictEqual(bodies.length, 1)
        // Audio is no type Gemini takes in a function response: refused by its path, nothing sent.
        const audio = { inlineData: { mimeType: "audio/wav", data: wav(1, 8000).toString("base64") } }
        const wrong = yield* ask(google, "gemini-recorded", conversation(1, [audio]))
        assert.strictEqual(wrong.status, 400)
        assert.include(wrong.message, "contents[2].parts[0].functionResponse.parts[2]")
        assert.include(wrong.message, "audio (audio/wav)")
        assert.strictEqual(bodies.length, 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "reach a Chat Completions deployment in a user message after the tool message",
    () =>
      Effect.gen(function*() {
        const { google, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const answered = yield* ask(google, "gpt-4o-mini", conversation(1))
        assert.strictEqual(answered.status, 200, answered.message)
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
