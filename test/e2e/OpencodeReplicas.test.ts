/**
 * opencode (`opencode run`, its thinking on at `serve`'s Anthropic routes, as in `OpencodeSession.test.ts`) through the
 * long scripted session against two `serve` replicas sharing Redis behind a balancer (`test/utils/agentReplicas.ts`:
 * each request to the next replica in turn), whose model is a router over two deployments of two organisations, of
 * each backend's thinking model: a Responses deployment's encrypted reasoning (which the other refuses 400
 * `invalid_encrypted_content`, as OpenAI does), Anthropic's and Bedrock's signed thinking, Gemini's thought signatures,
 * DeepSeek's reasoning_content, each carried to opencode in the gateway's signed thinking blocks. Every turn answered,
 * its context compacted, the session resumed after both replicas restarted; the whole session on the deployment that
 * made its thinking, which got it back as it made it.
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { agentReplicas, keptWithItsDeployment, playAcrossReplicas } from "../utils/agentReplicas.js"
import { opencodeAnswer, opencodeRun } from "../utils/agentRuns.js"
import { opencodeLimit, opencodeScenario } from "../utils/agentScenarios.js"
import { type Backend, backends, prompts } from "../utils/agentSession.js"
import { opencode, orSkip } from "../utils/pinnedCli.js"

// Each backend's thinking model (`OpencodeSession.test.ts`).
const models: Record<Backend, string> = {
  "chat-completions": "deepseek-reasoner",
  "responses": "o4-mini",
  "anthropic": "claude-sonnet-5-1",
  "gemini": "gemini-3-pro-preview",
  "bedrock": "us.anthropic.claude-sonnet-5-1-v1:0"
}

const session = (backend: Backend) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const program = yield* opencode.pipe(orSkip(ctx))
    const model = models[backend]
    const replicas = yield* agentReplicas({ label: "opencode-replicas", model, backend, scenario: opencodeScenario })
    const counts = yield* playAcrossReplicas(replicas, {
      agent: "opencode",
      run: opencodeRun(program, { ...replicas, url: replicas.balanced.url, model }, {
        npm: "@ai-sdk/anthropic",
        baseUrl: `${replicas.balanced.url}/v1`,
        modelSettings: {
          limit: opencodeLimit,
          reasoning: true,
          options: { thinking: { type: "enabled", budgetTokens: 2_048 } }
        }
      }),
      first: [prompts.first],
      resumed: ["--continue", prompts.resumed],
      answer: opencodeAnswer
    })
    keptWithItsDeployment(replicas, counts, backend)
  }).pipe(Effect.scoped)

describe("opencode's session through two serve replicas sharing Redis, over deployments of two organisations", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: its thinking stays with the deployment that made it, across replicas, compacted and resumed`,
      session(backend),
      300_000
    )
  }
})
