/**
 * A budgeted key reserves each media part by what it is, not by the field it came in, over loopback with the official
 * `@google/genai`, `openai` and `@anthropic-ai/sdk` clients against the simulator: a part by URL that a Gemini
 * deployment fetches as whatever it holds (a YouTube URL, however spelled, whatever type it is declared; a `gs://`
 * object of no stated type) is reserved at the model's context window, the most the call can bill, and refused (400)
 * before the provider is called for a model of none; ten such calls at once on a $0.50 budget, to an upstream that
 * bills the video's tokens, are held to the budget; audio sent as an `image_url` data URL
 * is reserved as audio, by its seconds, and refused by a Chat Completions deployment, which reads images only; a
 * remote video URL in an `image_url` is refused (400) as the YouTube one is; a PDF is
 * reserved by its pages, an Anthropic `document` block's too (base64 or by URL), sent to an Anthropic deployment as
 * the client wrote it (a recording upstream) and refused by a Chat Completions one; a reservation the budget cannot
 * cover is refused (429).
 */
import Anthropic from "@anthropic-ai/sdk"
import { assert, describe, it } from "@effect/vitest"
import { ApiError, GoogleGenAI, type Part } from "@google/genai"
import * as Effect from "effect/Effect"
import OpenAI from "openai"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { adminKey, budgetedGateway, gatewayOn, providerKey, simDeployment } from "../utils/adminApi.js"
import { anthropicOutcome, recordingAnthropic, recordingUpstream, reservedTokens } from "../utils/anthropicUpstream.js"
import { rejection } from "../utils/gatewayHarness.js"
import { dataUrl, pdf, wav } from "../utils/media.js"
import { namedForms } from "../utils/mediaUrls.js"

// A dollar a million tokens in and out: a budget of $0.01 holds 10,000 tokens.
const perMillion = { input_per_mtok: 1, output_per_mtok: 1 }
const budgetedKey = "gw-budget-media-key-3c5e7a9b1d"
const youtube = "https://www.youtube.com/watch?v=9hE5-98ZeCg"

const served = Effect.gen(function*() {
  const { gateway, simulator } = yield* budgetedGateway({
    name: "media",
    key: budgetedKey,
    models: ["gemini-sim", "gemini-window", "gemini-wide", "gemini-refusing", "claude-sim", "claude-pages"],
    sections: (simulator) => {
      const onSimulator = (model: string, api: string, pricing: Record<string, unknown>, window?: number) => ({
        ...simDeployment(simulator, model, pricing),
        api,
        base_url: simulator.url,
        ...(window === undefined ? {} : { context_window: window })
      })
      return {
        sim: [simDeployment(simulator, "gpt-4o-mini", perMillion)],
        // No call of gemini-window bills more than 8,000 prompt tokens: within $0.01; one of gemini-wide 20,000;
        // gemini-refusing's deployment says a part of unknown size is refused rather than reserved.
        google: [
          onSimulator("gemini-sim", "gemini", perMillion),
          onSimulator("gemini-window", "gemini", perMillion, 8_000),
          onSimulator("gemini-wide", "gemini", perMillion, 20_000),
          { ...onSimulator("gemini-refusing", "gemini", perMillion, 8_000), media_by_url: "refuse" }
        ],
        // A page at 5 tokens: a PDF by URL, reserved as 1,000 pages, is 5,000 tokens.
        claude: [
          onSimulator("claude-sim", "anthropic", perMillion),
          onSimulator("claude-pages", "anthropic", { ...perMillion, pdf_page_tokens: 5 })
        ]
      }
    }
  })
  const google = new GoogleGenAI({
    apiKey: budgetedKey,
    apiVersion: "v1beta",
    httpOptions: { baseUrl: new URL(gateway.url).origin, retryOptions: { attempts: 1 } }
  })
  const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: budgetedKey, maxRetries: 0 })
  const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: budgetedKey, maxRetries: 0 })
  return { simulator, gateway, google, openai, anthropic }
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

/** An Anthropic message of a question and a `document` block of `source`: its text, or its refusal's status and message. */
const askAnthropic = (anthropic: Anthropic, model: string, source: Anthropic.DocumentBlockParam["source"]) =>
  anthropicOutcome(anthropic, {
    model,
    max_tokens: 1,
    messages: [{ role: "user", content: [{ type: "text", text: "What is this?" }, { type: "document", source }] }]
  })

describe("a budgeted key reserves each media part by what it is", () => {
  it.live(
    "a Gemini fileData part by URL is refused for a model of no context window, else reserved at its window",
    () =>
      Effect.gen(function*() {
        const { google, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const video: Part = { fileData: { fileUri: youtube } }
        const refused = yield* askGemini(google, "gemini-sim", video)
        assert.strictEqual(refused.status, 400)
        assert.include(refused.message, "messages[0].content[1] is a video by URL")
        assert.include(refused.message, "context_window")
        const held = yield* askGemini(google, "gemini-refusing", video)
        assert.strictEqual(held.status, 400)
        assert.include(held.message, "media_by_url")
        // A declared type is a claim Gemini does not read for a URL it fetches: an image is no cheaper.
        const declared = yield* askGemini(google, "gemini-sim", {
          fileData: { fileUri: youtube, mimeType: "image/png" }
        })
        assert.strictEqual(declared.status, 400)
        assert.include(declared.message, "messages[0].content[1] is an image (image/png) by URL")
        const uploaded = yield* askGemini(google, "gemini-sim", {
          fileData: { fileUri: "https://generativelanguage.googleapis.com/v1beta/files/abc", mimeType: "video/mp4" }
        })
        assert.strictEqual(uploaded.status, 400)
        assert.include(uploaded.message, "a video (video/mp4) by URL")
        // A Cloud Storage object of no extension and no stated type could be anything, not a cheap image.
        const object: Part = { fileData: { fileUri: "gs://scans-bucket/2026/0001" } }
        const unknown = yield* askGemini(google, "gemini-sim", object)
        assert.strictEqual(unknown.status, 400)
        assert.include(unknown.message, "messages[0].content[1] is a file of no stated type by URL")
        assert.strictEqual((yield* simulator.stats).requests, before)
        // A window of 8,000 tokens: within $0.01, so the calls are made; one of 20,000 is past it.
        assert.strictEqual((yield* askGemini(google, "gemini-window", video)).status, 200)
        assert.strictEqual((yield* askGemini(google, "gemini-window", object)).status, 200)
        const wide = yield* askGemini(google, "gemini-wide", video)
        assert.strictEqual(wide.status, 429)
        assert.isAtLeast(reservedTokens(wide.message), 20_000)
        assert.strictEqual((yield* simulator.stats).requests, before + 2)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "audio in an image_url data URL is reserved as audio by its seconds, a video by URL refused; a Chat Completions " +
      "deployment refuses the audio",
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
        // A remote video in an image_url, which Gemini fetches, has no size to read: refused for a model of no context
        // window, before the provider is called.
        const clip = yield* askOpenAi(openai, "gemini-sim", "https://cdn.example.test/clips/launch.mp4")
        assert.strictEqual(clip.status, 400)
        assert.include(clip.message, "messages[0].content[1] is a video (video/mp4) by URL")
        assert.include(clip.message, "context_window")
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

  it.live(
    "an Anthropic document block is priced by its pages and answered by an Anthropic and a Chat Completions deployment",
    () =>
      Effect.gen(function*() {
        const { anthropic, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const base64 = (pages: number) => ({
          type: "base64" as const,
          media_type: "application/pdf" as const,
          data: pdf(pages).toString("base64")
        })
        // 10 pages at 258 tokens fit $0.01 (and are billed so, as the simulator counts them, leaving room for the call
        // by URL below); 50 do not, refused before the provider is called.
        assert.strictEqual((yield* askAnthropic(anthropic, "claude-sim", base64(10))).status, 200)
        const refused = yield* askAnthropic(anthropic, "claude-sim", base64(50))
        assert.strictEqual(refused.status, 429)
        const reserved = reservedTokens(refused.message)
        assert.isAtLeast(reserved, 50 * 258)
        assert.isBelow(reserved, 50 * 258 + 100)
        // A PDF by URL has no page count before the call: the most pages a PDF is read at, 1,000.
        const byUrl = { type: "url" as const, url: "https://example.com/files/annual-report" }
        const unread = yield* askAnthropic(anthropic, "claude-sim", byUrl)
        assert.strictEqual(unread.status, 429)
        assert.isAtLeast(reservedTokens(unread.message), 1_000 * 258)
        assert.strictEqual((yield* askAnthropic(anthropic, "claude-pages", byUrl)).status, 200)
        assert.strictEqual((yield* simulator.stats).requests, before + 2)
        // A Chat Completions deployment is sent it as a file part.
        assert.strictEqual((yield* askAnthropic(anthropic, "gpt-4o-mini", base64(1))).status, 200)
        assert.strictEqual((yield* simulator.stats).requests, before + 3)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  // The messages an Anthropic upstream that records each body is sent for a user turn of `documents`, through the
  // gateway by the official client; the reply it answers checked.
  const sentThrough = Effect.fn(function*(documents: ReadonlyArray<Anthropic.DocumentBlockParam>) {
    const { bodies, url } = yield* recordingAnthropic
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const gateway = yield* gatewayOn(simulator, undefined, {
      sim: [{
        model_name: "claude-recorded",
        api: "anthropic",
        base_url: url,
        api_keys: [providerKey],
        max_retries: 0,
        pricing: perMillion
      }],
      gateway: {
        // A dollar: the PDF by URL is reserved as 1,000 pages.
        keys: [{ name: "media", key: budgetedKey, budget: { limit: 1, period: "1 day" } }],
        admin_keys: [{ name: "ops", key: adminKey }]
      }
    })
    const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: budgetedKey, maxRetries: 0 })
    const reply = yield* Effect.promise(() =>
      anthropic.messages.create({
        model: "claude-recorded",
        max_tokens: 16,
        messages: [{ role: "user", content: [{ type: "text", text: "Compare these." }, ...documents] }]
      })
    )
    const first = reply.content[0]
    assert.strictEqual(first?.type === "text" ? first.text : undefined, "A report.")
    assert.strictEqual(bodies.length, 1)
    return bodies[0]!["messages"]
  })

  it.live(
    "an Anthropic deployment is sent the client's document blocks unchanged",
    () =>
      Effect.gen(function*() {
        const documents = [
          {
            type: "document",
            source: { type: "base64", media_type: "application/pdf", data: pdf(2).toString("base64") }
          },
          { type: "document", source: { type: "url", url: "https://example.com/files/annual-report" } }
        ] as const
        assert.deepStrictEqual(yield* sentThrough(documents), [{
          role: "user",
          content: [{ type: "text", text: "Compare these." }, ...documents]
        }])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a document block's title, context and citations reach an Anthropic deployment as the client wrote them",
    () =>
      Effect.gen(function*() {
        const documents = [
          {
            type: "document",
            source: { type: "base64", media_type: "application/pdf", data: pdf(2).toString("base64") },
            title: "Quarterly figures",
            citations: { enabled: true }
          },
          {
            type: "document",
            source: { type: "url", url: "https://example.com/files/annual-report" },
            title: "Annual report",
            context: "Written by the board; not audited.",
            citations: { enabled: false }
          }
        ] as const
        assert.deepStrictEqual(yield* sentThrough(documents), [{
          role: "user",
          content: [{ type: "text", text: "Compare these." }, ...documents]
        }])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})

describe("a part by URL whose size cannot be known is reserved at the most the call can bill, however spelled", () => {
  it.live(
    "each named spelling, in every field a client carries a URL in, is reserved at the model's context window",
    () =>
      Effect.gen(function*() {
        const { anthropic, google, openai, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const outcomes: Array<{ readonly status: number | undefined; readonly message: string }> = []
        for (const form of namedForms) {
          outcomes.push(yield* askGemini(google, "gemini-wide", { fileData: form }))
          outcomes.push(yield* askOpenAi(openai, "gemini-wide", form.fileUri))
          outcomes.push(
            yield* Effect.map(
              rejection(() =>
                openai.responses.create({
                  model: "gemini-wide",
                  max_output_tokens: 16,
                  input: [{
                    role: "user",
                    content: [{ type: "input_text", text: "What is this?" }, {
                      type: "input_image",
                      image_url: form.fileUri,
                      detail: "auto"
                    }]
                  }]
                })
              ),
              (error) => {
                assert.instanceOf(error, OpenAI.APIError)
                return { status: error.status, message: error.message }
              }
            )
          )
          outcomes.push(
            yield* anthropicOutcome(anthropic, {
              model: "gemini-wide",
              max_tokens: 1,
              messages: [{
                role: "user",
                content: [{ type: "image", source: { type: "url", url: form.fileUri } }]
              }]
            })
          )
          outcomes.push(yield* askAnthropic(anthropic, "gemini-wide", { type: "url", url: form.fileUri }))
        }
        for (const outcome of outcomes) {
          assert.strictEqual(outcome.status, 429, outcome.message)
          assert.isAtLeast(reservedTokens(outcome.message), 20_000)
        }
        assert.strictEqual((yield* simulator.stats).requests, before)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "ten calls at once on a $1.20 budget, to an upstream that bills each the video's tokens, spend within it",
    () =>
      Effect.gen(function*() {
        // Gemini's bill for an hour of video: what every fileData costs here, whatever its spelling or type.
        const { bodies, url } = yield* recordingUpstream({
          candidates: [{ content: { role: "model", parts: [{ text: "A video." }] }, finishReason: "STOP", index: 0 }],
          usageMetadata: { promptTokenCount: 946_805, candidatesTokenCount: 3, totalTokenCount: 946_808 },
          modelVersion: "gemini-2.5-flash"
        })
        const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
        const gateway = yield* gatewayOn(simulator, undefined, {
          google: [{
            model_name: "gemini-2.5-flash",
            api: "gemini",
            base_url: url,
            api_keys: [providerKey],
            max_retries: 0
          }],
          gateway: {
            keys: [{
              name: "video",
              key: budgetedKey,
              models: ["gemini-2.5-flash"],
              budget: { limit: 1.2, period: "1 day" }
            }],
            admin_keys: [{ name: "ops", key: adminKey }]
          }
        })
        const google = new GoogleGenAI({
          apiKey: budgetedKey,
          apiVersion: "v1beta",
          httpOptions: { baseUrl: new URL(gateway.url).origin, retryOptions: { attempts: 1 } }
        })
        const forms = [...namedForms, ...namedForms].slice(0, 10)
        const outcomes = yield* Effect.forEach(
          forms,
          (form) => askGemini(google, "gemini-2.5-flash", { fileData: form }),
          { concurrency: "unbounded" }
        )
        // Each is reserved at the model's 1,048,576 tokens of input at the dearest price such a part can be billed at
        // (audio's, $1 a million: $1.05): one fits the budget, and after it is billed ($0.28) no other does.
        assert.strictEqual(bodies.length, 1)
        assert.strictEqual(outcomes.filter((outcome) => outcome.status === 200).length, 1)
        for (const outcome of outcomes) {
          if (outcome.status !== 200) assert.strictEqual(outcome.status, 429, outcome.message)
        }
        // The one call billed ($0.28 for the video, $0.0000075 for its reply), the $0.92 left takes no other either.
        const after = yield* askGemini(google, "gemini-2.5-flash", { fileData: namedForms[0]! })
        assert.strictEqual(after.status, 429)
        const left = /has \$([0-9.]+) of \$1\.2 left/.exec(after.message)
        assert.isNotNull(left, after.message)
        assert.closeTo(Number(left![1]), 1.2 - (946_805 * 0.3 + 3 * 2.5) / 1e6, 1e-6)
        assert.strictEqual(bodies.length, 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
