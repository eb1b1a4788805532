/**
 * A budgeted key reserves each media part by what it is, not by the field it came in, over loopback with the official
 * `@google/genai` and `openai` clients against the simulator: a Gemini `fileData` YouTube URL, whose length cannot be
 * read, is refused (400) before the provider is called unless the model's pricing gives `media_seconds`; audio sent as
 * an `image_url` data URL is reserved as audio, by its seconds, and refused by a Chat Completions deployment, which
 * reads images only; a PDF is reserved by its pages; a reservation the budget cannot cover is refused (429).
 */
import { assert, describe, it } from "@effect/vitest"
import { ApiError, GoogleGenAI, type Part } from "@google/genai"
import * as Effect from "effect/Effect"
import OpenAI from "openai"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { budgetedGateway, simDeployment } from "../utils/adminApi.js"
import { rejection } from "../utils/gatewayHarness.js"
import { dataUrl, pdf, wav } from "../utils/media.js"

// A dollar a million tokens in and out: a budget of $0.01 holds 10,000 tokens.
const perMillion = { input_per_mtok: 1, output_per_mtok: 1 }
const budgetedKey = "gw-budget-media-key-3c5e7a9b1d"
const youtube = "https://www.youtube.com/watch?v=9hE5-98ZeCg"

const served = Effect.gen(function*() {
  const { gateway, simulator } = yield* budgetedGateway({
    name: "media",
    key: budgetedKey,
    models: ["gemini-sim", "gemini-clip"],
    sections: (simulator) => {
      const gemini = (model: string, pricing: Record<string, unknown>) => ({
        ...simDeployment(simulator, model, pricing),
        api: "gemini",
        base_url: simulator.url
      })
      return {
        sim: [simDeployment(simulator, "gpt-4o-mini", perMillion)],
        // gemini-clip's videos by URL are at most 30 seconds long: 7,890 tokens.
        google: [gemini("gemini-sim", perMillion), gemini("gemini-clip", { ...perMillion, media_seconds: 30 })]
      }
    }
  })
  const google = new GoogleGenAI({
    apiKey: budgetedKey,
    apiVersion: "v1beta",
    httpOptions: { baseUrl: new URL(gateway.url).origin, retryOptions: { attempts: 1 } }
  })
  const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: budgetedKey, maxRetries: 0 })
  return { simulator, gateway, google, openai }
})

/** A Gemini generateContent of a question and `part`: its text, or its refusal's status and message. */
const askGemini = (google: GoogleGenAI, model: string, part: Part) =>
  Effect.map(
    rejection(() =>
      google.models.generateContent({
        model,
        contents: [{ role: "user", parts: [{ text: "What is this?" }, part] }],
        config: { maxOutputTokens: 1 }
      })
    ),
    (error) => {
      if (error === undefined) return { status: 200, message: "" }
      assert.instanceOf(error, ApiError)
      return { status: error.status, message: error.message }
    }
  )

/** A chat completion of a question and an `image_url` part of `url`: 200, or its refusal's status and message. */
const askOpenAi = (openai: OpenAI, model: string, url: string) =>
  Effect.map(
    rejection(() =>
      openai.chat.completions.create({
        model,
        max_tokens: 1,
        messages: [{
          role: "user",
          content: [{ type: "text", text: "What is this?" }, { type: "image_url", image_url: { url } }]
        }]
      })
    ),
    (error) => {
      if (error === undefined) return { status: 200, message: "" }
      assert.instanceOf(error, OpenAI.APIError)
      return { status: error.status, message: error.message }
    }
  )

/** The reservation a budget refusal names (`cost up to $X`), in tokens at a dollar a million. */
const reservedTokens = (message: string): number => {
  const found = /cost up to \$([0-9.e-]+)/.exec(message)
  assert.isNotNull(found, message)
  return Math.round(Number(found![1]) * 1_000_000)
}

describe("a budgeted key reserves each media part by what it is", () => {
  it.live(
    "a Gemini fileData video URL is refused before the provider is called; with media_seconds it is reserved",
    () =>
      Effect.gen(function*() {
        const { google, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const video: Part = { fileData: { fileUri: youtube } }
        const refused = yield* askGemini(google, "gemini-sim", video)
        assert.strictEqual(refused.status, 400)
        assert.include(refused.message, "messages[0].content[1] is a video by URL")
        assert.include(refused.message, "pricing.media_seconds")
        // A stated type is read too: an uploaded file named a video is one.
        const uploaded = yield* askGemini(google, "gemini-sim", {
          fileData: { fileUri: "https://generativelanguage.googleapis.com/v1beta/files/abc", mimeType: "video/mp4" }
        })
        assert.strictEqual(uploaded.status, 400)
        assert.include(uploaded.message, "a video (video/mp4) by URL")
        assert.strictEqual((yield* simulator.stats).requests, before)
        // 30 seconds at 263 tokens: within $0.01, so the call is made.
        assert.strictEqual((yield* askGemini(google, "gemini-clip", video)).status, 200)
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "audio in an image_url data URL is reserved as audio by its seconds; a Chat Completions deployment refuses it",
    () =>
      Effect.gen(function*() {
        const { openai, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        // 100 seconds at 32 tokens: 3,200, where an image would be reserved at 50,000 ($0.05, past the budget).
        const short = dataUrl("audio/wav", wav(100, 500))
        assert.strictEqual((yield* askOpenAi(openai, "gemini-sim", short)).status, 200)
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
        // 400 seconds: 12,800 tokens, past $0.01, refused before the provider is called.
        const long = yield* askOpenAi(openai, "gemini-sim", dataUrl("audio/wav", wav(400, 500)))
        assert.strictEqual(long.status, 429)
        const reserved = reservedTokens(long.message)
        assert.isAtLeast(reserved, 400 * 32)
        assert.isBelow(reserved, 400 * 32 + 100)
        // A Chat Completions deployment reads images only: the audio part is refused by its path.
        const refused = yield* askOpenAi(openai, "gpt-4o-mini", short)
        assert.strictEqual(refused.status, 400)
        assert.include(refused.message, "messages[0].content[1] is audio (audio/wav)")
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a PDF is reserved by its pages, 258 tokens each: 30 pages fit a $0.01 budget, 50 do not",
    () =>
      Effect.gen(function*() {
        const { google, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const document = (pages: number): Part => ({
          inlineData: { mimeType: "application/pdf", data: pdf(pages).toString("base64") }
        })
        assert.strictEqual((yield* askGemini(google, "gemini-sim", document(30))).status, 200)
        const refused = yield* askGemini(google, "gemini-sim", document(50))
        assert.strictEqual(refused.status, 429)
        const reserved = reservedTokens(refused.message)
        assert.isAtLeast(reserved, 50 * 258)
        assert.isBelow(reserved, 50 * 258 + 100)
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
