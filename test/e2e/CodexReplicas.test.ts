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
import { agentReplicas, requestCounts } from "../utils/agentReplicas.js"
import {
  agentKey,
  endings,
  modelTurns,
  prompts,
  sessionFile,
  sessionResult,
  sessionScenario
} from "../utils/agentSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"

const codexBin = createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")

// A reasoning model: asked to reason, Codex asks for its reasoning encrypted, and sends it back each turn.
const model = "gpt-5-mini"
const compactAbove = 8000

const command = (cmd: string) => ({ name: "exec_command", arguments: { cmd } })
const scenario = () =>
  sessionScenario({
    tools: {
      read: (file) => command(`cat ${file}`),
      edit: (file, from, to) => command(`sed -i 's/${from}/${to.replaceAll("\n", "\\n")}/' ${file}`),
      run: command
    },
    compactAbove,
    compacts: "in the tool loop"
  })

/** The input items of every body in `bodies`. */
const inputItems = (bodies: ReadonlyArray<Record<string, unknown>>) =>
  bodies.flatMap((body) => Array.isArray(body["input"]) ? body["input"] as ReadonlyArray<Record<string, unknown>> : [])

describe("Codex CLI's session through two serve replicas sharing Redis, over deployments of two organisations", () => {
  it.live(
    "responses: encrypted reasoning and compaction items stay with the deployment that made them, across replicas",
    () =>
      Effect.gen(function*() {
        const replicas = yield* agentReplicas({ label: "codex-replicas", model, backend: "responses", scenario })
        const { balanced, home, log, recorded, work } = replicas
        fs.writeFileSync(
          path.join(home, "config.toml"),
          [
            `model = "${model}"`,
            `model_reasoning_effort = "low"`,
            `model_auto_compact_token_limit = ${compactAbove}`,
            `openai_base_url = "${balanced.url}/v1"`,
            ""
          ].join("\n")
        )
        const env = { ...envWithoutKeys(), CODEX_HOME: home }
        const login = yield* spawnProcess(process.execPath, [codexBin, "login", "--with-api-key"], {
          env,
          stdin: `${agentKey}\n`,
          timeoutMs: 60_000
        })
        expect(login.code, login.stderr).toBe(0)
        const task = Effect.fnUntraced(function*(args: ReadonlyArray<string>, ending: string, text: string) {
          const ran = yield* spawnProcess(process.execPath, [
            codexBin,
            "exec",
            ...args,
            "--skip-git-repo-check",
            // The scripted commands change the file: no sandbox to ask for leave, in a directory of the test's own.
            "--dangerously-bypass-approvals-and-sandbox"
          ], { cwd: work, env, timeoutMs: 240_000 })
          expect(ran.code, `codex exec's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\n${log()}`).toBe(0)
          expect(ran.stdout.trim(), ran.stderr).toBe(ending)
          expect(fs.readFileSync(path.join(work, sessionFile.name), "utf8")).toBe(text)
        })
        yield* task([prompts.first], endings.first, "hello, world\n")
        yield* replicas.restart
        yield* task(["resume", "--last", prompts.resumed], endings.resumed, sessionResult)

        // Both replicas served the session: a socket each.
        expect(balanced.requests, "the requests (sockets) each replica was sent").toEqual([1, 1])
        // Every scripted turn played once, on one deployment: none refused, none moved.
        const counts = yield* requestCounts(replicas)
        expect([...counts].sort((a, b) => a - b), log()).toEqual([0, modelTurns(replicas.scenario).length])
        // That deployment was sent back its encrypted reasoning and compaction item.
        const items = inputItems(recorded[counts[0]! > 0 ? 0 : 1]!.bodies)
        const reasoning = items.filter((item) => item["type"] === "reasoning")
        expect(reasoning.length).toBeGreaterThan(0)
        for (const item of reasoning) expect(item["encrypted_content"]).toMatch(/^gAAAAB/)
        expect(items.filter((item) => item["type"] === "compaction").length).toBeGreaterThan(0)
      }).pipe(Effect.scoped),
    300_000
  )
})
