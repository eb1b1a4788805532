/**
 * Codex CLI (`codex exec`, its built-in OpenAI provider, over its WebSocket, `model_reasoning_effort = "low"`) through
 * the long scripted session (`test/utils/agentSession.ts`) against two `serve` replicas sharing Redis behind a balancer
 * (`test/utils/agentReplicas.ts`: each socket to the next replica, so the first task is served by one and the resumed
 * task by the other), whose model is a router over two Responses deployments of two organisations: what one encrypts
 * (its reasoning items, asked for with `include: ["reasoning.encrypted_content"]`, and its compaction items) the other
 * refuses 400 `invalid_encrypted_content`, as OpenAI does. Every turn answered, its context compacted, the session
 * resumed after both replicas restarted; the whole session on the deployment that made its items, which got each
 * encrypted item back and refused none.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { agentReplicas, playAcrossReplicas } from "../utils/agentReplicas.js"
import { codexCompactAbove, codexScenario } from "../utils/agentScenarios.js"
import { agentKey, prompts } from "../utils/agentSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"

const codexBin = createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")

// A reasoning model: asked to reason, Codex asks for its reasoning encrypted, and sends it back each turn.
const model = "gpt-5-mini"

/** The input items of every body in `bodies`. */
const inputItems = (bodies: ReadonlyArray<Record<string, unknown>>) =>
  bodies.flatMap((body) => Array.isArray(body["input"]) ? body["input"] as ReadonlyArray<Record<string, unknown>> : [])

describe("Codex CLI's session through two serve replicas sharing Redis, over deployments of two organisations", () => {
  it.live(
    "responses: encrypted reasoning and compaction items stay with the deployment that made them, across replicas",
    () =>
      Effect.gen(function*() {
        const replicas = yield* agentReplicas({
          label: "codex-replicas",
          model,
          backend: "responses",
          scenario: codexScenario
        })
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
        const env = { ...envWithoutKeys(), CODEX_HOME: replicas.home }
        const login = yield* spawnProcess(process.execPath, [codexBin, "login", "--with-api-key"], {
          env,
          stdin: `${agentKey}\n`,
          timeoutMs: 60_000
        })
        expect(login.code, login.stderr).toBe(0)
        const counts = yield* playAcrossReplicas(replicas, {
          agent: "codex exec",
          run: (args) =>
            spawnProcess(process.execPath, [
              codexBin,
              "exec",
              ...args,
              "--skip-git-repo-check",
              // The scripted commands change the file: no sandbox to ask for leave, in a directory of the test's own.
              "--dangerously-bypass-approvals-and-sandbox"
            ], { cwd: replicas.work, env, timeoutMs: 240_000 }),
          first: [prompts.first],
          resumed: ["resume", "--last", prompts.resumed]
        })
        // A socket to each replica; the whole session on one deployment, none of it moved.
        expect(replicas.balanced.requests, "the requests (sockets) each replica was sent").toEqual([1, 1])
        expect(counts.filter((count) => count > 0), replicas.log()).toHaveLength(1)
        // That deployment was sent back its encrypted reasoning and compaction item.
        const items = inputItems(replicas.recorded[counts[0]! > 0 ? 0 : 1]!.bodies)
        const reasoning = items.filter((item) => item["type"] === "reasoning")
        expect(reasoning.length).toBeGreaterThan(0)
        for (const item of reasoning) expect(item["encrypted_content"]).toMatch(/^gAAAAB/)
        expect(items.filter((item) => item["type"] === "compaction").length).toBeGreaterThan(0)
      }).pipe(Effect.scoped),
    300_000
  )
})
