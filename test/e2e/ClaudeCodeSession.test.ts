/**
 * Claude Code (`@anthropic-ai/claude-code`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `claude -p`,
 * default settings but `CLAUDE_AUTOCOMPACT_PCT_OVERRIDE`, its tools allowed by `--allowedTools` as headless it asks
 * for no permission) through a long scripted session (`test/utils/agentSession.ts`) against `serve`'s Anthropic
 * routes over a deployment of each backend API, the five at once: every turn answered, its tools run (the file read,
 * edited, and shown by a command), its context compacted automatically when the scripted usage passes the threshold,
 * the session resumed by `claude -p --continue` after `serve` was restarted, the gateway's recorded spend the
 * simulator's bill, and the prompt each reply's usage tells Claude Code (what its auto-compaction reads, as its
 * transcript keeps it) the prompt the simulator counted. And with its tool search on and a thinking model, on each
 * backend (`thinkingModels`; on Anthropic Claude 5.1, which binds its thinking to the conversation's prefix): a
 * deferred tool loaded by `ToolSearch` and called, every call of the model's with thinking, and that thinking sent
 * back as the backend's API wants it (signed, encrypted, its reasoning text). And on a key of $1 a day with the
 * model priced in provider.json: a task a call (each reserving Claude Code's 32,000 `max_tokens` and thinking, lowered
 * to what is left), `serve` restarted while the first is in flight, served until what is left cannot pay the smallest
 * call, then refused in the gateway's words; recorded spend the simulator's bill, never past the dollar.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import * as path from "node:path"
import type * as Simulator from "../../src/simulator/Simulator.js"
import { claudeCodeRun } from "../utils/agentRuns.js"
import { claudeCodeScenario } from "../utils/agentScenarios.js"
import {
  type AgentSession,
  agentSession,
  type Backend,
  backends,
  modelTurns,
  playSession,
  prompts,
  simulatorBill
} from "../utils/agentSession.js"
import { eventually } from "../utils/eventually.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

const model = "claude-sonnet-4-5"

// A Claude model that binds its thinking to the conversation's prefix, which the gateway's price table does not know.
const boundModel = "claude-sonnet-5-1"

/**
 * The thinking model of each backend's session with tool search: Claude 5.1 (on Bedrock as Bedrock names it, which
 * Converse gives Claude's thinking to), on Chat Completions DeepSeek's thinking model, which wants each tool turn's
 * reasoning back, and on Gemini a Gemini 3 model, which wants each call's thought signature back on the call it signed
 * (Claude Code sends its Edit calls back with an argument the model did not write, `replace_all: false`: those go with
 * the stand-in the Gemini API docs name, as the simulator refuses a signature made for other arguments).
 */
const thinkingModels: Record<Backend, string> = {
  "chat-completions": "deepseek-reasoner",
  "responses": boundModel,
  "anthropic": boundModel,
  "gemini": "gemini-3-flash-preview",
  "bedrock": `us.anthropic.${boundModel}-v1:0`
}
const boundPricing = { input_per_mtok: 3, cached_input_per_mtok: 0.3, cache_write_per_mtok: 3.75, output_per_mtok: 15 }

/** A block of a reply in Claude Code's transcript, by its type. */
interface TranscriptBlock {
  readonly type: string
}

/** A reply of Claude Code's transcript, as one of its entries holds it (a reply's blocks may span several entries). */
interface TranscriptReply {
  readonly id: string
  readonly usage?: Record<string, number | undefined>
  readonly content?: ReadonlyArray<TranscriptBlock>
}

/** The replies' entries of Claude Code's transcripts under `home`, in the order written. */
function transcriptReplies(home: string): ReadonlyArray<TranscriptReply> {
  const projects = path.join(home, ".claude", "projects")
  const replies: Array<TranscriptReply> = []
  for (const project of fs.readdirSync(projects)) {
    for (const file of fs.readdirSync(path.join(projects, project)).filter((name) => name.endsWith(".jsonl"))) {
      for (const line of fs.readFileSync(path.join(projects, project, file), "utf8").split("\n")) {
        if (line === "") continue
        const entry = JSON.parse(line) as { readonly type?: string; readonly message?: Partial<TranscriptReply> }
        const id = entry.message?.id
        if (entry.type === "assistant" && id !== undefined) replies.push({ ...entry.message, id })
      }
    }
  }
  return replies
}

/**
 * The prompt each reply's usage told Claude Code, as its transcripts under `home` keep it (a reply's input, cache
 * reads and cache writes, which its auto-compaction adds up), by reply.
 */
function toldPrompts(home: string): ReadonlyArray<number> {
  const told = new Map<string, number>()
  for (const { id, usage } of transcriptReplies(home)) {
    if (usage === undefined) continue
    told.set(
      id,
      (usage["input_tokens"] ?? 0) + (usage["cache_read_input_tokens"] ?? 0) +
        (usage["cache_creation_input_tokens"] ?? 0)
    )
  }
  return [...told.values()]
}

/**
 * The replies of Claude Code's transcripts under `home` that called tools without a thinking block (with its thinking
 * on, its model thinks before each call; a backend whose thinking never reached Claude Code leaves none), by id.
 */
function unthoughtCalls(home: string): ReadonlyArray<string> {
  const blocks = new Map<string, ReadonlyArray<TranscriptBlock>>()
  for (const reply of transcriptReplies(home)) {
    blocks.set(reply.id, [...blocks.get(reply.id) ?? [], ...reply.content ?? []])
  }
  const thought = (content: ReadonlyArray<TranscriptBlock>) =>
    !content.some((block) => block.type === "tool_use") ||
    content.some((block) => block.type === "thinking")
  return [...blocks].filter(([, content]) => !thought(content)).map(([id]) => id)
}

/** The session played by Claude Code (`toolSearch`: its tool search kept on), and the prompts it was told checked. */
const played = (session: AgentSession, claude: string, toolSearch: boolean) =>
  Effect.gen(function*() {
    const run = claudeCodeRun(claude, session, {
      tools: toolSearch ? "Read,Edit,Bash,TaskList" : "Read,Edit,Bash",
      env: {
        // Its default: tool search on (its `DeferredToolPlaceholder` deferred), but behind a base URL not
        // Anthropic's, off for a conversation that ran without `ToolSearch` (a resumed one) unless told to keep it.
        ...(toolSearch ? { ENABLE_TOOL_SEARCH: "true" } : {}),
        // Compaction at half of a window of 100,000 tokens (the least it takes): the scripted usage passes it once.
        CLAUDE_CODE_AUTO_COMPACT_WINDOW: "100000",
        CLAUDE_AUTOCOMPACT_PCT_OVERRIDE: "50"
      }
    })
    yield* playSession(session, {
      agent: "claude",
      run,
      first: [prompts.first],
      resumed: ["--continue", prompts.resumed]
    })
    // Every reply told the prompt a turn of the scenario reported (never an estimate beside the provider's counts).
    const counted = new Set(modelTurns(session.scenario).map((turn) => turn.usage?.input))
    const told = toldPrompts(session.home)
    expect(told.length).toBeGreaterThan(15)
    expect(told.filter((prompt) => !counted.has(prompt)), session.backend).toEqual([])
    // With its thinking on, every reply that called a tool thought first (and the simulator wants that thinking back
    // as the backend's API does: signed on Anthropic and Bedrock, encrypted on Responses).
    if (toolSearch) expect(unthoughtCalls(session.home), session.backend).toEqual([])
  })

// Four times Claude Sonnet's prices, given in provider.json: a call that writes its 9,000 prompt tokens to the cache
// costs $0.135, so a dollar lasts seven of them.
const pricing = {
  input_per_mtok: 12,
  cached_input_per_mtok: 1.2,
  cache_write_per_mtok: 15,
  output_per_mtok: 60
}

// The budgeted session's tasks, each one call: the model answers at once, its prompt written to the cache (no more
// tokens than the simulator counts in Claude Code's request, which the gateway reserves a tenth over). The first waits
// two seconds before its first token, for a restart of `serve` while it is in flight.
const tasks = 12
const budgetedScenario = (): Simulator.Scenario => ({
  strict: true,
  turns: Array.from({ length: tasks }, (_, n) => ({
    when: { turn: 0, contains: `Task ${n + 1}:` },
    text: `Done ${n + 1}.`,
    usage: { input: 9_000, output: 8, cacheRead: 0, cacheWrite: 9_000 },
    ...(n === 0 ? { delay: 2_000 } : {})
  }))
})

describe("Claude Code on a budgeted key", () => {
  it.live(
    "a key of $1 a day serves claude -p (32,000 max_tokens with thinking, its reply bound lowered to fit) until what " +
      "is left cannot pay its smallest call, a restart of serve while a call is in flight included: recorded spend " +
      "is the simulator's bill, never past the budget, and the refusal says what is left",
    (ctx) =>
      Effect.gen(function*() {
        const claude = yield* claudeCode.pipe(orSkip(ctx))
        const session = yield* agentSession({
          label: "claude-code-budget",
          model,
          backend: "anthropic",
          scenario: budgetedScenario,
          pricing,
          budget: { limit: 1, period: "1 day" }
        })
        const run = claudeCodeRun(claude, session)
        // The first task: serve restarted while its call waits on its first token (after its prompt's count: a dollar
        // never holds Claude Code's worst case at a token a byte); the drain lets it finish.
        const before = yield* session.requests
        const first = yield* Effect.forkChild(run(["Task 1: say done"]))
        yield* eventually(
          "the first task's call in flight",
          Effect.all([session.requests, session.inFlight]),
          ([requests, inFlight]) => requests >= before + 2 && inFlight > 0,
          { every: "20 millis", within: "60 seconds" }
        )
        yield* session.restart
        const played: Array<Simulator.ScenarioTurn> = []
        let ran = yield* Fiber.join(first)
        let task = 1
        while (ran.code === 0) {
          expect(ran.stdout.trim(), ran.stderr).toBe(`Done ${task}.`)
          played.push(session.scenario.turns[task - 1]!)
          task++
          expect(task, "the budget was never refused").toBeLessThanOrEqual(tasks)
          ran = yield* run([`Task ${task}: say done`])
        }
        // Refused cleanly: the gateway's answer, saying what is left and what the smallest call would cost.
        const refusal = new RegExp(
          String.raw`budget has \$([\d.]+) of \$1 left, and the smallest call of this request may cost up to \$([\d.]+)`
        ).exec(ran.stdout + ran.stderr)
        expect(refusal, `claude's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`)
          .not.toBeNull()
        const [left, smallest] = [Number(refusal![1]), Number(refusal![2])]
        expect(left).toBeLessThan(smallest)
        const bill = simulatorBill(played, session.price, "anthropic")
        const spend = yield* session.spend(played.length)
        expect(spend.cost, session.log()).toBeCloseTo(bill, 9)
        expect(spend.cost).toBeLessThanOrEqual(1)
        expect(left).toBeCloseTo(1 - bill, 5)
        // Served until what was left could not pay the smallest call: before the last call, it could.
        expect(left + bill / played.length).toBeGreaterThanOrEqual(smallest)
      }).pipe(Effect.scoped),
    300_000
  )
})

/**
 * Claude Code's session on `backend`'s deployment, played and checked: with its default settings, or with its tool
 * search on and the backend's thinking model (`thinkingModels`).
 */
const sessionOn = (backend: Backend, toolSearch: boolean) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const claude = yield* claudeCode.pipe(orSkip(ctx))
    const session = yield* agentSession(
      toolSearch
        ? {
          label: "claude-code-tool-search",
          model: thinkingModels[backend],
          pricing: boundPricing,
          backend,
          scenario: claudeCodeScenario(true)
        }
        : { label: "claude-code-session", model, backend, scenario: claudeCodeScenario(false) }
    )
    yield* played(session, claude, toolSearch)
  }).pipe(Effect.scoped)

describe.concurrent("Claude Code's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: claude -p compacts, resumes after serve restarts, is billed what the simulator billed, and is ` +
        "told the prompts the simulator counted",
      sessionOn(backend, false),
      300_000
    )
    const thinking = thinkingModels[backend]
    it.live(
      `${backend}: claude -p with tool search on and ${thinking}'s thinking: a deferred tool loaded and called, each ` +
        "call's thinking sent back as the API wants it",
      sessionOn(backend, true),
      300_000
    )
  }
})
