/**
 * The agents' compatibility matrix: for each agent CLI, feature row and backend dialect, the test that covers it, the
 * reason the client lacks the feature, or what is not tested yet. `test/agentMatrix.test.ts` checks every named test
 * still exists and that docs/agents.md shows this matrix as rendered here (`npm run agents-matrix` rewrites it).
 */
import * as fs from "node:fs"
import { type Backend, backends } from "./agentSession.js"

export type Agent = "Codex" | "Claude Code" | "Gemini CLI" | "opencode"

export const agents: ReadonlyArray<Agent> = ["Codex", "Claude Code", "Gemini CLI", "opencode"]

export const rows = [
  "messaging",
  "streaming",
  "tools",
  "parallel tools",
  "prompt caching (5-minute and 1-hour)",
  "images",
  "PDFs",
  "thinking (signature-only, bound prefix)",
  "structured output",
  "count_tokens with tools",
  "tool search",
  "1M context",
  "compaction",
  "resume after a restart",
  "encrypted items across replicas",
  "WebSocket transport",
  "MCP tools",
  "spend equal to the bill"
] as const

export type Row = typeof rows[number]

/** A test file and a stable substring of the covering test's title. */
export interface TestRef {
  readonly file: string
  readonly title: string
}

export type Cell =
  | { readonly test: TestRef; readonly backends: ReadonlyArray<Backend> }
  | { readonly lacks: string }
  | { readonly untested: string }

const sessions: Record<Agent, TestRef> = {
  "Codex": {
    file: "test/e2e/CodexSession.test.ts",
    title: ": compacts by compaction_trigger, resumes after serve restarts, billed as simulated"
  },
  "Claude Code": {
    file: "test/e2e/ClaudeCodeSession.test.ts",
    title: ": claude -p compacts, resumes after serve restarts, is billed what the simulator billed"
  },
  "Gemini CLI": {
    file: "test/e2e/GeminiCliSession.test.ts",
    title: ": gemini -p resumes after serve restarts, compresses, and is billed what the simulator billed"
  },
  "opencode": {
    file: "test/e2e/OpencodeSession.test.ts",
    title: ": opencode run compacts, resumes after serve restarts, and is billed what the simulator billed"
  }
}

/**
 * The rows each long-session test plays on every backend: a prompt, its turns streamed (each counted as a stream by
 * the gateway's metrics), tool calls (two of them at once in a turn, each answered, as every backend's API requires),
 * compaction, a resume, the bill.
 */
const sessionRows: ReadonlyArray<Row> = [
  "messaging",
  "streaming",
  "tools",
  "parallel tools",
  "compaction",
  "resume after a restart",
  "spend equal to the bill"
]

const mcp: Partial<Record<Agent, Cell>> = {
  "Codex": {
    test: { file: "test/e2e/CodexMcp.test.ts", title: "codex exec lists and calls the tool its key allows" },
    backends
  },
  "Claude Code": {
    test: { file: "test/e2e/ClaudeCodeMcp.test.ts", title: "claude -p lists and calls the tool its key allows" },
    backends
  },
  "Gemini CLI": {
    test: { file: "test/e2e/GeminiCliMcp.test.ts", title: "gemini -p lists and calls the tool its key allows" },
    backends
  },
  "opencode": {
    test: { file: "test/e2e/OpencodeMcp.test.ts", title: "opencode run lists and calls the tool its key allows" },
    backends
  }
}

const claudeToolSearch: TestRef = {
  file: "test/e2e/ClaudeCodeSession.test.ts",
  title: "claude -p with tool search on and"
}

/**
 * Claude Code's thinking, sent back as each backend's API wants it. Not on Gemini: a Gemini 3 model wants each call's
 * thought signature back on the call it signed, and Claude Code sends its Edit calls back with an argument the model
 * did not write (`replace_all: false`), which the simulator, binding a signature to the call's arguments, refuses.
 */
const claudeThinking: Cell = {
  test: claudeToolSearch,
  backends: backends.filter((backend) => backend !== "gemini")
}

const special: Partial<Record<Agent, Partial<Record<Row, Cell>>>> = {
  "Codex": {
    "WebSocket transport": { test: sessions.Codex, backends },
    "structured output": {
      test: { file: "test/e2e/CodexStructuredOutput.test.ts", title: "codex exec --output-schema prints an answer" },
      backends: backends.filter((backend) => backend !== "bedrock")
    },
    "PDFs": { lacks: "Codex sends no PDFs to its model" },
    // A Responses deployment's encrypted reasoning and compaction items; Anthropic's signed thinking; Gemini's thought
    // signatures.
    "encrypted items across replicas": {
      test: {
        file: "test/e2e/CodexReplicas.test.ts",
        title: "stay with the deployment that made them, across replicas"
      },
      backends: ["responses", "anthropic", "gemini"]
    },
    "MCP tools": mcp.Codex!
  },
  "Claude Code": {
    "tool search": { test: claudeToolSearch, backends },
    "structured output": {
      test: {
        file: "test/e2e/ClaudeCodeStructuredOutput.test.ts",
        title: "claude -p --json-schema prints the answer its model gave"
      },
      backends
    },
    "thinking (signature-only, bound prefix)": claudeThinking,
    "WebSocket transport": { lacks: "Claude Code speaks HTTP with server-sent events only" },
    // Where its thinking is a deployment's: encrypted reasoning on Responses, signed thinking on Anthropic.
    "encrypted items across replicas": {
      test: {
        file: "test/e2e/ClaudeCodeReplicas.test.ts",
        title: ": its thinking stays with the deployment that made it, across replicas"
      },
      backends: ["responses", "anthropic"]
    },
    "MCP tools": mcp["Claude Code"]!
  },
  "Gemini CLI": {
    "WebSocket transport": { lacks: "Gemini CLI speaks HTTP with server-sent events only" },
    // Where its items exist: a Gemini deployment's thought signatures.
    "encrypted items across replicas": {
      test: {
        file: "test/e2e/GeminiCliReplicas.test.ts",
        title: "gemini: thought signatures come back to the model on every replica"
      },
      backends: ["gemini"]
    },
    "structured output": {
      lacks: "Gemini CLI cannot ask for an answer that fits a schema (its `--output-format json` frames its own output)"
    },
    "MCP tools": mcp["Gemini CLI"]!
  },
  "opencode": {
    "MCP tools": mcp.opencode!,
    "structured output": {
      lacks: "opencode run cannot ask for an answer that fits a schema (its `--format json` is its own events)"
    }
  }
}

/** The matrix's cell for one agent and row. */
export const cell = (agent: Agent, row: Row): Cell =>
  special[agent]?.[row] ??
    (sessionRows.includes(row)
      ? { test: sessions[agent], backends }
      : { untested: "no test plays it for this agent" })

/** Every cell, for counting and checking. */
export const cells = (): ReadonlyArray<{ readonly agent: Agent; readonly row: Row; readonly cell: Cell }> =>
  agents.flatMap((agent) => rows.map((row) => ({ agent, row, cell: cell(agent, row) })))

const packages: Record<Agent, string> = {
  "Codex": "@openai/codex",
  "Claude Code": "@anthropic-ai/claude-code",
  "Gemini CLI": "@google/gemini-cli",
  "opencode": "opencode-ai"
}

/** Each agent's npm package and the version the suite pins (package.json, or test/utils/pinnedCli.ts). */
export function pinnedVersions(root: string): ReadonlyArray<{ agent: Agent; pkg: string; version: string }> {
  const manifest = JSON.parse(fs.readFileSync(`${root}/package.json`, "utf8"))
  const pinned = fs.readFileSync(`${root}/test/utils/pinnedCli.ts`, "utf8")
  return agents.map((agent) => {
    const pkg = packages[agent]
    const inPinned = new RegExp(`name: "${pkg}",\\s*version: "([^"]+)"`).exec(pinned)?.[1]
    const version = manifest.devDependencies?.[pkg] ?? inPinned
    if (version === undefined) throw new Error(`no pinned version for ${pkg}`)
    return { agent, pkg, version }
  })
}

const shortRef = (ref: TestRef): string => ref.file.replace(/^test\/e2e\//, "").replace(/\.test\.ts$/, "")

/** The matrix as markdown: the pinned versions (and the newest seen, when given), then a table per agent. */
export function renderMatrix(root: string, newest?: Readonly<Record<string, string>>): string {
  const versions = pinnedVersions(root)
  const lines: Array<string> = [
    newest ? "| Agent | npm package | pinned | newest checked |" : "| Agent | npm package | pinned |",
    newest ? "| --- | --- | --- | --- |" : "| --- | --- | --- |",
    ...versions.map((v) =>
      `| ${v.agent} | \`${v.pkg}\` | ${v.version} |${newest ? ` ${newest[v.pkg] ?? "unknown"} |` : ""}`
    )
  ]
  for (const agent of agents) {
    const notes: Array<string> = []
    lines.push(
      "",
      `### ${agent}`,
      "",
      `| Feature | ${backends.join(" | ")} |`,
      `| --- |${" --- |".repeat(backends.length)}`
    )
    for (const row of rows) {
      const c = cell(agent, row)
      const shown = backends.map((backend) => {
        if ("test" in c) return c.backends.includes(backend) ? `✓ ${shortRef(c.test)}` : "not tested"
        if ("lacks" in c) {
          if (!notes.includes(c.lacks)) notes.push(c.lacks)
          return `n/a [${notes.indexOf(c.lacks) + 1}]`
        }
        return "not tested"
      })
      lines.push(`| ${row} | ${shown.join(" | ")} |`)
    }
    if (notes.length > 0) lines.push("", ...notes.map((note, i) => `[${i + 1}] ${note}.`))
  }
  return lines.join("\n")
}

export const markers = { start: "<!-- matrix:start -->", end: "<!-- matrix:end -->" } as const

/** The text between docs/agents.md's markers, or undefined where they are missing. */
export function renderedSection(page: string): string | undefined {
  const start = page.indexOf(markers.start)
  const end = page.indexOf(markers.end)
  return start < 0 || end < start ? undefined : page.slice(start + markers.start.length, end).trim()
}

/** `page` with the section between the markers replaced by `section` (appended with its markers where missing). */
export function withSection(page: string, section: string): string {
  const block = `${markers.start}\n${section}\n${markers.end}`
  const start = page.indexOf(markers.start)
  const end = page.indexOf(markers.end)
  if (start < 0 || end < start) return `${page.trimEnd()}\n\n${block}\n`
  return page.slice(0, start) + block + page.slice(end + markers.end.length)
}

/** The "newest checked" versions a `--newest` run wrote into the section, by npm package; undefined when it has none. */
export function newestIn(section: string): Record<string, string> | undefined {
  if (!section.includes("| newest checked |")) return undefined
  const found = [...section.matchAll(/^\| [^|]+ \| `([^`]+)` \| [^|]+ \| ([^|]+) \|$/gm)]
  return Object.fromEntries(found.map((m) => [m[1]!, m[2]!.trim()]))
}
