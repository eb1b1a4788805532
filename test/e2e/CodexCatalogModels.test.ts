/**
 * Codex's own models through `serve` (`codex exec`, the `@openai/codex` devDependency, its built-in provider): a model
 * of its bundled catalog gets tools of kinds only the Responses API has. GPT-5.5 gets `apply_patch` as a custom tool
 * (free text in a grammar) and the client's tool search (`tool_search`, `execution: "client"`); GPT-6 gets all its
 * tools in an `additional_tools` input item, in namespaces, its `exec` a custom tool. Over a deployment of each other
 * API they are offered as functions, and the model's calls reach Codex as it asked for them: the patch is applied, the
 * search answered, the script run, and each task ends in the scripted answer. A Responses deployment is sent them as
 * they came, and the simulator's Responses API calls them as OpenAI's does.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { codexEnv, codexExec, codexLogin } from "../utils/agentRuns.js"
import { type AgentSession, agentSession, type Backend, backends } from "../utils/agentSession.js"

const pricing = { input_per_mtok: 1.25, output_per_mtok: 10 }

const patch = ["*** Begin Patch", "*** Add File: notes.txt", "+patched through serve", "*** End Patch", ""].join("\n")

// `codex exec` of `prompt` through its built-in provider at `serve` (the gateway key saved by its login), exiting 0
// with `answer`.
const answers = (session: AgentSession, prompt: string, answer: string) =>
  Effect.gen(function*() {
    fs.writeFileSync(
      path.join(session.home, "config.toml"),
      [`model = "${session.model}"`, `openai_base_url = "${session.url}/v1"`, ""].join("\n")
    )
    const env = codexEnv(session.home)
    yield* codexLogin(env)
    const ran = yield* codexExec(session, env)([prompt])
    expect(ran.code, `codex's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`).toBe(0)
    expect(ran.stdout.trim()).toBe(answer)
  })

const patchAndSearch = (backend: Backend) =>
  Effect.gen(function*() {
    const session = yield* agentSession({
      label: "codex-gpt55",
      model: "gpt-5.5",
      backend,
      pricing,
      scenario: () => ({
        strict: true,
        turns: [
          { when: { contains: "Add the notes" }, toolCalls: [{ name: "apply_patch", arguments: { input: patch } }] },
          { when: { contains: "notes.txt" }, toolCalls: [{ name: "tool_search", arguments: { query: "calendar" } }] },
          { when: { contains: "Loaded tools" }, text: "Notes added, and no calendar tool." }
        ]
      })
    })
    yield* answers(session, "Add the notes, then look for a calendar tool.", "Notes added, and no calendar tool.")
    expect(fs.readFileSync(path.join(session.work, "notes.txt"), "utf8")).toBe("patched through serve\n")
  }).pipe(Effect.scoped)

const codeMode = (backend: Backend) =>
  Effect.gen(function*() {
    const session = yield* agentSession({
      label: "codex-gpt6",
      model: "gpt-6-sol",
      backend,
      pricing,
      scenario: () => ({
        strict: true,
        turns: [
          {
            when: { contains: "Greet" },
            toolCalls: [{ name: "functions__exec", arguments: { input: "text('hi from exec')" } }]
          },
          { when: { contains: "hi from exec" }, text: "The script said hi." }
        ]
      })
    })
    yield* answers(session, "Greet from a script.", "The script said hi.")
  }).pipe(Effect.scoped)

describe.concurrent("Codex's catalog models through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: GPT-5.5's apply_patch (a custom tool) and tool search, offered as functions, called as Codex asked`,
      () => patchAndSearch(backend),
      240_000
    )
    it.live(
      `${backend}: GPT-6's tools in an additional_tools item, its code-mode exec (a namespace's custom tool) run`,
      () => codeMode(backend),
      240_000
    )
  }
})
