/**
 * A tool result that holds a PDF, sent through the gateway by the official `@anthropic-ai/sdk` client as a
 * `tool_result` block with a `document` block in its content: an Anthropic deployment (a recording upstream) is sent
 * the conversation as the client wrote it, the budget reserves the PDF by its pages as it does a user turn's, and a
 * Chat Completions deployment, whose tool messages take text only, is sent it in a user message after them (the
 * simulator, which holds the API's rules, answers).
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
  recordingAnthropic,
  reservedTokens
} from "../utils/anthropicUpstream.js"
import { pdf } from "../utils/media.js"

// A dollar a million tokens in and out: the key's budget of $0.01 holds 10,000 tokens, a PDF page 258 of them.
const perMillion = { input_per_mtok: 1, output_per_mtok: 1 }
const budgetedKey = "gw-tool-result-media-key-8f2d4b6a0c"

const served = Effect.gen(function*() {
  const { bodies, url } = yield* recordingAnthropic
  const { gateway, simulator } = yield* budgetedGateway({
    name: "tool-media",
    key: budgetedKey,
    models: [],
    sections: (simulator) => ({
      sim: [simDeployment(simulator, "gpt-4o-mini", perMillion)],
      claude: [recordedEntry("anthropic", url, perMillion)]
    })
  })
  const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: budgetedKey, maxRetries: 0 })
  return { anthropic, bodies, simulator }
})

// A conversation whose last turn answers a tool call with a note and a PDF of `pages` pages.
const conversation = (pages: number): Array<Anthropic.MessageParam> =>
  fetchReportAnswered([
    { type: "text", text: "The report, as filed:" },
    {
      type: "document",
      source: { type: "base64", media_type: "application/pdf", data: pdf(pages).toString("base64") },
      title: "Q3 report"
    }
  ])

/** A message of `messages` to `model`: 200, or its refusal's status and message. */
const ask = (anthropic: Anthropic, model: string, messages: Array<Anthropic.MessageParam>) =>
  anthropicOutcome(anthropic, { model, max_tokens: 16, tools, messages })

describe("a PDF in a tool result", () => {
  it.live(
    "reaches an Anthropic deployment as the client wrote it, reserved by its pages",
    () =>
      Effect.gen(function*() {
        const { anthropic, bodies } = yield* served
        const sent = conversation(30)
        // 30 pages at 258 tokens fit $0.01: the call is made, its tool result carried whole.
        assert.deepStrictEqual(yield* ask(anthropic, "claude-recorded", sent), { status: 200, message: "" })
        assert.strictEqual(bodies.length, 1)
        assert.deepStrictEqual(bodies[0]!["messages"], sent)
        // 50 pages do not: refused before the provider is called, the reservation the PDF's pages (and the prompt a
        // provider adds for tools, the text and the reply's few tokens).
        const refused = yield* ask(anthropic, "claude-recorded", conversation(50))
        assert.strictEqual(refused.status, 429)
        const reserved = reservedTokens(refused.message) - Pricing.toolPromptTokens
        assert.isAtLeast(reserved, 50 * 258)
        assert.isBelow(reserved, 50 * 258 + 300)
        assert.strictEqual(bodies.length, 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "reaches a Chat Completions deployment in a user message after the tool message",
    () =>
      Effect.gen(function*() {
        const { anthropic, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        assert.deepStrictEqual(yield* ask(anthropic, "gpt-4o-mini", conversation(1)), { status: 200, message: "" })
        assert.strictEqual((yield* simulator.stats).requests, before + 1)
        // A tool result of text blocks alone is answered too.
        const texts: Array<Anthropic.MessageParam> = [
          ...conversation(1).slice(0, 2),
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: "toolu_01", content: [{ type: "text", text: "Filed." }] }]
          }
        ]
        assert.strictEqual((yield* ask(anthropic, "gpt-4o-mini", texts)).status, 200)
        assert.strictEqual((yield* simulator.stats).requests, before + 2)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
