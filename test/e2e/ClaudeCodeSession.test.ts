/**
 * Claude Code (`@anthropic-ai/claude-code`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `claude -p`,
 * default settings but `CLAUDE_AUTOCOMPACT_PCT_OVERRIDE`, its tools allowed by `--allowedTools` as headless it asks
 * for no permission) through a long scripted session (`test/utils/agentSession.ts`) against `serve`'s Anthropic
 * routes over a deployment of each backend API, the five at once: every turn answered, its tools run (the file read,
 * edited, and shown by a command), its context compacted automatically when the scripted usage passes the threshold,
 * the session resumed by `claude -p --continue` after `serve` was restarted, the gateway's recorded spend the
 * simulator's bill, and the prompt each reply's usage tells Claude Code (what its auto-compaction reads, as its
 * transcript keeps it) the prompt the simulator counted. And with its tool search on and a model that binds its
 * thinking to the conversation's prefix (Claude 5.1), over an Anthropic deployment: a deferred tool loaded by
 * `ToolSearch` and called, the signed thinking of every turn sent back as it came.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  agentKey,
  type AgentSession,
  agentSession,
  type Backend,
  backends,
  modelTurns,
  playSession,
  prompts,
  sessionScenario
} from "../utils/agentSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

const model = "claude-sonnet-4-5"

// A Claude model that binds its thinking to the conversation's prefix, which the gateway's price table does not know.
const boundModel = "claude-sonnet-5-1"
const boundPrice = { input: 3, cachedInput: 0.3, cacheWrite: 3.75, output: 15 }

// Claude Code's Read and Edit take absolute paths; with tool search, its `ToolSearch` loads the deferred `TaskList`.
const scenario = (toolSearch: boolean) => (work: string) =>
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
    keptTurns: 1,
    ...(toolSearch
      ? {
        loadsTool: {
          search: { name: "ToolSearch", arguments: { query: "select:TaskList" } },
          call: { name: "TaskList", arguments: {} }
        }
      }
      : {})
  })

/**
 * The prompt each reply's usage told Claude Code, as its transcripts under `home` keep it (a reply's input, cache
 * reads and cache writes, which its auto-compaction adds up), by reply.
 */
const toldPrompts = (home: string): ReadonlyArray<number> => {
  const projects = path.join(home, ".claude", "projects")
  const told = new Map<string, number>()
  for (const project of fs.readdirSync(projects)) {
    for (const file of fs.readdirSync(path.join(projects, project)).filter((name) => name.endsWith(".jsonl"))) {
      for (const line of fs.readFileSync(path.join(projects, project, file), "utf8").split("\n")) {
        if (line === "") continue
        const entry = JSON.parse(line) as {
          readonly type?: string
          readonly message?: { readonly id?: string; readonly usage?: Record<string, number | undefined> }
        }
        const usage = entry.message?.usage
        if (entry.type !== "assistant" || usage === undefined || entry.message?.id === undefined) continue
        told.set(
          entry.message.id,
          (usage["input_tokens"] ?? 0) + (usage["cache_read_input_tokens"] ?? 0) +
            (usage["cache_creation_input_tokens"] ?? 0)
        )
      }
    }
  }
  return [...told.values()]
}

/** The session played by Claude Code (`toolSearch`: its tool search kept on), and the prompts it was told checked. */
const played = (session: AgentSession, claude: string, toolSearch: boolean) =>
  Effect.gen(function*() {
    const run = (args: ReadonlyArray<string>) =>
      spawnProcess(process.execPath, [
        claude,
        "-p",
        ...args,
        "--model",
        session.model,
        "--allowedTools",
        toolSearch ? "Read,Edit,Bash,TaskList" : "Read,Edit,Bash"
      ], {
        cwd: session.work,
        env: {
          ...envWithoutKeys(),
          HOME: session.home,
          TMPDIR: session.dir,
          ANTHROPIC_API_KEY: agentKey,
          ANTHROPIC_BASE_URL: session.url,
          ANTHROPIC_SMALL_FAST_MODEL: session.model,
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          DISABLE_AUTOUPDATER: "1",
          // Its default: tool search on (its `DeferredToolPlaceholder` deferred), but behind a base URL not
          // Anthropic's, off for a conversation that ran without `ToolSearch` (a resumed one) unless told to keep it.
          ...(toolSearch ? { ENABLE_TOOL_SEARCH: "true" } : {}),
          // Compaction at half of a window of 100,000 tokens (the least it takes): the scripted usage passes it once.
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
    // Every reply told the prompt a turn of the scenario reported (never an estimate beside the provider's counts).
    const counted = new Set(modelTurns(session.scenario).map((turn) => turn.usage?.input))
    const told = toldPrompts(session.home)
    expect(told.length).toBeGreaterThan(15)
    expect(told.filter((prompt) => !counted.has(prompt)), session.backend).toEqual([])
  })

describe.concurrent("Claude Code's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: claude -p compacts, resumes after serve restarts, is billed what the simulator billed, and is ` +
        "told the prompts the simulator counted",
      (ctx) =>
        Effect.gen(function*() {
          const claude = yield* claudeCode.pipe(orSkip(ctx))
          const session = yield* agentSession({
            label: "claude-code-session",
            model,
            backend,
            scenario: scenario(false)
          })
          yield* played(session, claude, false)
        }).pipe(Effect.scoped),
      300_000
    )
  }
  const anthropic: Backend = "anthropic"
  it.live(
    `${anthropic}: claude -p with tool search on and ${boundModel}'s bound thinking: a deferred tool loaded and called`,
    (ctx) =>
      Effect.gen(function*() {
        const claude = yield* claudeCode.pipe(orSkip(ctx))
        const session = yield* agentSession({
          label: "claude-code-tool-search",
          model: boundModel,
          price: boundPrice,
          backend: anthropic,
          scenario: scenario(true)
        })
        yield* played(session, claude, true)
      }).pipe(Effect.scoped),
    300_000
  )
})
