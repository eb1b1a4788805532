/**
 * Media on an Amazon Bedrock deployment (Converse), sent through the gateway by the official `@anthropic-ai/sdk`
 * client: a tool result's PDF and image reach the simulator's Bedrock endpoint, are reserved by what they are (the
 * PDF by its pages) and billed as the simulator counts them (the pages too); a user turn's PDF reaches a Bedrock
 * deployment (a recording upstream) as a `document` block named by its title, is reserved by its pages, and a title
 * Converse refuses is refused by the client's path to it, nothing sent; untitled documents are named once each across
 * the request, and a title given twice is refused naming both places.
 */
import Anthropic from "@anthropic-ai/sdk"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Pricing from "../../src/Pricing.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { budgetedGateway, simDeployment } from "../utils/adminApi.js"
import {
  anthropicOutcome,
  fetchReportAnswered,
  fetchReportTools as tools,
  recordedEntry,
  recordingUpstream,
  reservedTokens
} from "../utils/anthropicUpstream.js"
import { pdf } from "../utils/media.js"

// A dollar a million tokens in and out: the key's budget of $0.01 holds 10,000 tokens, a PDF page 258 of them, an
// image 85 (as the simulator counts one).
const perMillion = { input_per_mtok: 1, output_per_mtok: 1, image_tokens: 85 }
const budgetedKey = "gw-bedrock-media-key-6e1c3a9d7f"
const claude = "claude-on-bedrock"
const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

/** A Converse upstream that keeps each body it is sent and answers "A report." */
const recordingConverse = recordingUpstream({
  output: { message: { role: "assistant", content: [{ text: "A report." }] } },
  stopReason: "end_turn",
  usage: { inputTokens: 12, outputTokens: 3, totalTokens: 15 }
})

const served = Effect.gen(function*() {
  const { bodies, url } = yield* recordingConverse
  const { gateway, simulator } = yield* budgetedGateway({
    name: "bedrock-media",
    key: budgetedKey,
    models: [claude],
    sections: (simulator) => ({
      sim: [simDeployment(simulator, "gpt-4o-mini", perMillion)],
      aws: [
        { ...simDeployment(simulator, claude, perMillion), api: "bedrock", base_url: simulator.url },
        recordedEntry("bedrock", url, perMillion)
      ]
    })
  })
  const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: budgetedKey, maxRetries: 0 })
  return { anthropic, bodies, simulator }
})

const pdfSource = (pages: number) => ({
  type: "base64" as const,
  media_type: "application/pdf" as const,
  data: pdf(pages).toString("base64")
})

// A conversation whose last turn answers a tool call with a note, a chart and a PDF of `pages` pages.
const toolConversation = (pages: number): Array<Anthropic.MessageParam> =>
  fetchReportAnswered([
    { type: "text", text: "The report, as filed:" },
    { type: "image", source: { type: "base64", media_type: "image/png", data: png } },
    { type: "document", source: pdfSource(pages), title: "Q3 report" }
  ])

// A user turn of a question and a PDF of `pages` pages titled `title`.
const userConversation = (pages: number, title: string): Array<Anthropic.MessageParam> => [{
  role: "user",
  content: [{ type: "text", text: "What is this?" }, { type: "document", source: pdfSource(pages), title }]
}]

describe("media on a Bedrock deployment", () => {
  it.live(
    "a tool result's PDF and image are reserved by what they are and billed as the simulator counts them",
    () =>
      Effect.gen(function*() {
        const { anthropic, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const reply = yield* Effect.promise(() =>
          anthropic.messages.create({ model: claude, max_tokens: 16, tools, messages: toolConversation(3) })
        )
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
        // The simulator counts the PDF's 3 pages at 258 tokens and the 1 x 1 image by Anthropic's rule (its area over
        // 750, a token), besides a few tokens of text and of the tool's definition.
        const prompt = reply.usage.input_tokens
        assert.isAtLeast(prompt, 3 * 258 + 1)
        assert.isBelow(prompt, 3 * 258 + 1 + 40)
        // 50 pages do not fit $0.01: refused before the provider is called, the reservation the PDF's pages and the
        // image (and the prompt a provider adds for tools, the text and the reply's few tokens).
        const refused = yield* anthropicOutcome(anthropic, {
          model: claude,
          max_tokens: 16,
          tools,
          messages: toolConversation(50)
        })
        assert.strictEqual(refused.status, 429)
        const reserved = reservedTokens(refused.message) - Pricing.toolPromptTokens
        assert.isAtLeast(reserved, 50 * 258 + 85)
        assert.isBelow(reserved, 50 * 258 + 85 + 300)
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
        // What the key was billed for the first call is what the simulator counted: the budget's refusal says what
        // is left of it.
        const left = /has \$([0-9.]+) of \$0\.01 left/.exec(refused.message)
        assert.isNotNull(left, refused.message)
        assert.closeTo(0.01 - Number(left![1]), (prompt + reply.usage.output_tokens) / 1_000_000, 1e-5)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a user turn's PDF reaches Converse as a document block, reserved by its pages; a title it refuses, by its path",
    () =>
      Effect.gen(function*() {
        const { anthropic, bodies } = yield* served
        const ask = (pages: number, title: string) =>
          anthropicOutcome(anthropic, {
            model: "claude-recorded",
            max_tokens: 16,
            messages: userConversation(pages, title)
          })
        assert.deepStrictEqual(yield* ask(2, "Q3 report (filed)"), { status: 200, message: "" })
        assert.strictEqual(bodies.length, 1)
        assert.deepStrictEqual(bodies[0]!["messages"], [{
          role: "user",
          content: [
            { text: "What is this?" },
            { document: { format: "pdf", name: "Q3 report (filed)", source: { bytes: pdf(2).toString("base64") } } }
          ]
        }])
        // 50 pages do not fit $0.01: refused before the provider is called, reserved by the pages.
        const refused = yield* ask(50, "Q3 report")
        assert.strictEqual(refused.status, 429)
        assert.isAtLeast(reservedTokens(refused.message), 50 * 258)
        assert.isBelow(reservedTokens(refused.message), 50 * 258 + 100)
        // A name with a dot is no name Converse takes: refused, named by the client's own path (the block's title,
        // as Anthropic's errors write paths), nothing sent.
        const named = yield* ask(1, "report.pdf")
        assert.strictEqual(named.status, 400)
        assert.include(named.message, "messages.0.content.1.title: ")
        assert.include(named.message, "report.pdf")
        assert.include(named.message, "is no document name Converse takes")
        assert.strictEqual(bodies.length, 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "documents are named once each in a request, untitled ones across its messages; a title given twice is refused by both paths",
    () =>
      Effect.gen(function*() {
        const { anthropic, bodies } = yield* served
        const document = (title?: string): Anthropic.DocumentBlockParam => ({
          type: "document",
          source: pdfSource(1),
          ...(title === undefined ? {} : { title })
        })
        const ask = (messages: Array<Anthropic.MessageParam>) =>
          anthropicOutcome(anthropic, { model: "claude-recorded", max_tokens: 16, tools, messages })
        // Two untitled PDFs in two turns, and a tool result's: each its own name, as Converse requires.
        const turns: Array<Anthropic.MessageParam> = [
          { role: "user", content: [{ type: "text", text: "Read:" }, document()] },
          { role: "assistant", content: "Read." },
          ...fetchReportAnswered([{ type: "text", text: "Filed:" }, document()]),
          { role: "assistant", content: "Filed." },
          { role: "user", content: [document(), document("document 2"), { type: "text", text: "And these?" }] }
        ]
        assert.deepStrictEqual(yield* ask(turns), { status: 200, message: "" })
        const names = [
          ...JSON.stringify(bodies.at(-1)!["messages"]).matchAll(/"document":\{"format":"pdf","name":"([^"]*)"/g)
        ]
          .map((match) => match[1])
        assert.deepStrictEqual(names, ["document 1", "document 3", "document 4", "document 2"])
        // One title twice (a user turn's and a tool result's): refused, naming where each is in the client's body,
        // nothing sent.
        const sent = bodies.length
        const twice = yield* ask([
          { role: "user", content: [{ type: "text", text: "Read:" }, document("Q3 report")] },
          { role: "assistant", content: "Read." },
          ...fetchReportAnswered([{ type: "text", text: "Filed:" }, document("Q3 report")])
        ])
        assert.strictEqual(twice.status, 400)
        assert.include(twice.message, "messages.4.content.0.content.1.title: ")
        assert.include(twice.message, "Q3 report")
        assert.include(twice.message, "names the document at messages.0.content.1.title too")
        assert.strictEqual(bodies.length, sent)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
