/**
 * Claude Code (`claude -p`, as in `ClaudeCodeSession.test.ts`, on a Claude model that thinks) through the long scripted
 * session against two `serve` replicas sharing Redis behind a balancer (`test/utils/agentReplicas.ts`: each request to
 * the next replica in turn), whose model is a router over two deployments of two organisations (keys): on a Responses
 * backend its thinking is each deployment's encrypted reasoning, which the other refuses 400
 * `invalid_encrypted_content`, as OpenAI does; on an Anthropic backend it is signed thinking, which the simulator
 * refuses with a signature made for another text or prefix. Every turn answered, its context compacted, the session
 * resumed after both replicas restarted; the whole session on one deployment (the one that made its thinking), which
 * refused nothing and was sent its thinking back.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentReplicas, requestCounts } from "../utils/agentReplicas.js"
import {
  agentKey,
  type Backend,
  endings,
  modelTurns,
  prompts,
  sessionFile,
  sessionResult,
  sessionScenario
} from "../utils/agentSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

// A Claude model that thinks before each call and binds its thinking to the conversation's prefix.
const model = "claude-sonnet-5-1"

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

/** The thinking each body sent back to the deployment: encrypted reasoning items, or signed thinking blocks. */
const thinkingSent: Record<"responses" | "anthropic", (body: Record<string, unknown>) => ReadonlyArray<unknown>> = {
  responses: (body) =>
    (body["input"] as ReadonlyArray<Record<string, unknown>>)
      .filter((item) => item["type"] === "reasoning")
      .map((item) => item["encrypted_content"]),
  anthropic: (body) =>
    (body["messages"] as ReadonlyArray<{ readonly content: unknown }>)
      .flatMap((message) =>
        Array.isArray(message.content) ? message.content as ReadonlyArray<Record<string, unknown>> : []
      )
      .filter((block) => block["type"] === "thinking")
      .map((block) => block["signature"])
}

// What a deployment's thinking looks like: OpenAI's encrypted content (a Fernet token), or a signature.
const signed = { responses: /^gAAAAB/, anthropic: /^\S+$/ } as const

const session = (backend: Backend & keyof typeof thinkingSent) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const claude = yield* claudeCode.pipe(orSkip(ctx))
    const replicas = yield* agentReplicas({ label: "claude-code-replicas", model, backend, scenario })
    const { balanced, home, log, recorded, work } = replicas
    const task = Effect.fnUntraced(function*(args: ReadonlyArray<string>, ending: string, text: string) {
      const ran = yield* spawnProcess(process.execPath, [
        claude,
        "-p",
        ...args,
        "--model",
        model,
        "--allowedTools",
        "Read,Edit,Bash"
      ], {
        cwd: work,
        env: {
          ...envWithoutKeys(),
          HOME: home,
          TMPDIR: replicas.dir,
          ANTHROPIC_API_KEY: agentKey,
          ANTHROPIC_BASE_URL: balanced.url,
          ANTHROPIC_SMALL_FAST_MODEL: model,
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          DISABLE_AUTOUPDATER: "1",
          // Compaction at half of a window of 100,000 tokens (the least it takes): the scripted usage passes it once.
          CLAUDE_CODE_AUTO_COMPACT_WINDOW: "100000",
          CLAUDE_AUTOCOMPACT_PCT_OVERRIDE: "50"
        },
        timeoutMs: 240_000
      })
      expect(ran.code, `claude's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\n${log()}`).toBe(0)
      expect(ran.stdout.trim(), ran.stderr).toBe(ending)
      expect(fs.readFileSync(path.join(work, sessionFile.name), "utf8")).toBe(text)
    })
    yield* task([prompts.first], endings.first, "hello, world\n")
    yield* replicas.restart
    yield* task(["--continue", prompts.resumed], endings.resumed, sessionResult)

    // Both replicas served the session's turns.
    expect(balanced.requests.every((count) => count > 0), String(balanced.requests)).toBe(true)
    // Every scripted turn played once, on one deployment: none refused, none moved.
    const counts = yield* requestCounts(replicas)
    expect([...counts].sort((a, b) => a - b), log()).toEqual([0, modelTurns(replicas.scenario).length])
    // That deployment was sent its thinking back.
    const sent = recorded[counts[0]! > 0 ? 0 : 1]!.bodies.flatMap(thinkingSent[backend])
    expect(sent.length).toBeGreaterThan(0)
    for (const content of sent) expect(content).toMatch(signed[backend])
  }).pipe(Effect.scoped)

describe("Claude Code's session through two serve replicas sharing Redis, over deployments of two organisations", () => {
  for (const backend of ["responses", "anthropic"] as const) {
    it.live(
      `${backend}: its thinking stays with the deployment that made it, across replicas, compacted and resumed`,
      session(backend),
      300_000
    )
  }
})
