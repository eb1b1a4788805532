/**
 * What the coding agents' MCP, structured-output and media tests share: a scratch directory (the agent's home and working
 * directory, removed at the scope's close), a simulator serving the agent's model (its generated replies, or a
 * scenario's turns) behind a deployment of the backend's API, an upstream MCP server with two tools (`read`, `write`),
 * and `serve` (in-process, its data in the scratch directory) over both, with one gateway key that may use
 * `files__read` only; in front of `serve`, a `recordingProxy` keeping what the agent sent its model, and another in
 * front of the simulator keeping what `serve` sent the backend. And the calls of MCP tools that `serve` logged, and
 * Claude Code's and Gemini CLI's environments against `serve`.
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { type Backend, scratchWorkspace } from "./agentSession.js"
import { agentEnv, awaitFirstLine, type Running, startInProcess } from "./cliHarness.js"
import { eventually } from "./eventually.js"
import { namedTools } from "./mcpUpstreams.js"
import { recordingProxy } from "./recordingProxy.js"
import { providerFile } from "./serveCluster.js"

/**
 * The agent's set-up: its model and the API of the deployment that serves it, its gateway key (that may use
 * `files__read` only), the model routes' prefix.
 */
export interface AgentSetup {
  /** The scratch directory's name's prefix. */
  readonly label: string
  readonly model: string
  readonly backend: Backend
  readonly agentKey: string
  /** The path prefix of the requests to the model whose bodies the proxy keeps. */
  readonly modelRoutes: string
  /**
   * The turns the simulated model plays, or them given the workspace's path (for tools that take absolute paths).
   * Default: none, its generated replies.
   */
  readonly scenario?: Simulator.Scenario | ((work: string) => Simulator.Scenario) | undefined
}

/**
 * The scratch directory (`home` and `work` made in it), and `serve` over the simulator and the `files` upstream: its
 * URL, the proxies in front of it and of the simulator (their URLs and the bodies they kept), and the running `serve`
 * (its log).
 */
export const agentAgainstServe = (setup: AgentSetup) =>
  Effect.gen(function*() {
    const { dir, home, work } = yield* scratchWorkspace(`${setup.label}-${setup.backend}`)
    const providerKey = `sk-provider-${setup.label}-0001`
    const scenario = typeof setup.scenario === "function" ? setup.scenario(work) : setup.scenario
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      models: [setup.model],
      ...(scenario === undefined ? {} : { scenario })
    })
    // What `serve` sent the backend: the request bodies as the backend's API takes them.
    const upstream = yield* recordingProxy(simulator.url, "/")
    const files = yield* namedTools(["read", "write"])
    const openAi = setup.backend === "chat-completions" || setup.backend === "responses"
    const file = yield* providerFile({
      sim: [{
        model_name: setup.model,
        api: setup.backend,
        base_url: openAi ? `${upstream.url}/v1` : upstream.url,
        api_keys: [providerKey]
      }],
      mcp_servers: { files: { url: files } },
      gateway: { keys: [{ name: "agent", key: setup.agentKey, tools: ["files__read"] }] }
    })
    const serving = yield* startInProcess((io) =>
      Serve.run(["--config", file, "--port", "0", "--data", path.join(dir, "data")], io)
    )
    const url = yield* awaitFirstLine(serving, "serve's first line (its URL)")
    const models = yield* recordingProxy(url, setup.modelRoutes)
    return { dir, home, work, url, models, upstream, serving }
  })

/** The annotations of `serving`'s log lines of MCP tool calls, once there is at least one. */
export const mcpCallsLogged = (serving: Running) =>
  eventually(
    "serve's log line of the MCP call",
    Effect.sync(() =>
      serving.stderr().split("\n").filter((line) => line.startsWith("{"))
        .map((line) => (JSON.parse(line) as { readonly annotations: Record<string, unknown> }).annotations)
        .filter((line) => line["mcp_server"] !== undefined)
    ),
    (lines) => lines.length >= 1
  )

/**
 * Claude Code's environment against `serve` at `url` (its Anthropic routes), headless: a scratch `HOME` and `TMPDIR`,
 * the gateway key as its API key, `model` as its side model too, no non-essential traffic, no update.
 */
export const claudeCodeEnv = (setup: {
  readonly home: string
  readonly dir: string
  readonly url: string
  readonly agentKey: string
  readonly model: string
}) => ({
  ...agentEnv(),
  HOME: setup.home,
  TMPDIR: setup.dir,
  ANTHROPIC_API_KEY: setup.agentKey,
  ANTHROPIC_BASE_URL: setup.url,
  ANTHROPIC_SMALL_FAST_MODEL: setup.model,
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  DISABLE_AUTOUPDATER: "1"
})

/**
 * Gemini CLI's environment against `serve` at `url` (its Gemini routes), headless: a scratch `HOME` and `TMPDIR`, the
 * gateway key as its Gemini API key, no telemetry.
 */
export const geminiCliEnv = (setup: {
  readonly home: string
  readonly dir: string
  readonly url: string
  readonly agentKey: string
}) => ({
  ...agentEnv(),
  HOME: setup.home,
  TMPDIR: setup.dir,
  GEMINI_API_KEY: setup.agentKey,
  GOOGLE_GEMINI_BASE_URL: setup.url,
  GEMINI_TELEMETRY_ENABLED: "false"
})
