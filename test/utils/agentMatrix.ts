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
 * Prompt caching where each client asks for it and the backend's API caches it: Claude Code's and opencode's
 * `cache_control` breakpoints reach Anthropic and Bedrock; Codex's `prompt_cache_key`, and opencode's through its
 * built-in OpenAI provider, reach the OpenAI APIs, and Codex's Anthropic and Bedrock (to a Claude model) as a
 * breakpoint after the last block; Gemini and the OpenAI APIs cache a long prompt on their own, and Gemini CLI's, which
 * asks for no cache, reach Anthropic and Bedrock as a breakpoint after the last block where the deployment sets
 * `cache_conversations` (see docs/agents.md).
 */
const caching: Record<Agent, Cell> = {
  "Codex": {
    test: { file: "test/e2e/CodexPromptCache.test.ts", title: "codex exec's prompt_cache_key read by the later turns" },
    backends
  },
  "Claude Code": {
    test: {
      file: "test/e2e/ClaudeCodePromptCache.test.ts",
      title: "claude -p's cache_control breakpoints"
    },
    backends
  },
  "Gemini CLI": {
    test: { file: "test/e2e/GeminiCliPromptCache.test.ts", title: "gemini -p's repeated prefix" },
    backends
  },
  "opencode": {
    test: { file: "test/e2e/OpencodePromptCache.test.ts", title: "read by the later turns, billed as simulated" },
    backends
  }
}

const countTokens: Record<Agent, Cell> = {
  "Codex": { lacks: "Codex calls no token-count endpoint (its binary holds no `/v1/responses/input_tokens` call)" },
  "Claude Code": {
    test: {
      file: "test/e2e/ClaudeCodeCountTokens.test.ts",
      title: "claude -p /context counts its tools with count_tokens"
    },
    backends
  },
  "Gemini CLI": {
    lacks: "Gemini CLI's `countTokens` calls send contents only, never its tool declarations (a media part's size; " +
      "its experimental context manager's calibration)"
  },
  "opencode": {
    lacks: "opencode calls no token-count endpoint (its bundle carries the Anthropic SDK's `countTokens`, never called)"
  }
}
const claudeMedia = (medium: string): TestRef => ({
  file: "test/e2e/ClaudeCodeMedia.test.ts",
  title: `claude -p reads ${medium}, whose bytes reach the backend and count in the prompt`
})

const geminiMedia = (medium: string): TestRef => ({
  file: "test/e2e/GeminiCliMedia.test.ts",
  title: `gemini -p sends ${medium} named with @, whose bytes reach the backend and count in the prompt`
})

const opencodeMedia = (medium: string): TestRef => ({
  file: "test/e2e/OpencodeMedia.test.ts",
  title: `opencode run --file sends ${medium}, whose bytes reach the backend and count in the prompt`
})
/**
 * Codex's reasoning asked for (`model_reasoning_effort`) on each backend's thinking model: every call's reasoning kept
 * by Codex and sent back as the backend's API wants it.
 */
const codexThinking: Cell = {
  test: {
    file: "test/e2e/CodexSession.test.ts",
    title: "reasoning: each call's reasoning carried back as the API wants it"
  },
  backends
}

/**
 * Gemini CLI's thinking on a Gemini 3 model (a group of DeepSeek's thinking model on Chat Completions, of a Claude on
 * Bedrock), each call's reasoning sent back on the call.
 */
const geminiThinking: Cell = {
  test: {
    file: "test/e2e/GeminiCliSession.test.ts",
    title: "with its thinking: each call's reasoning sent back as the API wants it"
  },
  backends
}

const special: Partial<Record<Agent, Partial<Record<Row, Cell>>>> = {
  "Codex": {
    "thinking (signature-only, bound prefix)": codexThinking,
    "WebSocket transport": { test: sessions.Codex, backends },
    "structured output": {
      test: { file: "test/e2e/CodexStructuredOutput.test.ts", title: "codex exec --output-schema prints an answer" },
      backends
    },
    "prompt caching (5-minute and 1-hour)": caching.Codex,
    "count_tokens with tools": countTokens.Codex,
    "images": {
      test: {
        file: "test/e2e/CodexMedia.test.ts",
        title: "codex exec --image sends a PNG, whose bytes reach the backend and count in the prompt"
      },
      backends
    },
    // `exec --image` attaches images only, and the 0.171 binary holds no `input_file`, the Responses API's file part.
    "PDFs": {
      lacks: "Codex sends no PDFs to its model: it attaches images only (`--image`) and writes no `input_file`"
    },
    // A Responses deployment's encrypted reasoning and compaction items; Anthropic's and Bedrock's signed thinking;
    // Gemini's thought signatures; DeepSeek's reasoning_content, in the gateway's reasoning items.
    "encrypted items across replicas": {
      test: {
        file: "test/e2e/CodexReplicas.test.ts",
        title: "stay with the deployment that made them, across replicas"
      },
      backends
    },
    "MCP tools": mcp.Codex!,
    // Only a model of Codex's catalog (`supports_search_tool`) searches tools: the client's tool search, which a
    // Responses deployment is sent as it came and another offered as a function.
    "tool search": {
      test: {
        file: "test/e2e/CodexCatalogModels.test.ts",
        title: "GPT-5.5's apply_patch (a custom tool) and tool search, offered as functions, called as Codex asked"
      },
      backends
    },
    "1M context": {
      test: {
        file: "test/e2e/CodexLongContext.test.ts",
        title: "codex exec with a model_catalog_json window answers a prompt over 200,000 tokens"
      },
      backends
    }
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
    "thinking (signature-only, bound prefix)": { test: claudeToolSearch, backends },
    "images": { test: claudeMedia("a PNG"), backends },
    "PDFs": { test: claudeMedia("a PDF"), backends },
    "1M context": {
      test: {
        file: "test/e2e/ClaudeCodeLongContext.test.ts",
        title: "claude -p with a [1m] model answers a prompt over 200,000 tokens"
      },
      backends
    },
    "WebSocket transport": { lacks: "Claude Code speaks HTTP with server-sent events only" },
    // Its thinking as each deployment makes it: encrypted reasoning on Responses, signed thinking on Anthropic and
    // Bedrock, a Gemini 3 model's thought signatures, DeepSeek's reasoning_content on Chat Completions.
    "encrypted items across replicas": {
      test: {
        file: "test/e2e/ClaudeCodeReplicas.test.ts",
        title: ": its thinking stays with the deployment that made it, across replicas"
      },
      backends
    },
    "MCP tools": mcp["Claude Code"]!,
    "prompt caching (5-minute and 1-hour)": caching["Claude Code"],
    "count_tokens with tools": countTokens["Claude Code"]
  },
  "Gemini CLI": {
    "images": { test: geminiMedia("a PNG"), backends },
    "PDFs": { test: geminiMedia("a PDF"), backends },
    "thinking (signature-only, bound prefix)": geminiThinking,
    "WebSocket transport": { lacks: "Gemini CLI speaks HTTP with server-sent events only" },
    // Its bundle holds no deferred tool, `tool_search` nor tool-search tool of any name.
    "tool search": {
      lacks: "Gemini CLI defers no tool and offers no tool search: it declares every tool in each request"
    },
    // A Gemini deployment's thought signatures, Anthropic's and Bedrock's signed thinking, a Responses deployment's
    // encrypted reasoning, DeepSeek's reasoning_content.
    "encrypted items across replicas": {
      test: {
        file: "test/e2e/GeminiCliReplicas.test.ts",
        title: ": its reasoning comes back to the model on every replica"
      },
      backends
    },
    "structured output": {
      lacks: "Gemini CLI cannot ask for an answer that fits a schema (its `--output-format json` frames its own output)"
    },
    "1M context": {
      test: {
        file: "test/e2e/GeminiCliLongContext.test.ts",
        title: "gemini -p answers a prompt over 200,000 tokens"
      },
      backends
    },
    "MCP tools": mcp["Gemini CLI"]!,
    "prompt caching (5-minute and 1-hour)": caching["Gemini CLI"],
    "count_tokens with tools": countTokens["Gemini CLI"]
  },
  "opencode": {
    // With its thinking on at the Anthropic routes, each backend's thinking model's, in the gateway's thinking blocks.
    "encrypted items across replicas": {
      test: {
        file: "test/e2e/OpencodeReplicas.test.ts",
        title: ": its thinking stays with the deployment that made it, across replicas"
      },
      backends
    },
    "MCP tools": mcp.opencode!,
    "prompt caching (5-minute and 1-hour)": caching.opencode,
    "count_tokens with tools": countTokens.opencode,
    "images": { test: opencodeMedia("a PNG"), backends },
    "PDFs": { test: opencodeMedia("a PDF"), backends },
    "structured output": {
      lacks: "opencode run cannot ask for an answer that fits a schema (its `--format json` is its own events)"
    },
    "1M context": {
      test: {
        file: "test/e2e/OpencodeLongContext.test.ts",
        title: "opencode run with a 1M-token limit and the beta answers a prompt over 200,000 tokens"
      },
      backends
    },
    // With `@ai-sdk/anthropic` at the Anthropic routes, each backend's thinking model.
    "thinking (signature-only, bound prefix)": {
      test: {
        file: "test/e2e/OpencodeSession.test.ts",
        title: "'s thinking: each call sent back after its thinking"
      },
      backends
    },
    // Its built-in `openai` provider's experimental transport (`OPENCODE_EXPERIMENTAL_WEBSOCKETS`).
    "WebSocket transport": {
      test: {
        file: "test/e2e/OpencodeWebSocket.test.ts",
        title: "opencode run over its WebSocket to /v1/responses compacts, resumes after serve restarts"
      },
      backends
    },
    // Its bundle holds `defer_loading`, `tool_search` and `tool_reference` only in the AI SDK providers' codecs.
    "tool search": {
      lacks: "opencode defers no tool and offers no tool search: it never sets a tool's `deferLoading` nor adds a " +
        "tool-search tool (its bundle has them only in the AI SDK providers' codecs)"
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
