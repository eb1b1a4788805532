/**
 * Codex CLI (the `@openai/codex` devDependency, headless: `codex exec`) pointed at `serve`'s `/mcp` as its MCP server
 * (`mcp_servers.<name>.url`, the gateway key from `bearer_token_env_var`) with the simulator behind the same `serve`
 * as its model (a scratch working directory, and Codex's approvals and sandbox bypassed: headless, `codex exec`
 * refuses an MCP call that would need an approval): the tools Codex offers its model are those the key allows
 * (`files__read`), never the denied one (`files__write`); the simulated model calls the allowed tool, Codex calls it
 * through `/mcp`, and it reaches the upstream (the gateway's log line of the call names it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentAgainstServe, mcpCallsLogged } from "../utils/agentAgainstServe.js"
import { codexEnv } from "../utils/agentRuns.js"
import { backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { providerLines } from "../utils/codexConfig.js"
import { codexBin } from "../utils/pinnedCli.js"

const agentKey = "gw-codex-mcp-agent-0001"

interface Offered {
  readonly name?: string
  readonly tools?: ReadonlyArray<Offered>
}

describe.concurrent("Codex with serve's /mcp, over each backend", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: codex exec lists and calls the tool its key allows at serve's /mcp, and never sees the denied one`,
      () =>
        Effect.gen(function*() {
          const { home, models, serving, url, work } = yield* agentAgainstServe({
            label: "codex-mcp",
            backend,
            model: "gpt-4o-mini",
            agentKey,
            modelRoutes: "/v1/responses"
          })
          fs.writeFileSync(
            path.join(home, "config.toml"),
            [
              `model = "gpt-4o-mini"`,
              ...providerLines({ baseUrl: `${models.url}/v1`, envKey: "GATEWAY_KEY" }),
              ``,
              `[mcp_servers.gw]`,
              `url = "${url}/mcp"`,
              `bearer_token_env_var = "GATEWAY_KEY"`,
              // Codex gives an optional MCP server a second to start, then runs the turn without its tools; a loaded
              // machine (five agents and their gateways at once) may take longer to answer its `initialize` and
              // `tools/list`. A required server is waited for, up to its startup timeout (10 s by default).
              `required = true`,
              `startup_timeout_sec = 120`,
              ``
            ].join("\n")
          )
          const codex = yield* spawnProcess(
            process.execPath,
            [
              codexBin,
              "exec",
              "--skip-git-repo-check",
              "--dangerously-bypass-approvals-and-sandbox",
              "Read the file with the mcp__gw__files__read tool."
            ],
            {
              cwd: work,
              env: codexEnv(home, agentKey),
              timeoutMs: 150_000
            }
          )
          expect(codex.code, `codex exec's stderr:\n${codex.stderr}`).toBe(0)
          // What Codex offered its model: the gateway's tools under its `mcp__gw` namespace, only the allowed one.
          const offered = models.bodies.map((body) =>
            (JSON.parse(body) as { readonly tools?: ReadonlyArray<Offered> }).tools?.map((tool) => tool.name)
          )
          expect(models.bodies.length, `offered: ${JSON.stringify(offered)}\ncodex exec's stderr:\n${codex.stderr}`)
            .toBeGreaterThanOrEqual(2)
          for (const body of models.bodies) {
            const tools = (JSON.parse(body) as { readonly tools: ReadonlyArray<Offered> }).tools
            const namespace = tools.find((tool) => tool.name === "mcp__gw")
            expect(namespace?.tools?.map((tool) => tool.name)).toEqual(["files__read"])
            expect(body).not.toContain("files__write")
          }
          // The simulated model called it (by the name the user's text gives), Codex called it through `/mcp`, and the
          // gateway logged the call of the upstream's `read` for the agent's key.
          const calls = yield* mcpCallsLogged(serving)
          expect(calls.map((line) => [line["path"], line["mcp_server"], line["mcp_tool"], line["key_name"]])).toEqual([
            ["/mcp", "files", "read", "agent"]
          ])
          // And the upstream's answer (its tool's name) went back to the model as the call's output.
          expect(models.bodies.at(-1)).toMatch(/"type":"function_call_output".*"text":"read"/)
        }).pipe(Effect.scoped),
      200_000
    )
  }
})
