/**
 * opencode (`opencode-ai`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `opencode run`) pointed at
 * `serve`'s `/mcp` as a remote MCP server (`mcp.<name>` of type `remote`, the gateway key in its `headers`) with the
 * simulator behind the same `serve` as its model (its provider at serve's Chat Completions routes), over a deployment
 * of each backend API: the MCP tools opencode offers its model are those the key allows (`files__read`, as
 * `gw_files__read`), never the denied one (`files__write`); the simulated model calls the allowed tool, opencode calls
 * it through `/mcp`, and it reaches the upstream (the gateway's log line of the call names it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { agentAgainstServe, mcpCallsLogged } from "../utils/agentAgainstServe.js"
import { backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { opencodeConfigured } from "../utils/opencodeConfig.js"
import { opencode, orSkip } from "../utils/pinnedCli.js"

const agentKey = "gw-opencode-mcp-agent-0001"
const model = "gpt-4o-mini"

interface ChatBody {
  readonly tools?: ReadonlyArray<{ readonly function: { readonly name: string } }>
  readonly messages: ReadonlyArray<{ readonly role: string; readonly content?: unknown }>
}

describe.concurrent("opencode with serve's /mcp, over each backend", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: opencode run lists and calls the tool its key allows at serve's /mcp, and never sees the denied one`,
      (ctx) =>
        Effect.gen(function*() {
          const program = yield* opencode.pipe(orSkip(ctx))
          const { home, models, serving, url, work } = yield* agentAgainstServe({
            label: "opencode-mcp",
            backend,
            model,
            agentKey,
            modelRoutes: "/v1/chat/completions"
          })
          const env = opencodeConfigured({
            home,
            work,
            baseUrl: `${models.url}/v1`,
            model,
            key: agentKey,
            mcp: { gw: { type: "remote", url: `${url}/mcp`, headers: { authorization: "Bearer {env:GATEWAY_KEY}" } } }
          })
          const run = yield* spawnProcess(program, ["run", "Read the file with the gw_files__read tool."], {
            cwd: work,
            env,
            timeoutMs: 150_000
          })
          expect(run.code, `opencode's stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0)
          // What opencode offered its model: its own tools and the gateway's as `gw_<tool>`, only the allowed one.
          const turns = models.bodies.map((body) => JSON.parse(body) as ChatBody)
            .filter((body) => (body.tools ?? []).some((tool) => tool.function.name.startsWith("gw_")))
          expect(turns.length).toBeGreaterThanOrEqual(2)
          for (const turn of turns) {
            expect(turn.tools!.map((tool) => tool.function.name).filter((name) => name.startsWith("gw_")))
              .toEqual(["gw_files__read"])
          }
          for (const body of models.bodies) expect(body).not.toContain("files__write")
          // The simulated model called it (by the name the user's text gives), opencode called it through `/mcp`,
          // and the gateway logged the call of the upstream's `read` for the agent's key.
          const calls = yield* mcpCallsLogged(serving)
          expect(calls.map((line) => [line["path"], line["mcp_server"], line["mcp_tool"], line["key_name"]]))
            .toEqual([["/mcp", "files", "read", "agent"]])
          // And the upstream's answer (its tool's name) went back to the model as the call's result.
          const result = turns.at(-1)!.messages.at(-1)!
          expect([result.role, result.content]).toEqual(["tool", "read"])
        }).pipe(Effect.scoped),
      200_000
    )
  }
})
