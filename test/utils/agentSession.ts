/**
 * What the agents' long-session tests share: one scripted session (a scenario of more than twenty turns, written once
 * from a template and filled with each agent's tool names), and `serve` (in-process, its data in a scratch directory)
 * over the simulator playing it behind one deployment of the backend's API (priced in provider.json, and the agent's
 * key budgeted, where a test says), which can be restarted on its port as the agent's session goes on; the gateway's
 * recorded spend (`/admin/spend`), and what the simulator billed: the scenario's usage as the backend's wire reports
 * it, priced as the gateway prices it; and the session played
 * by an agent and checked (`playSession`), each test saying only how its agent is set up and run.
 *
 * The session: the agent is asked to fix `hello.txt` (read it, edit it, run commands that show it, two of them at
 * once); then, resumed
 * after `serve` was restarted, it is asked for a second line and does the same again. Its compaction comes where the
 * agent compacts (inside the first task's tool loop, once a turn's usage passes its threshold, or at the resumed
 * prompt), and the session goes on from the summary.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Usage } from "../../src/ChatResponse.js"
import * as Serve from "../../src/cli/serve.js"
import * as Pricing from "../../src/Pricing.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitFirstLine, type Spawned, startInProcess } from "./cliHarness.js"
import { eventually } from "./eventually.js"
import { scrape } from "./prometheus.js"
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

/** How one agent plays the session: its tools, and where and how it compacts. */
export interface SessionOptions {
  readonly tools: AgentTools
  /**
   * When the agent compacts: inside the first task's tool loop, once a call's prompt passes its threshold (Codex,
   * Claude Code), or only where a user's message starts a turn (Gemini CLI: at the resumed prompt).
   */
  readonly compacts: "in the tool loop" | "at the next prompt"
  /** The prompt tokens the turn before the compaction passes (the turns before it report a quarter of it). */
  readonly compactAbove: number
  /**
   * The model's turns the history holds when the session goes on after the compaction (default 0: the agent keeps
   * only the user's messages and the summary; Claude Code keeps the last turn, Gemini CLI answers the summary itself).
   */
  readonly keptTurns?: number
  /** Whether the agent asks for its summary checked, in a second call with the summary in its history (Gemini CLI). */
  readonly checksSummary?: boolean
  /** Whether the agent asks the model for the session's title at its first prompt, without tools (opencode). */
  readonly namesSession?: boolean
  /**
   * A deferred tool the model loads first, by the agent's tool search (`search`, whose result loads it), then calls
   * (`call`), before its first read: two turns more (Claude Code's `ToolSearch`). Default: none.
   */
  readonly loadsTool?: { readonly search: Simulator.ScenarioToolCall; readonly call: Simulator.ScenarioToolCall }
}

/**
 * The session's scenario, strict (every request of the session is one of its turns): 21 turns of the model's (tool
 * calls, text, and the compaction's summary; and its check, and the session's title, for the agents that ask), with
 * cache reads and writes in every turn's usage.
 */
export const sessionScenario = (options: SessionOptions): Simulator.Scenario => {
  const { tools } = options
  const first: ReadonlyArray<Simulator.ScenarioTurn> = [
    // The tool search's turns answer the prompt; their last result is the tool's, which the read goes on from.
    ...(options.loadsTool === undefined
      ? [{ when: { contains: "Fix the greeting" }, toolCalls: [tools.read("hello.txt")] }]
      : [
        { when: { contains: "Fix the greeting" }, toolCalls: [options.loadsTool.search] },
        { toolCalls: [options.loadsTool.call] },
        { toolCalls: [tools.read("hello.txt")] }
      ]),
    // The title request holds the prompt but offers no tool: the turn before is not its, this one is.
    ...(options.namesSession === true ? [{ when: { turn: 0 }, text: "Fix the greeting" }] : []),
    { when: { contains: "helo" }, toolCalls: [tools.edit("hello.txt", "helo", "hello")] },
    { toolCalls: [tools.run("cat hello.txt")] },
    { when: { contains: "hello, world" }, toolCalls: [tools.run("wc -l hello.txt")] },
    { toolCalls: [tools.read("hello.txt")] },
    // Two calls at once: the agent runs both and answers each (every backend refuses a call left unanswered).
    { toolCalls: [tools.run("grep -c hello hello.txt"), tools.run("wc -c hello.txt")] },
    { toolCalls: [tools.read("hello.txt")] },
    // A long output, which an agent that counts its history's characters sees fill its context.
    { toolCalls: [tools.run("seq 2000")] },
    { text: endings.first }
  ]
  const resumed: ReadonlyArray<Simulator.ScenarioTurn> = [
    { when: { contains: "second line" }, toolCalls: [tools.read("hello.txt")] },
    { toolCalls: [tools.edit("hello.txt", "hello, world", "hello, world\nand goodbye")] },
    { toolCalls: [tools.run("cat hello.txt")] },
    { when: { contains: "goodbye" }, toolCalls: [tools.run("wc -l hello.txt")] },
    { toolCalls: [tools.run("tail -n 1 hello.txt")] },
    { toolCalls: [tools.read("hello.txt")] },
    { toolCalls: [tools.run("grep -c goodbye hello.txt")] },
    { toolCalls: [tools.run("head -n 1 hello.txt")] },
    { toolCalls: [tools.run("ls -l hello.txt")] },
    { text: endings.resumed }
  ]
  const all = [...first, ...resumed]
  const at = options.compacts === "in the tool loop" ? first.length - 4 : first.length
  const before = all.slice(0, at)
  const after = all.slice(at)
  let cached = 0
  // Each turn's prompt repeats the one before it, read from the cache, the rest written to it.
  const usage = (input: number, output: number): Simulator.ScenarioUsage => {
    const read = Math.min(cached, input)
    cached = input
    return { input, output, cacheRead: read, cacheWrite: input - read }
  }
  const low = Math.round(options.compactAbove / 4)
  const compactionUsage = {
    input: options.compactAbove + 1200,
    output: 40,
    cacheRead: options.compactAbove + 1000,
    cacheWrite: 200
  }
  // The check's answer holds the summary: the session goes on after it.
  const compaction: ReadonlyArray<Simulator.ScenarioTurn> = [
    { when: { compaction: true }, text: summary, usage: compactionUsage },
    ...(options.checksSummary === true
      ? [{
        when: { compaction: true },
        text: summary.replace("</summary>", " Checked.</summary>"),
        usage: compactionUsage
      }]
      : [])
  ]
  const played = (turn: Simulator.ScenarioTurn, usageOf: Simulator.ScenarioUsage): Simulator.ScenarioTurn => ({
    ...turn,
    usage: usageOf
  })
  // The prompt grows by 40 tokens a turn; the last before the compaction passes the threshold.
  const beforeTurns = before.map((turn, n) =>
    played(turn, usage(n === before.length - 1 ? options.compactAbove + 1000 : low + 40 * n, 24))
  )
  cached = 0
  const afterTurns = after.map((turn, n) => {
    const placed = n === 0 ? { ...turn, when: { ...turn.when, turn: options.keptTurns ?? 0 } } : turn
    return played(placed, usage(400 + 40 * n, 24))
  })
  return { strict: true, turns: [...beforeTurns, ...compaction, ...afterTurns] }
}

/** The turns of `scenario` the model answers in, the compaction's included. */
export const modelTurns = (scenario: Simulator.Scenario) => scenario.turns.filter((turn) => turn.fault === undefined)

// The wires that report the prompt tokens written to the cache (the others count them among the prompt's).
const reportsCacheWrites: ReadonlySet<Backend> = new Set(["anthropic", "bedrock"])

/** The usage of a reply as `backend`'s wire reports it: cache writes only where it has a field for them. */
const reported = (usage: Usage, backend: Backend): Usage =>
  reportsCacheWrites.has(backend) ? usage : { ...usage, cacheWriteTokens: 0, cacheWrite1hTokens: 0 }

/**
 * The bill of replies of these usages (`Simulator.billed`), each as `backend`'s wire reports it, at `price` (the one
 * the gateway prices with: provider.json's, else its built-in table's), in US dollars.
 */
export const usageBill = (usages: ReadonlyArray<Usage>, price: Pricing.Price, backend: Backend) =>
  usages.reduce((sum, usage) => sum + Pricing.cost(price, reported(usage, backend))!, 0)

/** What the simulator billed for `turns` played once each, their usage as scripted, at `price` on `backend`. */
export const simulatorBill = (turns: ReadonlyArray<Simulator.ScenarioTurn>, price: Pricing.Price, backend: Backend) =>
  usageBill(
    turns.map(({ usage = {} }) => ({
      promptTokens: usage.input ?? 0,
      completionTokens: usage.output ?? 0,
      totalTokens: (usage.input ?? 0) + (usage.output ?? 0),
      cachedPromptTokens: usage.cacheRead ?? 0,
      cacheWriteTokens: usage.cacheWrite ?? 0,
      cacheWrite1hTokens: 0,
      reasoningTokens: 0,
      estimated: false
    })),
    price,
    backend
  )

/**
 * A scratch directory named from `prefix`, removed when the scope closes: the agent's `home` and its workspace `work`
 * made in it (empty).
 */
export const scratchWorkspace = (prefix: string) =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    const home = path.join(dir, "home")
    const work = path.join(dir, "work")
    fs.mkdirSync(home)
    fs.mkdirSync(work)
    return { dir, home, work }
  })

/** The agent's set-up: its model, the backend's API, the session. */
export interface AgentSessionSetup {
  /** The scratch directory's name's prefix. */
  readonly label: string
  readonly model: string
  readonly backend: Backend
  /** The session's scenario, given the workspace's path (for agents whose tools take absolute paths). */
  readonly scenario: (work: string) => Simulator.Scenario
  /** The deployment's provider.json `pricing`. Default: none, the built-in table's price of `model`. */
  readonly pricing?: Pricing.PerMtok | undefined
  /** The agent key's provider.json `budget`. Default: none. */
  readonly budget?: { readonly limit: number; readonly period: string } | undefined
  /** The simulated model's context window. Default: the simulator's. */
  readonly contextWindow?: number | undefined
  /** Other names the agent may ask for the deployment by (provider.json `groups`). Default: none. */
  readonly groups?: ReadonlyArray<string> | undefined
  /** More fields of the deployment's provider.json entry (`cache_conversations`...). Default: none. */
  readonly entry?: Readonly<Record<string, unknown>> | undefined
}

const adminKey = "gw-agent-session-admin-0001"

/** The gateway key the agent sends. */
export const agentKey = "gw-agent-session-agent-0001"

/**
 * The scratch directory (`home`, and `work` holding `hello.txt`), the simulator playing the scenario (returned), and `serve`
 * over it with one deployment of the backend's API: its URL (kept across restarts), `restart` (`serve` stopped and
 * started again on its port, over the same data directory), `spend` (the gateway's recorded spend and calls, once it
 * has logged `calls` of them), `requests` (the simulator's count) and `inFlight` (the requests it has not answered
 * whole).
 */
export const agentSession = (setup: AgentSessionSetup) =>
  Effect.gen(function*() {
    const { dir, home, work } = yield* scratchWorkspace(`${setup.label}-${setup.backend}`)
    fs.writeFileSync(path.join(work, sessionFile.name), sessionFile.text)
    const providerKey = `sk-provider-${setup.label}-0001`
    const scenario = setup.scenario(work)
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      models: [setup.model],
      scenario,
      ...(setup.contextWindow === undefined ? {} : { contextWindows: { [setup.model]: setup.contextWindow } })
    })
    const base = setup.backend === "chat-completions" || setup.backend === "responses"
      ? `${simulator.url}/v1`
      : simulator.url
    const file = yield* providerFile({
      sim: [{
        model_name: setup.model,
        api: setup.backend,
        base_url: base,
        api_keys: [providerKey],
        max_retries: 0,
        ...(setup.pricing === undefined ? {} : { pricing: setup.pricing }),
        ...(setup.groups === undefined ? {} : { groups: setup.groups }),
        ...setup.entry
      }],
      gateway: {
        keys: [{ name: "agent", key: agentKey, ...(setup.budget === undefined ? {} : { budget: setup.budget }) }],
        admin_keys: [{ name: "ops", key: adminKey }]
      }
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
    // The streams answered by the instances `restart` stopped: the metrics each counted are gone with it.
    let streamedBefore = 0
    const streamed = Effect.map(streamsAnswered(url), (count) => streamedBefore + count)
    const restart = Effect.gen(function*() {
      streamedBefore = yield* streamed
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
      model: setup.model,
      price: setup.pricing === undefined ? Pricing.lookup(setup.model)! : Pricing.fromPerMtok(setup.pricing),
      backend: setup.backend,
      dir,
      scenario,
      home,
      work,
      url,
      restart,
      spend,
      streamed,
      log: () => current.serving.stderr(),
      requests: simulator.requestCount,
      inFlight: Effect.map(simulator.stats, (stats) => stats.inFlight),
      billed: simulator.billed,
      cacheTokens: Effect.suspend(() => cacheTokensCounted(current.url))
    }
  })

/** The streamed answers `serve` at `url` began since it started: its `/metrics`' time-to-first-token count. */
const streamsAnswered = (url: string) =>
  Effect.map(scrape(url, adminKey), ({ samples }) =>
    samples
      .filter((sample) => sample.name === "llm_gateway_time_to_first_token_seconds_count")
      .reduce((sum, sample) => sum + sample.value, 0))

/** The prompt tokens `serve` at `url` counted read from and written to a cache since it started (its `/metrics`). */
const cacheTokensCounted = (url: string) =>
  Effect.map(scrape(url, adminKey), ({ samples }) => {
    const counted = (operation: string) =>
      samples
        .filter((sample) =>
          sample.name === "llm_gateway_cache_tokens_total" && sample.labels["operation"] === operation
        )
        .reduce((sum, sample) => sum + sample.value, 0)
    return { read: counted("read"), written: counted("write") }
  })

/** A session `agentSession` set up. */
export type AgentSession = Effect.Success<ReturnType<typeof agentSession>>

/** How a test runs its agent through the session's two tasks. */
export interface AgentRuns {
  /** The agent's name in a failure's message (`claude`, `codex exec`). */
  readonly agent: string
  /** The agent run with `args` in the session's workspace, against `serve`. */
  readonly run: (args: ReadonlyArray<string>) => Effect.Effect<Spawned>
  /** The arguments of the first task (`prompts.first` among them) and of the resumed one (`prompts.resumed`). */
  readonly first: ReadonlyArray<string>
  readonly resumed: ReadonlyArray<string>
  /**
   * The model's turns the agent asks for whole, or the gateway answers from a whole call of its own; the agent streams
   * every other, and each is answered as a stream. Default: none.
   */
  readonly whole?: number
  /** The agent's last answer in what it printed. Default: all of it, trimmed. */
  readonly answer?: (stdout: string) => string
}

/**
 * The session played by the agent and checked: the first task answered with its ending and `hello.txt` fixed;
 * `serve` restarted; the resumed task answered and the file's second line there; every scripted turn played once
 * (a title, a summary and its check among them, where the agent asks for them) and none failed, so the tools' output
 * reached the model (the turns that wait for it were answered); every turn the agent streams answered as a stream;
 * and the gateway's recorded calls and spend the simulator's bill.
 */
export const playSession = (session: AgentSession, runs: AgentRuns) =>
  Effect.gen(function*() {
    const answer = runs.answer ?? ((stdout: string) => stdout.trim())
    const task = Effect.fnUntraced(function*(args: ReadonlyArray<string>, ending: string, file: string) {
      const ran = yield* runs.run(args)
      expect(ran.code, `${runs.agent}'s stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`)
        .toBe(0)
      expect(answer(ran.stdout), `${runs.agent}'s stderr:\n${ran.stderr}`).toBe(ending)
      expect(fs.readFileSync(path.join(session.work, sessionFile.name), "utf8")).toBe(file)
    })
    yield* task(runs.first, endings.first, "hello, world\n")
    yield* session.restart
    yield* task(runs.resumed, endings.resumed, sessionResult)
    const turns = modelTurns(session.scenario).length
    expect(yield* session.requests, session.log()).toBe(turns)
    expect(yield* session.streamed, "the turns answered as streams").toBe(turns - (runs.whole ?? 0))
    const spend = yield* session.spend(turns)
    expect(spend.calls).toBe(turns)
    expect(spend.cost, session.log()).toBeCloseTo(
      simulatorBill(modelTurns(session.scenario), session.price, session.backend),
      6
    )
  })
