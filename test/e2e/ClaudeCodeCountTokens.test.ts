/**
 * Claude Code's token counts through `serve` (`claude -p /context`, pinned by `test/utils/pinnedCli.ts`): headless, its
 * `/context` command counts its system prompt, each of its tools and its messages with `/v1/messages/count_tokens`,
 * tool definitions in the bodies, over a deployment of each backend API. Every count is answered; it covers the tool
 * definitions (a body's count less the count of the same body without its tools is at least half the tools' text at
 * four characters a token, the simulator's rule); it is the upstream's own count where its API has a count endpoint
 * (Anthropic's `count_tokens`, Bedrock's `CountTokens`, Gemini's `countTokens`, the Responses API's `input_tokens`),
 * and the gateway's estimate on Chat Completions, which has none; and Claude Code prints its tools' share.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { claudeCodeRun } from "../utils/agentRuns.js"
import { agentKey, agentSession, type Backend, backends } from "../utils/agentSession.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"
import { recordingProxy } from "../utils/recordingProxy.js"

const model = "claude-sonnet-4-5"
const countPath = "/v1/messages/count_tokens"

/** A tool definition of a count body, as Anthropic's API takes it. */
interface CountedTool {
  readonly name: string
  readonly description?: string
  readonly input_schema?: unknown
}

/** A count body, as Claude Code sends it. */
interface CountBody {
  readonly tools?: ReadonlyArray<CountedTool>
  readonly [field: string]: unknown
}

// The characters of tool definitions as the simulator counts them: a tool's name, description and schema.
const toolChars = (tools: ReadonlyArray<CountedTool>) =>
  tools.reduce(
    (sum, tool) =>
      sum + tool.name.length + (tool.description ?? "").length + JSON.stringify(tool.input_schema ?? {}).length,
    0
  )

const counted = (url: string, body: CountBody) =>
  Effect.promise(async () => {
    const answer = await fetch(`${url}${countPath}`, {
      method: "POST",
      headers: { "x-api-key": agentKey, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    expect(answer.status, await answer.clone().text()).toBe(200)
    return ((await answer.json()) as { readonly input_tokens: number }).input_tokens
  })

// The deployments whose API counts a prompt itself; the gateway estimates on the others.
const countsUpstream: ReadonlySet<Backend> = new Set(["anthropic", "bedrock", "gemini", "responses"])

const contextOn = (backend: Backend) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const claude = yield* claudeCode.pipe(orSkip(ctx))
    const session = yield* agentSession({
      label: "claude-code-count",
      model,
      backend,
      scenario: () => ({ turns: [{ text: "Not asked for: /context calls no model." }] })
    })
    const proxy = yield* recordingProxy(session.url, countPath)
    // Claude Code pointed at the proxy, which keeps its count bodies.
    const ran = yield* claudeCodeRun(claude, { ...session, url: proxy.url })(["/context"])
    expect(ran.code, `claude's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`).toBe(0)
    const tools = /^\| System tools \| ([\d.]+)(k?) \|/m.exec(ran.stdout)
    expect(tools, ran.stdout).not.toBeNull()
    expect(Number(tools![1]) * (tools![2] === "k" ? 1000 : 1)).toBeGreaterThan(0)
    const bodies = proxy.bodies.map((text) => JSON.parse(text) as CountBody)
    const withTools = bodies.filter((body) => (body.tools ?? []).length > 0)
    expect(withTools.length, `the count bodies:\n${proxy.bodies.join("\n")}`).toBeGreaterThan(0)
    const before = yield* session.requests
    for (const body of withTools) {
      const { tools: sent = [], ...rest } = body
      const whole = yield* counted(session.url, body)
      const without = yield* counted(session.url, rest)
      expect(whole - without, JSON.stringify(sent.map((tool) => tool.name))).toBeGreaterThanOrEqual(
        Math.floor(toolChars(sent) / 4 / 2)
      )
    }
    // Each count of the test's own reached the simulator's count endpoint, or none did (the gateway's estimate).
    const upstream = (yield* session.requests) - before
    expect(upstream).toBe(countsUpstream.has(backend) ? 2 * withTools.length : 0)
    expect(yield* session.billed, "a count bills nothing").toEqual([])
  }).pipe(Effect.scoped)

describe.concurrent("Claude Code's token counts through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: claude -p /context counts its tools with count_tokens, the upstream's count where its API has one`,
      contextOn(backend),
      300_000
    )
  }
})
