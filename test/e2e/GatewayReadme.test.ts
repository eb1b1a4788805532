/**
 * The gateway requests of README.md and docs/gateway.md, word for word: every `curl` command of the README's
 * "Gateway" section and of docs/gateway.md up to its "Gateway keys" (those need a config with keys), run by `sh`
 * against a `serve` with no config, as a reader who just started `npx effect-llm-router serve` would run them
 * (only the port is the test's own).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import { awaitFirstLine, spawnProcess, startInProcess } from "../utils/cliHarness.js"

const read = (file: string) => fs.readFileSync(path.resolve(import.meta.dirname, "../..", file), "utf8")

/** The part of `text` from the line `start` to the line `end` (or to the next `## ` heading), both required. */
const between = (text: string, start: string, end?: string): string => {
  const from = text.indexOf(`\n${start}\n`)
  const to = end === undefined ? text.indexOf("\n## ", from + 1) : text.indexOf(`\n${end}\n`)
  if (from < 0 || to < 0) throw new Error(`no section ${start} ... ${end ?? "## "}`)
  return text.slice(from, to)
}

/** The README's `## Gateway` section and docs/gateway.md up to `## Gateway keys`. */
const sections = (): ReadonlyArray<string> => [
  between(read("README.md"), "## Gateway"),
  between(`\n${read("docs/gateway.md")}`, "# Gateway", "## Gateway keys")
]

// The lines of those sections' shell blocks.
const shellLines = (): ReadonlyArray<string> =>
  sections().flatMap((section) => [...section.matchAll(/^ *```sh\n([\s\S]*?)^ *```$/gm)].map((match) => match[1]!))
    .flatMap((block) => block.split("\n"))

// The docs' line reading the admin token `serve` made in its data directory, which the admin requests send.
const adminTokenLine = (): string => shellLines().find((line) => /^\s*ADMIN_TOKEN=/.test(line))!.trim()

/** The `curl` commands of those sections, each as written. */
const gatewayCurls = (): ReadonlyArray<string> => {
  const commands: Array<string> = []
  for (const line of shellLines()) {
    if (/^\s*curl /.test(line)) commands.push(line.trim())
    // A line of the command before it: a `\` continuation, or a quoted body going on.
    else if (commands.length > 0 && (/\\$/.test(commands.at(-1)!) || /^\s+["{]/.test(line))) {
      commands[commands.length - 1] += `\n${line}`
    }
  }
  return commands
}

/** `METHOD path` of a command, `POST` when it sends a body, ` stream` added when it asks for one. */
const requestOf = (command: string) =>
  `${command.includes(" -d ") ? "POST" : "GET"} ${/localhost:4000(\/[^\s'"]*)/.exec(command)![1]}` +
  (/"stream": true/.test(command) ? " stream" : "")

const json = (text: string) => JSON.parse(text) as Record<string, unknown>

/** What each request answers, by `requestOf`: a request of those pages missing here fails the test. */
const expectations: Record<string, (out: string) => void> = {
  "POST /v1/chat/completions": (out) =>
    expect(json(out)).toMatchObject({ object: "chat.completion", choices: [{ message: { role: "assistant" } }] }),
  "POST /v1/chat/completions stream": (out) => {
    expect(out.trimEnd().endsWith("data: [DONE]")).toBe(true)
    expect(out).toMatch(/"usage":\{"prompt_tokens":\d+/)
  },
  "POST /v1/embeddings": (out) =>
    expect(json(out)).toMatchObject({
      object: "list",
      model: "text-embedding-3-small",
      data: [{ object: "embedding", index: 0 }, { object: "embedding", index: 1 }]
    }),
  "GET /v1/models": (out) => {
    const ids = (json(out).data as ReadonlyArray<{ readonly id: string }>).map((model) => model.id)
    expect(ids).toEqual(expect.arrayContaining(["main", "gpt-4o-mini", "text-embedding-3-small"]))
  },
  "GET /v1/batches": (out) => expect(json(out)).toMatchObject({ object: "list", data: [], has_more: false }),
  "GET /health": (out) => expect(json(out)).toEqual({ status: "ok" }),
  "GET /ready": (out) => expect(json(out)).not.toHaveProperty("error"),
  "POST /v1/messages": (out) => expect(json(out)).toMatchObject({ type: "message", role: "assistant" }),
  "POST /v1/messages stream": (out) => expect(out).toMatch(/^event: message_start\n[\s\S]*event: message_stop\n/),
  "POST /v1/messages/count_tokens": (out) => expect(json(out).input_tokens).toBeGreaterThan(0),
  "POST /v1/responses": (out) =>
    expect(json(out)).toMatchObject({ object: "response", status: "completed", output: [{ type: "message" }] }),
  "POST /v1/responses stream": (out) =>
    expect(out).toMatch(/^event: response\.created\n[\s\S]*event: response\.completed\n/),
  "POST /v1beta/models/gpt-4o-mini:generateContent": (out) =>
    expect(json(out)).toMatchObject({ candidates: [{ content: { role: "model" } }] }),
  "GET /metrics": (out) => expect(out).toMatch(/^llm_gateway_requests_total\{route="\/v1\/chat\/completions"/m),
  "GET /dashboard/data": (out) => expect(json(out)).toMatchObject({ deployments: expect.any(Array) })
}

describe("the gateway requests of the README and docs/gateway.md", () => {
  it("are found: a chat, streams on the router main, embeddings, Anthropic's messages and OpenAI's responses", () => {
    const requests = gatewayCurls().map(requestOf)
    expect(requests).toEqual(expect.arrayContaining([
      "POST /v1/chat/completions",
      "POST /v1/chat/completions stream",
      "POST /v1/embeddings",
      "POST /v1/messages",
      "POST /v1/messages stream",
      "POST /v1/messages/count_tokens",
      "POST /v1/responses",
      "POST /v1/responses stream"
    ]))
    expect(between(read("README.md"), "## Gateway")).toContain("curl -sN localhost:4000/v1/chat/completions")
    expect(gatewayCurls().filter((command) => command.includes("\"model\": \"main\""))).toHaveLength(3)
  })

  it.live("each answers, as written, from a `serve` with no config", () =>
    Effect.gen(function*() {
      const running = yield* startInProcess((io) => Serve.run(["--port", "0"], io))
      const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
      const port = new URL(url).port
      for (const command of gatewayCurls()) {
        const expectation = expectations[requestOf(command)]
        expect(expectation, `an expectation for ${requestOf(command)}`).toBeDefined()
        const script = `${adminTokenLine()}\n${command.replaceAll("localhost:4000", `localhost:${port}`)}`
        const run = yield* spawnProcess("sh", ["-c", script], {
          timeoutMs: 30_000
        })
        expect({ command, code: run.code, stderr: run.stderr }).toEqual({ command, code: 0, stderr: "" })
        expectation!(run.stdout)
      }
    }).pipe(Effect.scoped), 120_000)
})
