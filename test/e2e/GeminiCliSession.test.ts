/**
 * Gemini CLI (`@google/gemini-cli`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `gemini -p`, default
 * settings but `model.compressionThreshold`, its tools run without asking by `--approval-mode yolo`) through a long
 * scripted session (`test/utils/agentSession.ts`) against `serve`'s Gemini routes over a deployment of each backend
 * API, the five at once: every turn answered, its tools run (the file read, edited, and shown by a command), the
 * session resumed by `gemini --resume latest -p` after `serve` was restarted, its chat compressed there (Gemini CLI
 * compresses where a user's message starts a turn, once its history's estimate passes the threshold: a summary and
 * its check, then its own "Got it" turn), and the gateway's recorded spend the simulator's bill. And on a Gemini 3
 * model, whose thinking Gemini CLI asks for by default, on every backend (`thinkingDeployments`): each call sent back,
 * in the request after its reply, with that reply's signature.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { geminiCliRun } from "../utils/agentRuns.js"
import { geminiCliScenario, geminiCompressionThreshold } from "../utils/agentScenarios.js"
import { agentSession, type Backend, backends, playSession, prompts } from "../utils/agentSession.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"
import { recordingProxy } from "../utils/recordingProxy.js"

const model = "gemini-2.5-flash"

// A Gemini 3 model, whose thinking Gemini CLI asks for by default (`thinkingConfig` with `includeThoughts`) and whose
// function calls each carry a thought signature the Gemini API wants back on the call it signed.
const thinkingModel = "gemini-3-flash-preview"

/**
 * The deployment Gemini CLI's thinking model names on each backend (a group of it where it is another model): the
 * Gemini 3 model itself where the backend's API serves it; on Chat Completions DeepSeek's thinking model, whose
 * `reasoning_content` its API wants back on each call of a tool loop; on Bedrock a Claude model, the only one whose
 * thinking Converse carries, signed and bound to the conversation's prefix.
 */
const thinkingDeployments: Record<Backend, string> = {
  "chat-completions": "deepseek-reasoner",
  "responses": thinkingModel,
  "anthropic": thinkingModel,
  "gemini": thinkingModel,
  "bedrock": "us.anthropic.claude-sonnet-5-1-v1:0"
}

/** A model turn of a Gemini request's history, as Gemini CLI sends it. */
interface Content {
  readonly role?: string
  readonly parts?: ReadonlyArray<{
    readonly functionCall?: { readonly id?: string; readonly name: string }
    readonly thoughtSignature?: string
  }>
}

// Whether a signature is one a reply gave: not missing, nor the stand-in the Gemini API's thought signatures page
// documents (`skip_thought_signature_validator`), which Gemini CLI puts on calls of a history it restored on resuming.
const signs = (signature: string | undefined): boolean =>
  signature !== undefined && signature !== "skip_thought_signature_validator"

/**
 * The model turns whose first function call Gemini CLI sent back, in the first request after the reply (of the
 * bodies it sent to `serve`, in order), without the signature the reply gave (`signs`), by the call's id: where the
 * backend's reasoning (a Gemini signature, or the gateway's carrier of another backend's: signed thinking, encrypted
 * reasoning) did not come back with the call it led to.
 */
function unsignedCalls(bodies: ReadonlyArray<string>): ReadonlyArray<string> {
  const seen = new Set<string>()
  const unsigned: Array<string> = []
  for (const body of bodies) {
    for (const content of (JSON.parse(body) as { readonly contents?: ReadonlyArray<Content> }).contents ?? []) {
      const call = content.role === "model" ? content.parts?.find((part) => part.functionCall !== undefined) : undefined
      if (call?.functionCall === undefined) continue
      // A history restored on resuming names each call `<name>__<id>`.
      const { id: given, name } = call.functionCall
      const id = given?.replace(`${name}__`, "") ?? name
      if (seen.has(id)) continue
      seen.add(id)
      if (!signs(call.thoughtSignature)) unsigned.push(id)
    }
  }
  return unsigned
}

/** Gemini CLI's session on `backend`'s deployment of `model`, played and checked; with `thinking`, its signatures. */
const sessionOn = (backend: Backend, thinking: boolean) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const gemini = yield* geminiCli.pipe(orSkip(ctx))
    const played = thinking ? thinkingModel : model
    const deployment = thinking ? thinkingDeployments[backend] : model
    const session = yield* agentSession({
      label: "gemini-cli-session",
      model: deployment,
      backend,
      scenario: geminiCliScenario,
      // The gateway's price table knows neither Gemini 3 nor Claude 5.1: provider.json gives them Gemini 2.5 Flash's.
      pricing: thinking ? { input_per_mtok: 0.3, cached_input_per_mtok: 0.03, output_per_mtok: 2.5 } : undefined,
      groups: deployment === played ? undefined : [played]
    })
    // The bodies Gemini CLI sends, kept by a proxy in front of `serve` (which keeps its port across restarts).
    const proxy = yield* recordingProxy(session.url, "/v1beta")
    writeGeminiSettings(session.home, { name: played, compressionThreshold: geminiCompressionThreshold })
    yield* playSession(session, {
      agent: "gemini",
      run: geminiCliRun(gemini, { ...session, url: proxy.url }),
      first: ["-p", prompts.first],
      resumed: ["--resume", "latest", "-p", prompts.resumed],
      // Its compression asks for the summary and its check whole (`generateContent`).
      whole: 2
    })
    // With its thinking on, each call Gemini CLI sent back carried its signature (and the simulator wants each
    // backend's reasoning back as that API does: a Gemini 3 call's signature, Anthropic's signed thinking...).
    if (thinking) expect(unsignedCalls(proxy.bodies), backend).toEqual([])
  }).pipe(Effect.scoped)

describe.concurrent("Gemini CLI's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: gemini -p resumes after serve restarts, compresses, and is billed what the simulator billed`,
      sessionOn(backend, false),
      300_000
    )
    it.live(
      `${backend}: gemini -p on ${thinkingModel} with its thinking: each call's reasoning sent back as the API wants it`,
      sessionOn(backend, true),
      300_000
    )
  }
})
