/**
 * Gemini CLI (`@google/gemini-cli`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `gemini -p`) pointed
 * at `serve`'s `/mcp` as its MCP server (its settings.json's `mcpServers.<name>.httpUrl`, the gateway key in
 * `headers`, the server trusted: headless, Gemini CLI runs no tool call that would need a confirmation) with the
 * simulator behind the same `serve` as its model (`GOOGLE_GEMINI_BASE_URL` at serve's Gemini routes, the gateway key
 * as `GEMINI_API_KEY`), in a scratch home and working directory, telemetry and updates off: the tools Gemini CLI
 * offers its model are those the key allows (`files__read`, as `mcp_gw_files__read`), never the denied one
 * (`files__write`); the simulated model calls the allowed tool, Gemini CLI calls it through `/mcp`, and it reaches
 * the upstream (the gateway's log line of the call names it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { agentAgainstServe, mcpCallsLogged } from "../utils/agentAgainstServe.js"
import { backends } from "../utils/agentSession.js"
import { agentEnv, spawnProcess } from "../utils/cliHarness.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

const agentKey = "gw-gemini-cli-mcp-agent-0001"
const model = "gemini-2.5-flash"

interface Declared {
  readonly name?: string
}

interface GenerateContent {
  readonly tools?: ReadonlyArray<{ readonly functionDeclarations?: ReadonlyArray<Declared> }>
  readonly contents: ReadonlyArray<{
    readonly role: string
    readonly parts: ReadonlyArray<{
      readonly functionCall?: { readonly name: string }
      readonly functionResponse?: { readonly name: string; readonly response: { readonly output?: string } }
    }>
  }>
}

describe.concurrent("Gemini CLI with serve's /mcp, over each backend", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: gemini -p lists and calls the tool its key allows at serve's /mcp, and never sees the denied one`,
      (ctx) =>
        Effect.gen(function*() {
          const gemini = yield* geminiCli.pipe(orSkip(ctx))
          const { dir, home, models, serving, url, work } = yield* agentAgainstServe({
            label: "gemini-cli-mcp",
            backend,
            model,
            agentKey,
            modelRoutes: "/v1beta/models/"
          })
          writeGeminiSettings(home, { name: model }, {
            mcpServers: {
              gw: { httpUrl: `${url}/mcp`, headers: { authorization: "Bearer $GATEWAY_KEY" }, trust: true }
            }
          })
          const run = yield* spawnProcess(
            process.execPath,
            [gemini, "--skip-trust", "-p", "Read the file with the mcp_gw_files__read tool."],
            {
              cwd: work,
              env: {
                ...agentEnv(),
                HOME: home,
                TMPDIR: dir,
                GEMINI_API_KEY: agentKey,
                GATEWAY_KEY: agentKey,
                GOOGLE_GEMINI_BASE_URL: models.url,
                GEMINI_TELEMETRY_ENABLED: "false"
              },
              timeoutMs: 150_000
            }
          )
          expect(run.code, `gemini's stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0)
          // What Gemini CLI offered its model: the gateway's tools as `mcp_gw_<tool>`, only the allowed one.
          const generations = models.bodies.filter((body) => body.includes("functionDeclarations"))
          expect(generations.length).toBeGreaterThanOrEqual(2)
          for (const body of generations) {
            const declared = ((JSON.parse(body) as GenerateContent).tools ?? [])
              .flatMap((tool) => tool.functionDeclarations ?? []).map((tool) => tool.name ?? "")
            expect(declared.filter((name) => name.startsWith("mcp_"))).toEqual(["mcp_gw_files__read"])
            expect(body).not.toContain("files__write")
          }
          // The simulated model called it (by the name the user's text gives), Gemini CLI called it through `/mcp`, and
          // the gateway logged the call of the upstream's `read` for the agent's key.
          const calls = yield* mcpCallsLogged(serving)
          expect(calls.map((line) => [line["path"], line["mcp_server"], line["mcp_tool"], line["key_name"]])).toEqual([
            ["/mcp", "files", "read", "agent"]
          ])
          // And the upstream's answer (its tool's name) went back to the model as the call's function response, after
          // which the simulated model answered in text, which `gemini -p` printed.
          const [call, response] = (JSON.parse(generations.at(-1)!) as GenerateContent).contents.slice(-2)
          expect(call?.parts.map((part) => part.functionCall?.name)).toEqual(["mcp_gw_files__read"])
          expect(response?.parts.map((part) => part.functionResponse?.name)).toEqual(["mcp_gw_files__read"])
          expect(response?.parts[0]?.functionResponse?.response.output).toMatch(/^<untrusted_context>\nread\n/)
          expect(run.stdout).toMatch(/^The tool returned .*read/)
        }).pipe(Effect.scoped),
      200_000
    )
  }
})
