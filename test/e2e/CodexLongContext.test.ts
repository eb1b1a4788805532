/**
 * Codex's 1M-token context through `serve` (`codex exec`, the `@openai/codex` devDependency, its built-in provider over
 * the gateway's WebSocket mode on `/v1/responses`), over a deployment of each backend API: GPT-4.1, whose window is
 * 1,047,576 tokens (OpenAI's models reference), described to Codex by a `model_catalog_json` (its bundled catalog
 * lacks it, and its fallback metadata caps any model's window at 272,000 tokens, so it would compact past 244,800).
 * A task whose prompt passes 200,000 tokens (a long text on stdin) runs a command and is answered on every backend,
 * each call's prompt over 200,000 tokens and no compaction asked for (the scenario, strict, has none), and the gateway
 * records the simulator's bill.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { codexEnv, codexExec, codexLogin } from "../utils/agentRuns.js"
import { agentSession, type Backend, backends } from "../utils/agentSession.js"
import { codexTools } from "../utils/agentTools.js"
import { modelCatalog } from "../utils/codexConfig.js"
import { longCallsBilled, longPrompt } from "../utils/longPrompt.js"

const model = "gpt-4.1"
const contextWindow = 1_047_576

const longTurn = (backend: Backend) =>
  Effect.gen(function*() {
    const session = yield* agentSession({
      label: "codex-1m",
      model,
      backend,
      contextWindow,
      // A command, then the answer: both calls carry the whole long prompt.
      scenario: () => ({
        strict: true,
        turns: [
          { when: { contains: longPrompt.question }, toolCalls: [codexTools.run("wc -l hello.txt")] },
          { text: longPrompt.answer }
        ]
      })
    })
    const catalog = path.join(session.home, "models.json")
    fs.writeFileSync(catalog, JSON.stringify(modelCatalog(model, contextWindow)))
    fs.writeFileSync(
      path.join(session.home, "config.toml"),
      [`model = "${model}"`, `openai_base_url = "${session.url}/v1"`, `model_catalog_json = "${catalog}"`, ""].join(
        "\n"
      )
    )
    const env = codexEnv(session.home)
    yield* codexLogin(env)
    const ran = yield* codexExec(session, env, longPrompt.withQuestion)(["-"])
    expect(ran.code, `codex's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`).toBe(0)
    expect(ran.stdout.trim()).toBe(longPrompt.answer)
    yield* longCallsBilled(session, 2)
  }).pipe(Effect.scoped)

describe.concurrent("Codex's 1M-token context through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: codex exec with a model_catalog_json window answers a prompt over 200,000 tokens, billed as simulated`,
      () => longTurn(backend),
      300_000
    )
  }
})
