/**
 * Claude Code (`@anthropic-ai/claude-code`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `claude -p`,
 * default settings but `CLAUDE_AUTOCOMPACT_PCT_OVERRIDE`, its tools allowed by `--allowedTools` as headless it asks
 * for no permission) through a long scripted session (`test/utils/agentSession.ts`) against `serve`'s Anthropic
 * routes over a deployment of each backend API, the five at once: every turn answered, its tools run (the file read,
 * edited, and shown by a command), its context compacted automatically when the scripted usage passes the threshold,
 * the session resumed by `claude -p --continue` after `serve` was restarted, and the gateway's recorded spend the
 * simulator's bill.
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { agentKey, agentSession, backends, playSession, prompts, sessionScenario } from "../utils/agentSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

const model = "claude-sonnet-4-5"

// Claude Code's Read and Edit take absolute paths.
const scenario = (work: string) =>
  sessionScenario({
    tools: {
      read: (file) => ({ name: "Read", arguments: { file_path: path.join(work, file) } }),
      edit: (file, from, to) => ({
        name: "Edit",
        arguments: { file_path: path.join(work, file), old_string: from, new_string: to }
      }),
      run: (command) => ({ name: "Bash", arguments: { command } })
    },
    compacts: "in the tool loop",
    compactAbove: 60_000,
    keptTurns: 1
  })

describe.concurrent("Claude Code's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: claude -p compacts, resumes after serve restarts, and is billed what the simulator billed`,
      (ctx) =>
        Effect.gen(function*() {
          const claude = yield* claudeCode.pipe(orSkip(ctx))
          const session = yield* agentSession({ label: "claude-code-session", model, backend, scenario })
          const run = (args: ReadonlyArray<string>) =>
            spawnProcess(process.execPath, [
              claude,
              "-p",
              ...args,
              "--model",
              model,
              "--allowedTools",
              "Read,Edit,Bash"
            ], {
              cwd: session.work,
              env: {
                ...envWithoutKeys(),
                HOME: session.home,
                TMPDIR: session.dir,
                ANTHROPIC_API_KEY: agentKey,
                ANTHROPIC_BASE_URL: session.url,
                ANTHROPIC_SMALL_FAST_MODEL: model,
                CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
                DISABLE_AUTOUPDATER: "1",
                // Compaction at half of a window of 100,000 tokens (the least it takes): the scripted usage passes
                // it once.
                CLAUDE_CODE_AUTO_COMPACT_WINDOW: "100000",
                CLAUDE_AUTOCOMPACT_PCT_OVERRIDE: "50"
              },
              timeoutMs: 240_000
            })
          yield* playSession(session, {
            agent: "claude",
            run,
            first: [prompts.first],
            resumed: ["--continue", prompts.resumed]
          })
        }).pipe(Effect.scoped),
      300_000
    )
  }
})
