/**
 * What the agents' long-session tests share: one scripted session (a scenario of more than twenty turns, written once
 * from a template and filled with each agent's tool names), and `serve` (in-process, its data in a scratch directory)
 * over the simulator playing it behind one deployment of the backend's API, which can be restarted on its port as the
 * agent's session goes on; the gateway's recorded spend (`/admin/spend`), and what the simulator billed: the
 * scenario's usage as the backend's wire reports it, priced by the gateway's own price table.
 *
 * The session: the agent is asked to fix `hello.txt` (read it, edit it, run a command that shows it), goes on with
 * more reads, edits and commands until a turn's usage passes the agent's compaction threshold, compacts, and finishes
 * the task from the summary; then, resumed after `serve` was restarted, it is asked for a second line and does the
 * same again.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import * as Pricing from "../../src/Pricing.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitFirstLine, startInProcess } from "./cliHarness.js"
import { eventually } from "./eventually.js"
import { providerFile } from "./serveCluster.js"

/** The API of the deployment `serve` routes the agent's model to. */
export type Backend = "chat-completions" | "responses" | "anthropic" | "gemini" | "bedrock"

/** Every backend dialect, each played concurrently by the suites. */
export const backends: ReadonlyArray<Backend> = ["chat-completions", "responses", "anthropic", "gemini", "bedrock"]

/** How one agent names its tools and their arguments: a file read, a text replaced in a file, a shell command. */
export interface AgentTools {
  readonly read: (file: string) => Simulator.ScenarioToolCall
  readonly edit: (file: string, from: string, to: string) => Simulator.ScenarioToolCall
  readonly run: (command: string) => Simulator.ScenarioToolCall
}

/** The file the session works on, as the workspace starts with it. */
export const sessionFile = { name: "hello.txt", text: "helo, world\n" } as const

/** What `hello.txt` holds once the session is done. */
export const sessionResult = "hello, world\nand goodbye\n"

/** The text of the agent's first prompt, and of its prompt when resumed. */
export const prompts = {
  first: "Fix the greeting in hello.txt, then check it.",
  resumed: "Add a second line to hello.txt that says: and goodbye"
} as const

/** The summary the scripted model writes when asked to compact, in the tags Claude Code asks for. */
export const summary = "<summary>SUMMARY: hello.txt had a typo (helo); it is fixed and checked.</summary>"

/** The scripted model's last words of each part. */
export const endings = { first: "Done: hello.txt says hello, world.", resumed: "Done: the second line is there." }

/** Where the template's compaction comes (its turn's usage passes this many prompt tokens), per agent. */
export interface SessionOptions {
  readonly tools: AgentTools
  /** The prompt tokens a turn reports before the compaction is due; the turn after reports more than the threshold. */
  readonly compactAbove: number
  /**
   * The model's turns the history holds when the session goes on after the compaction (default 0: the agent keeps
   * only the user's messages and the summary; Claude Code keeps the last turn too).
   */
  readonly keptTurns?: number
  /** Whether the agent answers the summary itself before going on (a turn of its own after the compaction). */
  readonly acknowledgesSummary?: boolean
}

/**
 * The session's scenario, strict (every request of the session is one of its turns): 22 turns of the model's, tools
 * and text, with cache reads and writes in every turn's usage, and a compaction between the fourth and fifth call of
 * the first part.
 */
export const sessionScenario = (options: SessionOptions): Simulator.Scenario => {
  const { tools } = options
  const low = options.compactAbove / 4
  let cached = 0
  // Each turn's prompt grows by 40 tokens and repeats the one before it, read from the cache, the rest written.
  const usage = (input: number, output: number): Simulator.ScenarioUsage => {
    const read = Math.min(cached, input)
    cached = input
    return { input, output, cacheRead: read, cacheWrite: input - read }
  }
  const step = (n: number) => usage(Math.round(low + 40 * n), 24)
  const first: ReadonlyArray<Simulator.ScenarioTurn> = [
    { when: { contains: "Fix the greeting" }, toolCalls: [tools.read("hello.txt")], usage: step(0) },
    { when: { contains: "helo" }, toolCalls: [tools.edit("hello.txt", "helo", "hello")], usage: step(1) },
    { toolCalls: [tools.run("cat hello.txt")], usage: step(2) },
    { when: { contains: "hello, world" }, toolCalls: [tools.run("wc -l hello.txt")], usage: step(3) },
    // Past the threshold: the agent compacts before its next call.
    {
      toolCalls: [tools.read("hello.txt")],
      usage: usage(options.compactAbove + 1000, 24)
    }
  ]
  cached = 0
  const compaction: Simulator.ScenarioTurn = {
    when: { compaction: true },
    text: summary,
    usage: usage(options.compactAbove + 1200, 40)
  }
  cached = 0
  const restart = (n: number) => usage(400 + 40 * n, 24)
  const afterSummary: ReadonlyArray<Simulator.ScenarioTurn> = [
    ...(options.acknowledgesSummary === true
      ? [{ when: { turn: (options.keptTurns ?? 0) + 1 }, text: "Got it.", usage: restart(0) }]
      : []),
    {
      ...(options.acknowledgesSummary === true ? {} : { when: { turn: options.keptTurns ?? 0 } }),
      toolCalls: [tools.run("grep -c hello hello.txt")],
      usage: restart(1)
    },
    { toolCalls: [tools.read("hello.txt")], usage: restart(2) },
    { toolCalls: [tools.run("ls")], usage: restart(3) },
    { text: endings.first, usage: restart(4) },
    { when: { contains: "second line" }, toolCalls: [tools.read("hello.txt")], usage: restart(5) },
    {
      toolCalls: [tools.edit("hello.txt", "hello, world", "hello, world\nand goodbye")],
      usage: restart(6)
    },
    { toolCalls: [tools.run("cat hello.txt")], usage: restart(7) },
    { when: { contains: "goodbye" }, toolCalls: [tools.run("wc -l hello.txt")], usage: restart(8) },
    { toolCalls: [tools.run("tail -n 1 hello.txt")], usage: restart(9) },
    { toolCalls: [tools.read("hello.txt")], usage: restart(10) },
    { toolCalls: [tools.run("grep -c goodbye hello.txt")], usage: restart(11) },
    { toolCalls: [tools.run("head -n 1 hello.txt")], usage: restart(12) },
    { toolCalls: [tools.run("ls -l hello.txt")], usage: restart(13) },
    { text: endings.resumed, usage: restart(14) }
  ]
  return { strict: true, turns: [...first, compaction, ...afterSummary] }
}

/** The turns of `scenario` the model answers in, the compaction's included. */
export const modelTurns = (scenario: Simulator.Scenario) => scenario.turns.filter((turn) => turn.fault === undefined)

// The wires that report the prompt tokens written to the cache (the others count them among the prompt's).
const reportsCacheWrites: ReadonlySet<Backend> = new Set(["anthropic", "bedrock"])

/**
 * What the simulator billed for `scenario` played once through, at `model`'s price: each turn's usage as `backend`'s
 * wire reports it, priced by the price table the gateway prices with, in US dollars.
 */
export const simulatorBill = (scenario: Simulator.Scenario, model: string, backend: Backend) =>
  modelTurns(scenario).reduce((sum, turn) => {
    const usage = turn.usage ?? {}
    const written = reportsCacheWrites.has(backend) ? usage.cacheWrite ?? 0 : 0
    return sum + Pricing.cost(Pricing.lookup(model), {
      promptTokens: usage.input ?? 0,
      completionTokens: usage.output ?? 0,
      cachedPromptTokens: usage.cacheRead ?? 0,
      cacheWriteTokens: written,
      cacheWrite1hTokens: 0
    })!
  }, 0)

/** The agent's set-up: its model, the backend's API, the session. */
export interface AgentSessionSetup {
  /** The scratch directory's name's prefix. */
  readonly label: string
  readonly model: string
  readonly backend: Backend
  /** The session's scenario, given the workspace's path (for agents whose tools take absolute paths). */
  readonly scenario: (work: string) => Simulator.Scenario
}

const adminKey = "gw-agent-session-admin-0001"

/** The gateway key the agent sends. */
export const agentKey = "gw-agent-session-agent-0001"

/**
 * The scratch directory (`home`, and `work` holding `hello.txt`), the simulator playing the scenario (returned), and `serve`
 * over it with one deployment of the backend's API: its URL (kept across restarts), `restart` (`serve` stopped and
 * started again on its port, over the same data directory), `spend` (the gateway's recorded spend and calls, once it
 * has logged `calls` of them) and `requests` (the simulator's count).
 */
export const agentSession = (setup: AgentSessionSetup) =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${setup.label}-${setup.backend}-`))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    const home = path.join(dir, "home")
    const work = path.join(dir, "work")
    fs.mkdirSync(home)
    fs.mkdirSync(work)
    fs.writeFileSync(path.join(work, sessionFile.name), sessionFile.text)
    const providerKey = `sk-provider-${setup.label}-0001`
    const scenario = setup.scenario(work)
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], models: [setup.model], scenario })
    const base = setup.backend === "chat-completions" || setup.backend === "responses"
      ? `${simulator.url}/v1`
      : simulator.url
    const file = yield* providerFile({
      sim: [{ model_name: setup.model, api: setup.backend, base_url: base, api_keys: [providerKey], max_retries: 0 }],
      gateway: { keys: [{ name: "agent", key: agentKey }], admin_keys: [{ name: "ops", key: adminKey }] }
    })
    const data = path.join(dir, "data")
    const start = (port: number) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const serving = yield* startInProcess((io) =>
          Serve.run(["--config", file, "--port", String(port), "--data", data], io)
        ).pipe(Scope.provide(scope))
        const url = yield* awaitFirstLine(serving, "serve's first line (its URL)")
        return { url, serving, stop: Scope.close(scope, Exit.void) }
      })
    let current = yield* start(0)
    const url = current.url
    yield* Effect.addFinalizer(() => current.stop)
    const restart = Effect.gen(function*() {
      yield* current.stop
      current = yield* start(Number(new URL(url).port))
    })
    const spend = (calls: number) =>
      eventually(
        `the request log's ${calls} calls`,
        Effect.promise(async () => {
          const answer = await fetch(`${url}/admin/spend`, { headers: { authorization: `Bearer ${adminKey}` } })
          const body = await answer.json() as {
            readonly groups: ReadonlyArray<{ readonly calls: number; readonly cost: number }>
          }
          return body.groups.reduce((sum, group) => ({ calls: sum.calls + group.calls, cost: sum.cost + group.cost }), {
            calls: 0,
            cost: 0
          })
        }),
        (total) => total.calls >= calls,
        { within: "10 seconds" }
      )
    return {
      dir,
      scenario,
      home,
      work,
      url,
      restart,
      spend,
      log: () => current.serving.stderr(),
      requests: simulator.requestCount
    }
  })
