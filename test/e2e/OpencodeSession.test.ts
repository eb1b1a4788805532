/**
 * opencode (`opencode-ai`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `opencode run`, default
 * settings but its provider, whose model's `limit` sets where it compacts) through a long scripted session
 * (`test/utils/agentSession.ts`) against `serve`'s Chat Completions routes (`@ai-sdk/openai-compatible`) over a
 * deployment of each backend API, the five at once: the session's title asked for, every turn answered, its tools run
 * (the file read, edited, and shown by a command), its context compacted automatically when the scripted usage
 * passes the model's limit less its output, the session resumed by `opencode run --continue` after `serve` was
 * restarted, and the gateway's recorded spend the simulator's bill. And with its thinking on, at `serve`'s Anthropic
 * routes (`@ai-sdk/anthropic`, its model's `options.thinking` a budget) over each backend's thinking model
 * (`thinkingModels`): every reply that called a tool thought first, and opencode sent each call back after the
 * thinking it came with, as the backend's API wants it (the simulator refuses a request that drops or alters it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { opencodeAnswer, opencodeRun, type OpencodeRunOptions } from "../utils/agentRuns.js"
import { opencodeLimit, opencodeScenario } from "../utils/agentScenarios.js"
import { agentSession, type Backend, backends, playSession, prompts } from "../utils/agentSession.js"
import { opencode, orSkip } from "../utils/pinnedCli.js"
import { recordingProxy } from "../utils/recordingProxy.js"

const model = "gpt-4o-mini"

/**
 * The thinking model of each backend: on Chat Completions DeepSeek's, which wants each tool turn's reasoning back; on
 * Responses OpenAI's o4-mini (its reasoning encrypted); on Anthropic and Bedrock Claude 5.1 (its signed thinking bound
 * to the conversation's prefix); on Gemini a Gemini 3 model (a thought signature on each call).
 */
const thinkingModels: Record<Backend, string> = {
  "chat-completions": "deepseek-reasoner",
  "responses": "o4-mini",
  "anthropic": "claude-sonnet-5-1",
  "gemini": "gemini-3-pro-preview",
  "bedrock": "us.anthropic.claude-sonnet-5-1-v1:0"
}

// The thinking models' prices, given in provider.json (the gateway's table knows neither Claude 5.1 nor Gemini 3).
const thinkingPricing = {
  input_per_mtok: 3,
  cached_input_per_mtok: 0.3,
  cache_write_per_mtok: 3.75,
  output_per_mtok: 15
}

/** A block of an assistant turn of a Messages request, as opencode sends it back. */
interface Block {
  readonly type: string
  readonly id?: string
  readonly signature?: string
}

/**
 * The tool calls opencode sent back (in the Messages request bodies it sent, in order) without a signed thinking block
 * before them in their turn, where each was first sent back, by id: where the backend's reasoning (Anthropic's signed
 * thinking, or the gateway's carrier of another backend's) did not come back with the call it led to.
 */
function unthoughtCalls(bodies: ReadonlyArray<string>): ReadonlyArray<string> {
  const seen = new Set<string>()
  const unthought: Array<string> = []
  for (const body of bodies) {
    const { messages = [] } = JSON.parse(body) as {
      readonly messages?: ReadonlyArray<{ readonly role: string; readonly content: string | ReadonlyArray<Block> }>
    }
    for (const { content, role } of messages) {
      if (role !== "assistant" || typeof content === "string") continue
      const signed = content.some((block) =>
        block.type === "redacted_thinking" || (block.type === "thinking" && (block.signature ?? "") !== "")
      )
      for (const call of content.filter((block) => block.type === "tool_use")) {
        if (seen.has(call.id!)) continue
        seen.add(call.id!)
        if (!signed) unthought.push(call.id!)
      }
    }
  }
  return unthought
}

/** opencode's session on `backend`'s deployment, played and checked; with `thinking`, its thinking sent back. */
const sessionOn = (backend: Backend, thinking: boolean) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const program = yield* opencode.pipe(orSkip(ctx))
    const session = yield* agentSession({
      label: "opencode-session",
      model: thinking ? thinkingModels[backend] : model,
      backend,
      scenario: opencodeScenario,
      pricing: thinking ? thinkingPricing : undefined
    })
    // The bodies opencode sends its model, kept by a proxy in front of `serve` (which keeps its port across restarts).
    const proxy = yield* recordingProxy(session.url, "/v1/messages")
    const options: OpencodeRunOptions = thinking
      ? {
        npm: "@ai-sdk/anthropic",
        baseUrl: `${proxy.url}/v1`,
        modelSettings: {
          limit: opencodeLimit,
          reasoning: true,
          options: { thinking: { type: "enabled", budgetTokens: 2_048 } }
        }
      }
      : { modelSettings: { limit: opencodeLimit } }
    yield* playSession(session, {
      agent: "opencode",
      run: opencodeRun(program, session, options),
      first: [prompts.first],
      resumed: ["--continue", prompts.resumed],
      answer: opencodeAnswer
    })
    if (thinking) {
      expect(proxy.bodies.length).toBeGreaterThan(15)
      expect(unthoughtCalls(proxy.bodies), backend).toEqual([])
    }
  }).pipe(Effect.scoped)

// A bound, not a wait: beside CI's other agent tests (load 15 to 21) each session took 260 to 320 s, five at once.
const sessionBound = 900_000

describe.concurrent("opencode's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: opencode run compacts, resumes after serve restarts, and is billed what the simulator billed`,
      sessionOn(backend, false),
      sessionBound
    )
    it.live(
      `${backend}: opencode run with ${thinkingModels[backend]}'s thinking: each call sent back after its thinking, ` +
        "as the API wants it",
      sessionOn(backend, true),
      sessionBound
    )
  }
})
