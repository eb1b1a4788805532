/**
 * What the media suites of the gateway share: an upstream that records each body it is sent and answers one reply
 * (an Anthropic one's a short message) and its provider.json entry, a message's outcome through the official client,
 * the reservation a budget refusal names, and a conversation whose last turn is a tool's result.
 */
import Anthropic from "@anthropic-ai/sdk"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { providerKey } from "./adminApi.js"
import { rejection } from "./gatewayHarness.js"
import { serve } from "./loopbackServer.js"

/** An upstream at `url` that keeps each JSON body it is sent in `bodies` and answers `reply` (200, JSON). */
export const recordingUpstream = (reply: unknown) =>
  Effect.gen(function*() {
    const bodies: Array<Record<string, unknown>> = []
    const upstream = yield* serve((req, res) => {
      let text = ""
      req.setEncoding("utf8")
      req.on("data", (part: string) => text += part)
      req.on("end", () => {
        bodies.push(JSON.parse(text))
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(reply))
      })
    })
    return { url: upstream.url, bodies }
  })

/** An Anthropic upstream at `url` that keeps each body it is sent in `bodies` and answers "A report." */
export const recordingAnthropic = recordingUpstream({
  id: "msg_recorded",
  type: "message",
  role: "assistant",
  model: "claude-recorded",
  content: [{ type: "text", text: "A report." }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 3 }
})

/** The reservation a budget refusal names (`cost up to $X`), in tokens at a dollar a million. */
export const reservedTokens = (message: string): number => {
  const found = /cost up to \$([0-9.e-]+)/.exec(message)
  assert.isNotNull(found, message)
  return Math.round(Number(found![1]) * 1_000_000)
}

/** A message created with `params` through `anthropic`: status 200, or its refusal's status and message. */
export const anthropicOutcome = (anthropic: Anthropic, params: Anthropic.MessageCreateParamsNonStreaming) =>
  Effect.map(
    rejection(() => anthropic.messages.create(params)),
    (error) => {
      if (error === undefined) return { status: 200, message: "" }
      assert.instanceOf(error, Anthropic.APIError)
      return { status: error.status, message: error.message }
    }
  )

/** A provider.json entry `claude-recorded` of `api` at a recording upstream's `url`, priced at `pricing`, no retries. */
export const recordedEntry = (api: string, url: string, pricing: Record<string, unknown>) => ({
  model_name: "claude-recorded",
  api,
  base_url: url,
  api_keys: [providerKey],
  max_retries: 0,
  pricing
})

/** The tool the tool-result suites' conversations call. */
export const fetchReportTools: Array<Anthropic.Tool> = [{
  name: "fetch_report",
  input_schema: { type: "object", properties: { quarter: { type: "integer" } } }
}]

/** A conversation whose last turn answers a call of `fetch_report` with `content`. */
export const fetchReportAnswered = (
  content: Exclude<Anthropic.ToolResultBlockParam["content"], string | undefined>
): Array<Anthropic.MessageParam> => [
  { role: "user", content: "Summarise the quarterly report." },
  { role: "assistant", content: [{ type: "tool_use", id: "toolu_01", name: "fetch_report", input: { quarter: 3 } }] },
  { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_01", content }] }
]
