/**
 * Codex's prompt caching through `serve` (`codex exec`, the `@openai/codex` devDependency, its built-in provider over
 * the gateway's WebSocket mode on `/v1/responses`): its `prompt_cache_key` (its conversation's id; it sends no
 * `prompt_cache_retention`) reaches a Responses and a Chat Completions deployment as `prompt_cache_key`, and a Gemini
 * deployment caches the repeated prefix implicitly, so the conversation's later turns read what its first wrote.
 * `serve` counts the cache tokens the simulator reported and records its bill (`test/utils/cacheSession.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { agentKey, agentSession, type Backend, prompts } from "../utils/agentSession.js"
import { cacheScenario, playCachedTask } from "../utils/cacheSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"

const codexBin = createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")

const model = "gpt-4o-mini"

// Codex reads, edits and runs through its one shell tool.
const command = (cmd: string) => ({ name: "exec_command", arguments: { cmd } })
const scenario = () =>
  cacheScenario({
    read: (file) => command(`cat ${file}`),
    edit: (file, from, to) => command(`sed -i 's/${from}/${to}/' ${file}`),
    run: command
  })

// The backends that cache what Codex asks for: by its key (the OpenAI APIs), or implicitly (Gemini).
const caching: ReadonlyArray<Backend> = ["chat-completions", "responses", "gemini"]

const cachedTask = (backend: Backend) =>
  Effect.gen(function*() {
    const session = yield* agentSession({ label: "codex-cache", model, backend, scenario })
    fs.writeFileSync(
      path.join(session.home, "config.toml"),
      [`model = "${model}"`, `openai_base_url = "${session.url}/v1"`, ""].join("\n")
    )
    const env = { ...envWithoutKeys(), CODEX_HOME: session.home }
    const login = yield* spawnProcess(process.execPath, [codexBin, "login", "--with-api-key"], {
      env,
      stdin: `${agentKey}\n`,
      timeoutMs: 60_000
    })
    expect(login.code, login.stderr).toBe(0)
    const run = (args: ReadonlyArray<string>) =>
      spawnProcess(process.execPath, [
        codexBin,
        "exec",
        ...args,
        "--skip-git-repo-check",
        // The scripted commands change the file: no sandbox to ask for leave, in a directory of the test's own.
        "--dangerously-bypass-approvals-and-sandbox"
      ], { cwd: session.work, env, timeoutMs: 240_000 })
    yield* playCachedTask(session, { agent: "codex exec", run, first: [prompts.first], resumed: [] }, {
      reads: true,
      writes: undefined
    })
  }).pipe(Effect.scoped)

describe.concurrent("Codex's prompt caching through serve", () => {
  for (const backend of caching) {
    it.live(
      `${backend}: codex exec's prompt_cache_key read by the later turns, billed as simulated`,
      () => cachedTask(backend),
      300_000
    )
  }
})
