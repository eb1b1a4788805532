/**
 * Gemini CLI (`gemini -p`, as in `GeminiCliSession.test.ts`) on a Gemini 3 model through the long scripted session
 * against two `serve` replicas sharing Redis behind a balancer (`test/utils/agentReplicas.ts`: each request to the
 * next replica in turn), whose model is a router over two deployments of two keys, of each backend's API. A Gemini 3
 * model wants each step's first function call back with the thought signature it made for it (the Gemini API's thought
 * signatures page), a Claude its signed thinking (Anthropic's extended thinking with tool use; on Bedrock a Claude
 * model), a Responses deployment its encrypted reasoning, DeepSeek's thinking model its reasoning_content (on Chat
 * Completions), each of which the gateway carries to Gemini CLI in the call's signature, and the simulator refuses one
 * without it or with another:
 * every turn answered, the chat compressed, the session resumed after both replicas restarted, none refused, and each
 * replayed step's reasoning sent back to the deployment in the form the deployment made it (a Gemini signature, not the
 * stand-in `skip_thought_signature_validator` put on a call that lost its own; the others' thinking as they made it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { agentReplicas, playAcrossReplicas, thinkingForm, thinkingSentBack } from "../utils/agentReplicas.js"
import { geminiCliScenario, geminiCompressionThreshold } from "../utils/agentScenarios.js"
import { agentKey, prompts } from "../utils/agentSession.js"
import { agentEnv, spawnProcess } from "../utils/cliHarness.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

// A Gemini 3 model of Google's, which Gemini CLI compresses with itself.
const model = "gemini-3-flash-preview"

// Where the backend's API does not serve it, the model that thinks there: on Bedrock a Claude model, the only one whose
// thinking Converse carries (signed); on Chat Completions DeepSeek's, whose reasoning_content its API wants back.
const upstreams = { "bedrock": "us.anthropic.claude-sonnet-5-1-v1:0", "chat-completions": "deepseek-reasoner" } as const

// The backends whose reasoning Gemini CLI carries back, and the path of the calls that send it.
const carried = {
  "chat-completions": "/chat/completions",
  gemini: ":streamGenerateContent",
  anthropic: "/v1/messages",
  bedrock: "/converse-stream",
  responses: "/responses"
} as const

describe.concurrent("Gemini CLI's session through two serve replicas sharing Redis, over two deployments", () => {
  for (const backend of ["chat-completions", "responses", "anthropic", "gemini", "bedrock"] as const) {
    it.live(
      `${backend}: its reasoning comes back to the model on every replica, compressed and resumed`,
      (ctx) =>
        Effect.gen(function*() {
          const gemini = yield* geminiCli.pipe(orSkip(ctx))
          const replicas = yield* agentReplicas({
            label: "gemini-cli-replicas",
            model,
            ...(backend in upstreams ? { upstream: upstreams[backend as keyof typeof upstreams] } : {}),
            backend,
            scenario: geminiCliScenario
          })
          writeGeminiSettings(replicas.home, { name: model, compressionThreshold: geminiCompressionThreshold })
          yield* playAcrossReplicas(replicas, {
            agent: "gemini",
            run: (args) =>
              spawnProcess(process.execPath, [gemini, "--skip-trust", "--approval-mode", "yolo", ...args], {
                cwd: replicas.work,
                env: {
                  ...agentEnv(),
                  HOME: replicas.home,
                  TMPDIR: replicas.dir,
                  GEMINI_API_KEY: agentKey,
                  GOOGLE_GEMINI_BASE_URL: replicas.balanced.url,
                  GEMINI_TELEMETRY_ENABLED: "false"
                },
                timeoutMs: 240_000
              }),
            first: ["-p", prompts.first],
            resumed: ["--resume", "latest", "-p", prompts.resumed]
          })
          // Each replayed step's first call came back in the session's turns with the model's own signature, which the
          // simulator checks is the one it made for the call (the compression's whole calls are left out: Gemini CLI
          // puts its stand-in on what it summarises).
          const streamed = replicas.recorded.flatMap((one) =>
            one.bodies.filter((_, n) => one.paths[n]!.includes(carried[backend]))
          )
          const signatures = streamed.flatMap(thinkingSentBack[backend])
          expect(signatures.length).toBeGreaterThan(0)
          for (const signature of signatures) expect(signature).toMatch(thinkingForm[backend])
        }).pipe(Effect.scoped),
      300_000
    )
  }
})
