/**
 * Claude Code (`@anthropic-ai/claude-code`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `claude -p`)
 * pointed at `serve`'s `/mcp` as its MCP server (`--mcp-config` with the gateway key in `headers`, `--strict-mcp-config`
 * so no other configuration is read, the one tool allowed by `--allowedTools`: headless, Claude Code runs no tool call
 * that would need a permission) with the simulator behind the same `serve` as its model (`ANTHROPIC_BASE_URL` at
 * serve's Anthropic routes, the gateway key as `ANTHROPIC_API_KEY`), in a scratch home and working directory, its
 * non-essential traffic off and its tool search off (so MCP tools are offered by name): the MCP tools Claude Code offers its model are those the key allows (`files__read`, as
 * `mcp__gw__files__read`), never the denied one (`files__write`); the simulated model calls the allowed tool, Claude
 * Code calls it through `/mcp`, and it reaches the upstream (the gateway's log line of the call names it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentAgainstServe, claudeCodeEnv, mcpCallsLogged } from "../utils/agentAgainstServe.js"
import { backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

const agentKey = "gw-claude-code-mcp-agent-0001"
const model = "claude-sonnet-4-5"

interface Messages {
  readonly tools?: ReadonlyArray<{ readonly name: string }>
  readonly messages: ReadonlyArray<{
    readonly role: string
    readonly content:
      | string
      | ReadonlyArray<{
        readonly type: string
        readonly name?: string
        readonly content?: string | ReadonlyArray<{ readonly type: string; readonly text?: string }>
      }>
  }>
}

describe.concurrent("Claude Code with serve's /mcp, over each backend", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: claude -p lists and calls the tool its key allows at serve's /mcp, and never sees the denied one`,
      (ctx) =>
        Effect.gen(function*() {
          const claude = yield* claudeCode.pipe(orSkip(ctx))
          const { dir, home, models, serving, url, work } = yield* agentAgainstServe({
            label: "claude-code-mcp",
            backend,
            model,
            agentKey,
            modelRoutes: "/v1/messages"
          })
          const mcpConfig = path.join(dir, "mcp.json")
          fs.writeFileSync(
            mcpConfig,
            JSON.stringify({
              mcpServers: { gw: { type: "http", url: `${url}/mcp`, headers: { authorization: `Bearer ${agentKey}` } } }
            })
          )
          const run = yield* spawnProcess(
            process.execPath,
            [
              claude,
              "-p",
              "Read the file with the mcp__gw__files__read tool.",
              "--model",
              model,
              "--mcp-config",
              mcpConfig,
              "--strict-mcp-config",
              "--allowedTools",
              "mcp__gw__files__read"
            ],
            {
              cwd: work,
              env: {
                ...claudeCodeEnv({ home, dir, url: models.url, agentKey, model }),
                // Else Claude Code offers MCP tools behind its `ToolSearch` tool, not by name.
                ENABLE_TOOL_SEARCH: "false",
                // Its wait for an MCP server to start, past which it goes on without the server's tools: long enough
                // for a loaded machine.
                MCP_TIMEOUT: "120000"
              },
              timeoutMs: 150_000
            }
          )
          expect(run.code, `claude's stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0)
          // What Claude Code offered its model: its own tools and the gateway's as `mcp__gw__<tool>`, only the allowed one.
          const turns = models.bodies.map((body) => JSON.parse(body) as Messages)
            .filter((body) => (body.tools ?? []).some((tool) => tool.name.startsWith("mcp__")))
          expect(turns.length).toBeGreaterThanOrEqual(2)
          for (const turn of turns) {
            expect(turn.tools!.map((tool) => tool.name).filter((name) => name.startsWith("mcp__"))).toEqual([
              "mcp__gw__files__read"
            ])
          }
          for (const body of models.bodies) expect(body).not.toContain("files__write")
          // The simulated model called it (by the name the user's text gives), Claude Code called it through `/mcp`,
          // and the upstream's answer (its tool's name) went back to the model as the call's result, after which the
          // simulated model answered in text, which `claude -p` printed.
          const failure = `claude's stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nserve:\n${serving.stderr()}`
          const [call, result] = turns.at(-1)!.messages.slice(-2)
          const blocks = (message: Messages["messages"][number] | undefined) =>
            typeof message?.content === "string" ? [] : message?.content ?? []
          const used = blocks(call).filter((block) => block.type === "tool_use").map((block) => block.name)
          expect(used, failure).toEqual(["mcp__gw__files__read"])
          const output = blocks(result).find((block) => block.type === "tool_result")?.content
          expect(typeof output === "string" ? output : output?.[0]?.text, failure).toBe("read\n")
          // The gateway logged the call of the upstream's `read` for the agent's key.
          const calls = yield* mcpCallsLogged(serving)
          expect(calls.map((line) => [line["path"], line["mcp_server"], line["mcp_tool"], line["key_name"]])).toEqual([
            ["/mcp", "files", "read", "agent"]
          ])
          expect(run.stdout).toMatch(/^The tool returned .*read/)
        }).pipe(Effect.scoped),
      300_000
    )
  }
})
