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
 * never.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { codexCompactAbove, codexScenario } from "../utils/agentScenarios.js"
import { agentKey, agentSession, type Backend, backends, playSession, prompts } from "../utils/agentSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { providerLines } from "../utils/codexConfig.js"
import { eventually } from "../utils/eventually.js"

const codexBin = createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")

const model = "gpt-4o-mini"
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

const session = (pointing: Pointing, backend: Backend) =>
  Effect.gen(function*() {
    const session = yield* agentSession({ label: "codex-session", model, backend, scenario: codexScenario })
    fs.writeFileSync(
      path.join(session.home, "config.toml"),
      [
        `model = "${model}"`,
        `model_auto_compact_token_limit = ${codexCompactAbove}`,
        ...pointing.config(session.url),
        ""
      ]
        .join("\n")
    )
    const env = { ...envWithoutKeys(), CODEX_HOME: session.home, ...(pointing.login ? {} : { GATEWAY_KEY: agentKey }) }
    if (pointing.login) {
      const login = yield* spawnProcess(process.execPath, [codexBin, "login", "--with-api-key"], {
        env,
        stdin: `${agentKey}\n`,
        timeoutMs: 60_000
      })
      expect(login.code, login.stderr).toBe(0)
    }
    const codex = (args: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const ran = yield* spawnProcess(process.execPath, [
          codexBin,
          "exec",
          ...args,
          "--skip-git-repo-check",
          // The scripted commands change the file: no sandbox to ask for leave, in a directory of the test's own.
          "--dangerously-bypass-approvals-and-sandbox"
        ], { cwd: session.work, env, timeoutMs: 240_000 })
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
  }).pipe(Effect.scoped)

describe.concurrent("Codex CLI's long session through serve, over its WebSocket", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: ${builtIn.name}: compacts by compaction_trigger, resumes after serve restarts, billed as simulated`,
      () => session(builtIn, backend),
      300_000
    )
  }
  it.live(
    `chat-completions: ${ownProvider.name}: compacts inline, resumes after serve restarts, billed as simulated`,
    () => session(ownProvider, "chat-completions"),
    300_000
  )
})
