/**
 * Codex CLI itself (the `@openai/codex` devDependency, `codex exec`, default settings but how it reaches `serve` and
 * `model_auto_compact_token_limit`) through a long scripted session (`test/utils/agentSession.ts`) against `serve`,
 * over the gateway's WebSocket mode on `/v1/responses`, pointed at it both ways: through its built-in OpenAI provider
 * (`openai_base_url`, its key saved by `codex login --with-api-key`), which compacts with a `compaction_trigger` item,
 * over a deployment of each backend API, the five at once; and through a provider of its own that opts into WebSockets
 * (`supports_websockets = true`), which compacts inline. Every turn answered, its commands run (the file fixed and
 * extended), its context compacted when the scripted usage passes the limit, the session resumed by
 * `codex exec resume --last` after `serve` was restarted, and the gateway's recorded spend the simulator's bill; each
 * invocation starts on its WebSocket at once, the gateway answering every upgrade with 101 and Codex reconnecting
 * never. And through its built-in provider with its reasoning asked for, on each backend's thinking model
 * (`thinkingModels`): every reply that called a function with the backend's reasoning, which Codex keeps and sends
 * back as that API wants it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { codexEnv, codexExec, codexLogin } from "../utils/agentRuns.js"
import { codexCompactAbove, codexScenario } from "../utils/agentScenarios.js"
import { agentKey, agentSession, type Backend, backends, playSession, prompts } from "../utils/agentSession.js"
import { providerLines } from "../utils/codexConfig.js"
import { eventually } from "../utils/eventually.js"

const model = "gpt-4o-mini"
/**
 * The thinking model of each backend, which Codex asks for its reasoning (`model_reasoning_effort`): on Responses a
 * GPT-5 model (its reasoning items encrypted), on Chat Completions DeepSeek's thinking model (its `reasoning_content`
 * wanted back in a tool loop), on Anthropic and Bedrock Claude 5.1 (signed thinking bound to the conversation's
 * prefix), on Gemini a Gemini 3 model (a thought signature on each call).
 */
const thinkingModels: Record<Backend, string> = {
  "chat-completions": "deepseek-reasoner",
  "responses": "gpt-5-mini",
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

/** How Codex is pointed at `serve` (at `url`): its `config.toml`'s lines, and whether its key is saved by a login. */
interface Pointing {
  readonly name: string
  readonly config: (url: string) => ReadonlyArray<string>
  readonly login: boolean
}

const builtIn: Pointing = {
  name: "its built-in provider (openai_base_url, codex login --with-api-key)",
  config: (url) => [`openai_base_url = "${url}/v1"`],
  login: true
}

const ownProvider: Pointing = {
  name: "a provider of its own with supports_websockets",
  config: (url) => providerLines({ baseUrl: `${url}/v1`, envKey: "GATEWAY_KEY", websockets: true }),
  login: false
}

/** `serve`'s log lines of requests to `/v1/responses` by `method`: their status. */
const statuses = (log: string, method: string) =>
  log.split("\n").filter((line) => line.startsWith("{"))
    .map((line) => (JSON.parse(line) as { readonly annotations: Record<string, unknown> }).annotations)
    .filter((line) => line["path"] === "/v1/responses" && line["method"] === method)
    .map((line) => line["status"])

/**
 * Whether a reasoning item of Codex's carries `backend`'s reasoning, as Codex sends it back: DeepSeek's plain
 * `reasoning_content` as its summary's text; any other backend's (encrypted reasoning, signed thinking, thought
 * signatures) as its `encrypted_content`.
 */
const carries = (backend: Backend) => (item: Record<string, unknown>): boolean =>
  item["type"] === "reasoning" && (backend === "chat-completions"
    ? Array.isArray(item["summary"]) && item["summary"].some((part: { readonly text?: unknown }) => part.text !== "")
    : typeof item["encrypted_content"] === "string")

/**
 * The replies in Codex's session records under `home` (its rollouts) that call a function without a reasoning item
 * that `carries` the backend's reasoning, by their calls' ids. A reply is the items the model gave between two of
 * Codex's own (a call's output, a message of the user's or developer's).
 */
function unthoughtCalls(home: string, backend: Backend): ReadonlyArray<string> {
  const rollouts = fs.readdirSync(path.join(home, "sessions"), { recursive: true, encoding: "utf8" })
    .filter((file) => /rollout-.*\.jsonl$/.test(file))
  const unthought: Array<string> = []
  for (const file of rollouts) {
    let reply: Array<Record<string, unknown>> = []
    const check = () => {
      const calls = reply.filter((item) => item["type"] === "function_call")
      const thought = reply.some(carries(backend))
      if (calls.length > 0 && !thought) unthought.push(...calls.map((call) => String(call["call_id"])))
      reply = []
    }
    for (const line of fs.readFileSync(path.join(home, "sessions", file), "utf8").split("\n")) {
      if (line === "") continue
      const entry = JSON.parse(line) as { readonly type?: string; readonly payload?: Record<string, unknown> }
      if (entry.type !== "response_item" || entry.payload === undefined) continue
      const item = entry.payload
      const own = item["type"] === "function_call_output" ||
        (item["type"] === "message" && item["role"] !== "assistant")
      if (own) check()
      else reply.push(item)
    }
    check()
  }
  return unthought
}

const session = (pointing: Pointing, backend: Backend, thinking = false) =>
  Effect.gen(function*() {
    const played = thinking ? thinkingModels[backend] : model
    const session = yield* agentSession({
      label: "codex-session",
      model: played,
      backend,
      scenario: codexScenario,
      pricing: thinking ? thinkingPricing : undefined
    })
    fs.writeFileSync(
      path.join(session.home, "config.toml"),
      [
        `model = "${played}"`,
        `model_auto_compact_token_limit = ${codexCompactAbove}`,
        ...(thinking ? [`model_reasoning_effort = "medium"`] : []),
        ...pointing.config(session.url),
        ""
      ].join("\n")
    )
    const env = codexEnv(session.home, pointing.login ? undefined : agentKey)
    if (pointing.login) yield* codexLogin(env)
    const exec = codexExec(session, env)
    const codex = (args: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const ran = yield* exec(args)
        // Its requests went over the WebSocket from the start: every upgrade answered 101 (a socket's line is written
        // as it closes), none refused, no frame's request over HTTP, and Codex never reconnected.
        const upgrades = yield* eventually(
          "serve's log line of Codex's socket",
          Effect.sync(() => statuses(session.log(), "GET")),
          (lines) => lines.length > 0
        )
        expect(upgrades.every((status) => status === 101), session.log()).toBe(true)
        expect(ran.stderr).not.toMatch(/reconnecting|falling back/i)
        return ran
      })
    yield* playSession(session, {
      agent: "codex exec",
      run: codex,
      first: [prompts.first],
      resumed: ["resume", "--last", prompts.resumed],
      // Its `compaction_trigger` is answered from a whole summary call but where its model speaks the Responses API.
      whole: pointing === builtIn && backend !== "responses" ? 1 : 0
    })
    // With its reasoning asked for, every reply that called a function carried the backend's reasoning, as Codex keeps
    // it and sends it back (and the simulator refuses a request that drops or alters what its API wants back).
    if (thinking) expect(unthoughtCalls(session.home, backend), session.backend).toEqual([])
  }).pipe(Effect.scoped)

describe.concurrent("Codex CLI's long session through serve, over its WebSocket", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: ${builtIn.name}: compacts by compaction_trigger, resumes after serve restarts, billed as simulated`,
      () => session(builtIn, backend),
      300_000
    )
  }
  for (const backend of backends) {
    const thinking = thinkingModels[backend]
    it.live(
      `${backend}: ${builtIn.name}, ${thinking} reasoning: each call's reasoning carried back as the API wants it`,
      () => session(builtIn, backend, true),
      300_000
    )
  }
  it.live(
    `chat-completions: ${ownProvider.name}: compacts inline, resumes after serve restarts, billed as simulated`,
    () => session(ownProvider, "chat-completions"),
    300_000
  )
})
