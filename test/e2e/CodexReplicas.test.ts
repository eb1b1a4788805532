/**
 * Codex CLI (`codex exec`, its built-in OpenAI provider, over its WebSocket, `model_reasoning_effort = "low"`) through
 * the long scripted session (`test/utils/agentSession.ts`) against two `serve` replicas sharing Redis behind a balancer
 * (`test/utils/agentReplicas.ts`: each socket to the next replica, so the first task is served by one and the resumed
 * task by the other), whose model is a router over two deployments of two organisations. On Responses, what one
 * encrypts (its reasoning items, asked for with `include: ["reasoning.encrypted_content"]`, and its compaction items)
 * the other refuses 400 `invalid_encrypted_content`, as OpenAI does; on Anthropic, Bedrock and Gemini, the model's
 * signed thinking and thought signatures, on Chat Completions DeepSeek's reasoning_content, come to Codex in the
 * gateway's own reasoning items, and must come back as made. Every turn answered, its context compacted, the session
 * resumed after both replicas restarted; the whole session on the deployment that made its items, which got them back
 * and refused none.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentReplicas, keptWithItsDeployment, playAcrossReplicas } from "../utils/agentReplicas.js"
import { codexEnv, codexExec, codexLogin } from "../utils/agentRuns.js"
import { codexCompactAbove, codexScenario } from "../utils/agentScenarios.js"
import { prompts } from "../utils/agentSession.js"

// A model that reasons, as each backend names it: asked to reason (`model_reasoning_effort`, the models being outside
// its catalog), Codex asks for its reasoning encrypted and sends back each turn's.
const models = {
  "chat-completions": "deepseek-reasoner",
  responses: "gpt-5-mini",
  anthropic: "claude-sonnet-5-1",
  gemini: "gemini-3-flash-preview",
  bedrock: "us.anthropic.claude-sonnet-5-1-v1:0"
} as const

const session = (backend: keyof typeof models) =>
  Effect.gen(function*() {
    const model = models[backend]
    const replicas = yield* agentReplicas({ label: "codex-replicas", model, backend, scenario: codexScenario })
    fs.writeFileSync(
      path.join(replicas.home, "config.toml"),
      [
        `model = "${model}"`,
        `model_reasoning_effort = "low"`,
        `model_auto_compact_token_limit = ${codexCompactAbove}`,
        `openai_base_url = "${replicas.balanced.url}/v1"`,
        ""
      ].join("\n")
    )
    const env = codexEnv(replicas.home)
    yield* codexLogin(env)
    const counts = yield* playAcrossReplicas(replicas, {
      agent: "codex exec",
      run: codexExec(replicas, env),
      first: [prompts.first],
      resumed: ["resume", "--last", prompts.resumed]
    })
    // A socket to each replica; the whole session on one deployment, none of it moved.
    expect(replicas.balanced.requests, "the requests (sockets) each replica was sent").toEqual([1, 1])
    // That deployment was sent back its thinking, and on Responses its compaction item.
    const bodies = keptWithItsDeployment(replicas, counts, backend)
    if (backend === "responses") {
      const items = bodies.flatMap((body) => body["input"] as ReadonlyArray<Record<string, unknown>>)
      expect(items.filter((item) => item["type"] === "compaction").length).toBeGreaterThan(0)
    }
  }).pipe(Effect.scoped)

// What each backend's deployment makes that only it reads.
const items = {
  responses: "encrypted reasoning and compaction items",
  anthropic: "signed thinking blocks (in the gateway's reasoning items)",
  gemini: "thought signatures (in the gateway's reasoning items)",
  bedrock: "signed reasoning (in the gateway's reasoning items)",
  "chat-completions": "DeepSeek's reasoning_content (in the gateway's reasoning items)"
} as const

describe("Codex CLI's session through two serve replicas sharing Redis, over deployments of two organisations", () => {
  for (const backend of ["chat-completions", "responses", "anthropic", "gemini", "bedrock"] as const) {
    it.live(
      `${backend}: ${items[backend]} stay with the deployment that made them, across replicas`,
      () => session(backend),
      300_000
    )
  }
})
