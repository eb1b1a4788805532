/**
 * A budgeted key's call fitted to what its budget has left, with the official Anthropic client over loopback against
 * the simulator: a streamed call asking for 32,000 tokens with a thinking budget of 16,000, whose worst case at a token
 * a byte passes the key's $0.10 (a 40 kB prompt), is sent with its prompt counted by the provider and its reply bound
 * lowered to what the rest pays for (its thinking budget below it, as the API requires), says so in
 * `x-llm-max-tokens-lowered`, and is billed within the budget; the next call, for which even a reply of one token does
 * not fit, is refused naming what is left and what its smallest call would cost, before the provider is called.
 */
import Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Simulator from "../../src/simulator/Simulator.js"
import { adminKey, gatewayOn, providerKey } from "../utils/adminApi.js"

const key = "gw-budget-fit-agent-5d1c9a7e3b"
const model = "claude-fit"

describe("a budgeted key's call fitted to what its budget has left", () => {
  it.live(
    "a streamed call with thinking is sent its reply bound lowered, and says so; the call that cannot fit is refused " +
      "naming what is left and what its smallest call would cost",
    () =>
      Effect.gen(function*() {
        // Replies longer than any bound: what a reply bills is the bound sent.
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 50_000, models: [model] })
        const gateway = yield* gatewayOn(simulator, undefined, {
          sim: [{
            model_name: model,
            api: "anthropic",
            base_url: simulator.url,
            api_keys: [providerKey],
            max_retries: 0,
            pricing: { input_per_mtok: 3, output_per_mtok: 15 }
          }],
          gateway: {
            keys: [{ name: "agent", key, budget: { limit: 0.1, period: "1 day" } }],
            admin_keys: [{ name: "ops", key: adminKey }]
          }
        })
        const anthropic = new Anthropic({ apiKey: key, baseURL: gateway.url, maxRetries: 0 })
        // 40,000 bytes: $0.12 at a token a byte, 10,000 tokens as the simulator counts them.
        const prompt = "word ".repeat(8_000)
        const body = {
          model,
          max_tokens: 32_000,
          thinking: { type: "enabled" as const, budget_tokens: 16_000 },
          messages: [{ role: "user" as const, content: prompt }]
        }
        const { data: stream, response } = yield* Effect.promise(() =>
          anthropic.messages.create({ ...body, stream: true }).withResponse()
        )
        const lowered = response.headers.get("x-llm-max-tokens-lowered")
        expect(lowered).toMatch(/^\d+; asked=32000; budget_left=0\.1$/)
        const sent = Number(lowered!.split(";")[0])
        // What $0.10 pays after the prompt's 10,000 tokens and a tenth more at $3 a million: at $15 a million.
        expect(sent).toBe(Math.floor((0.1 - 11_000 * 3e-6) / 15e-6))
        let output = 0
        let stop: string | null | undefined
        let thought = false
        yield* Effect.promise(async () => {
          for await (const event of stream) {
            if (event.type === "message_delta") {
              output = event.usage.output_tokens
              stop = event.delta.stop_reason
            }
            if (event.type === "content_block_start" && event.content_block.type === "thinking") thought = true
          }
        })
        // The bound sent is what the reply took, thinking first, within the budget.
        expect(thought).toBe(true)
        expect(stop).toBe("max_tokens")
        expect(output).toBe(sent)
        const requestsBefore = yield* simulator.requestCount
        const refused = yield* Effect.promise(() =>
          anthropic.messages.create({ ...body, stream: true }).then(() => undefined, (error: unknown) => error)
        )
        expect(refused).toBeInstanceOf(Anthropic.RateLimitError)
        const message = (refused as InstanceType<typeof Anthropic.RateLimitError>).message
        // What is left is the budget less the first call's bill, within the budget: its prompt and the bound sent.
        const spent = 10_000 * 3e-6 + sent * 15e-6
        expect(spent).toBeLessThanOrEqual(0.1)
        expect(message).toContain(`has $${Number((0.1 - spent).toPrecision(6))} of $0.1 left`)
        expect(message).toContain(`the smallest call of this request may cost up to $${11_000 * 3e-6 + 15e-6}`)
        // Counted by the provider, then refused: no message was asked for.
        expect((yield* simulator.requestCount) - requestsBefore).toBe(1)
      }).pipe(Effect.scoped),
    60_000
  )
})
