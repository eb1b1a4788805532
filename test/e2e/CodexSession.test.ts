/**
 * Codex CLI itself (the `@openai/codex` devDependency, `codex exec`, default settings but its provider and
 * `model_auto_compact_token_limit`) through a long scripted session (`test/utils/agentSession.ts`) against `serve`
 * over a deployment of each backend API, the five at once: every turn answered, its commands run (the file fixed and
 * extended), its context compacted inline when the scripted usage passes the limit, the session resumed by
 * `codex exec resume --last` after `serve` was restarted, and the gateway's recorded spend the simulator's bill.
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { agentKey, agentSession, backends, playSession, prompts, sessionScenario } from "../utils/agentSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"

const codexBin = createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")

const model = "gpt-4o-mini"
const compactAbove = 8000

// Codex reads, edits and runs through its one shell tool.
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

describe.concurrent("Codex CLI's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: codex exec compacts, resumes after serve restarts, and is billed what the simulator billed`,
      () =>
        Effect.gen(function*() {
          const session = yield* agentSession({ label: "codex-session", model, backend, scenario })
          fs.writeFileSync(
            path.join(session.home, "config.toml"),
            [
              `model = "${model}"`,
              `model_provider = "gateway"`,
              `model_auto_compact_token_limit = ${compactAbove}`,
              ``,
              `[model_providers.gateway]`,
              `name = "gateway"`,
              `base_url = "${session.url}/v1"`,
              `wire_api = "responses"`,
              `env_key = "GATEWAY_KEY"`,
              ``
            ].join("\n")
          )
          const codex = (args: ReadonlyArray<string>) =>
            spawnProcess(process.execPath, [
              codexBin,
              "exec",
              ...args,
              "--skip-git-repo-check",
              // The scripted commands change the file: no sandbox to ask for leave, in a directory of the test's own.
              "--dangerously-bypass-approvals-and-sandbox"
            ], {
              cwd: session.work,
              env: { ...envWithoutKeys(), CODEX_HOME: session.home, GATEWAY_KEY: agentKey },
              timeoutMs: 240_000
            })
          yield* playSession(session, {
            agent: "codex exec",
            run: codex,
            first: [prompts.first],
            resumed: ["resume", "--last", prompts.resumed]
          })
        }).pipe(Effect.scoped),
      300_000
    )
  }
})
