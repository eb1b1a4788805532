/**
 * Scenarios: a session's turns scripted as JSON (`Simulator.Scenario`, docs/simulator.md), decoded with every bad path
 * named, and played: a request placed at its turn, statelessly, by its history (the assistant's turns it holds, and the
 * latest compaction summary of the scenario it holds), and answered with the turn's text, tool calls, usage and finish,
 * or failed with its fault once per session.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Http from "node:http"
import * as Reply from "../../simulator/Reply.js"
import type * as Simulator from "../../simulator/Simulator.js"
import type { Fault } from "../../simulator/Simulator.js"
import type { ApiError } from "../../simulator/WireFormat.js"
import { isJsonObject } from "../json.js"
import { NonEmpty, NonNegativeInt, oneOf, optional } from "../providerConfig/fields.js"
import { bracketed, checker, type Refusal, type Refused } from "../schemaCheck.js"
import { fragment } from "./callFragments.js"
import type { Config } from "./config.js"
import { decodeFault, type ReplyFault } from "./fault.js"
import { callsRuledOut } from "./toolPick.js"

/** The faults a turn may fail its request with: those that end it, so that the client's retry gets the next turn. */
const failingFaults: ReadonlySet<string> = new Set("Status Html Empty Reset Malformed Truncate StreamError".split(" "))

/** A failing fault of the `x-simulator-fault` grammar, or why the text is none. */
function failingFault(text: string): Result.Result<Fault, string> {
  const fault = decodeFault(text)
  if (Result.isFailure(fault)) return fault
  return failingFaults.has(fault.success._tag)
    ? fault
    : Result.fail(
      `a turn's fault fails its request: status, html, empty, reset, malformed, truncate or stream-error, got "${text}"`
    )
}

const FaultText = Schema.String.check(
  Schema.makeFilter((text: string) =>
    Result.match(failingFault(text), { onFailure: (why) => why, onSuccess: () => true })
  )
)

const Usage = Schema.Struct({
  input: optional(NonNegativeInt),
  output: optional(NonNegativeInt),
  cacheRead: optional(NonNegativeInt),
  cacheWrite: optional(NonNegativeInt),
  cacheWrite1h: optional(NonNegativeInt),
  reasoning: optional(NonNegativeInt)
})

const ToolCall = Schema.Struct({
  id: optional(NonEmpty),
  name: NonEmpty,
  arguments: optional(Schema.Record(Schema.String, Schema.Unknown))
})

const When = Schema.Struct({
  turn: optional(NonNegativeInt),
  lastRole: optional(oneOf(["user", "tool"])),
  contains: optional(Schema.String),
  compaction: optional(Schema.Boolean)
})

const Turn = Schema.Struct({
  when: optional(When),
  text: optional(Schema.String),
  reasoning: optional(Schema.String),
  toolCalls: optional(Schema.Array(ToolCall)),
  usage: optional(Usage),
  finishReason: optional(oneOf(["stop", "length", "tool_calls"])),
  fault: optional(FaultText),
  delay: optional(NonNegativeInt)
})

/** A count of a usage as written; undefined when it is not one (its own issue, which the schema names). */
function count(usage: Record<string, unknown>, name: string): number | undefined {
  const value = usage[name]
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined
}

/**
 * The rules between a usage's counts, on its JSON as written, each count inside the one that holds it: those it leaves
 * out are none (a cache's) or the simulator's (input, output), which the reply makes hold them.
 */
function usageRefusals(usage: Record<string, unknown>): Array<Refusal> {
  const refusals: Array<Refusal> = []
  const input = count(usage, "input")
  const output = count(usage, "output")
  const cacheWrite = count(usage, "cacheWrite") ?? 0
  const cached = (count(usage, "cacheRead") ?? 0) + cacheWrite
  if (input !== undefined && cached > input) {
    refusals.push({ path: ["input"], message: `expected at least cacheRead + cacheWrite (${cached}), which it holds` })
  }
  if ((count(usage, "cacheWrite1h") ?? 0) > cacheWrite) {
    refusals.push({ path: ["cacheWrite1h"], message: "expected at most cacheWrite, which holds it" })
  }
  if (output !== undefined && (count(usage, "reasoning") ?? 0) > output) {
    refusals.push({ path: ["reasoning"], message: "expected at most output, which holds it" })
  }
  return refusals
}

/**
 * The rules between a turn's fields, on its JSON as written, so that they are named with the schema's issues rather
 * than only once those are gone: a compaction turn answers with its summary (unless it fails) and calls no tool; a
 * fault takes no delay.
 */
function turnRefusals(turn: Record<string, unknown>): Array<Refusal> {
  const refusals: Array<Refusal> = []
  const compaction = isJsonObject(turn["when"]) && turn["when"]["compaction"] === true
  if (turn["fault"] !== undefined && turn["delay"] !== undefined) {
    refusals.push({ path: ["delay"], message: "expected no delay on a turn with a fault" })
  }
  if (compaction && turn["fault"] === undefined && (typeof turn["text"] !== "string" || turn["text"] === "")) {
    refusals.push({ path: ["text"], message: "expected the summary a compaction turn answers with" })
  }
  if (compaction && Array.isArray(turn["toolCalls"]) && turn["toolCalls"].length > 0) {
    refusals.push({ path: ["toolCalls"], message: "expected none on a compaction turn: its request rules calls out" })
  }
  const usage = turn["usage"]
  if (isJsonObject(usage)) refusals.push(...usageRefusals(usage).map((r) => ({ ...r, path: ["usage", ...r.path] })))
  return refusals
}

/** The rules between fields of a scenario's JSON as written, each at its path. */
function fieldRefusals(json: unknown): Array<Refusal> {
  if (!isJsonObject(json) || !Array.isArray(json["turns"])) return []
  return json["turns"].flatMap((turn: unknown, index) =>
    isJsonObject(turn) ? turnRefusals(turn).map((r) => ({ ...r, path: ["turns", index, ...r.path] })) : []
  )
}

export const scenarioHeader = "x-simulator-scenario"

export const sessionHeader = "x-simulator-session"

/** A scenario as its file holds it (`Simulator.Scenario`). */
const Scenario = Schema.Struct({
  strict: optional(Schema.Boolean),
  turns: Schema.Array(Turn).check(Schema.isMinLength(1, { message: "expected at least one turn" }))
})

type Scenario = Simulator.Scenario

type ScriptedTurn = Scenario["turns"][number]

const checkScenarioSchema: (json: unknown) => Result.Result<Scenario, Refused> = checker(Scenario, {
  errors: "all",
  onExcessProperty: "error"
})

/** A scenario from its parsed JSON, or each bad path with what is wrong there: its schema's, then its rules'. */
export function checkScenario(json: unknown): Result.Result<Scenario, ReadonlyArray<Refusal>> {
  const checked = checkScenarioSchema(json)
  const broken = fieldRefusals(json)
  if (Result.isSuccess(checked) && broken.length === 0) return Result.succeed(checked.success)
  return Result.fail([...(Result.isFailure(checked) ? checked.failure.refusals : []), ...broken])
}

/** A scenario from its parsed JSON, or every bad path with what is wrong there, one a line. */
export function decodeScenario(json: unknown): Result.Result<Scenario, string> {
  return Result.mapError(
    checkScenario(json),
    (refusals) =>
      refusals.map(({ message, path }) => `${path.length === 0 ? "" : `${bracketed(path)}: `}${message}`).join("\n")
  )
}

/**
 * Each turn placed, with where it plays: its turn number in its part of the session (`number`: the assistant's turns a
 * request it answers holds; undefined: any, a compaction turn that names none), and the part (`part`: the index of the
 * compaction turn before it, -1 for none). A turn without `when.turn` answers one assistant turn more than the one
 * before it, a fault's retry the same as its fault (the retry resends the request), the first after a compaction none
 * (the history starts again from the summary); a compaction turn that fails starts no part, its retry does.
 */
function place(scenario: Scenario) {
  let next = 0
  let part = -1
  return scenario.turns.map((turn, index) => {
    const compaction = turn.when?.compaction === true
    const number = turn.when?.turn ?? (compaction ? undefined : next)
    const fault = turn.fault === undefined ? undefined : Result.getOrThrow(failingFault(turn.fault))
    const placed = { index, turn, number, part, compaction, fault }
    if (compaction && fault === undefined) {
      part = index
      next = 0
    } else if (fault === undefined) {
      next = (number ?? next) + 1
    } else if (!compaction) {
      next = number ?? next
    }
    return placed
  })
}

type Placed = ReturnType<typeof place>[number]

// A summary written in `<summary>` tags, as Claude Code asks for one: the agent keeps the text inside them.
const summaryTags = /<summary>([\s\S]*?)<\/summary>/

/** What of a compaction turn's summary an agent keeps in the history it sends on: the text in its tags, if any. */
function summaryBody(text: string): string {
  const body = summaryTags.exec(text)?.[1]?.trim() ?? ""
  return body === "" ? text : body
}

// A summary asked for, as agents ask for a compaction ("summarise", "summarize", "create a detailed summary"); narrow,
// so that a request that only holds a summary ("Summary so far: ...") asks for none.
const summaryWording =
  /\bsummari[sz](?:es?|ing)\b|\b(?:create|write|provide|produce|give|generate)\s+(?:[\w-]+\s+){0,3}summary\b/i

// A title asked for, as agents name a session (opencode's "You are a title generator", whose rules speak of the message
// "you are summarizing"): a side request, never a compaction.
const titleWording = /\btitle generator\b|\b(?:generate|write|create|give)\s+(?:[\w-]+\s+){0,3}title\b/i

/**
 * Whether a request asks for a compaction: by its API's own means (`Prompt.compaction`), or it rules tool calls out
 * (`callsRuledOut`) and its system text or last user text asks for a summary, not for a title.
 */
function isCompaction(prompt: Reply.Prompt): boolean {
  if (prompt.compaction === true) return true
  const texts = [prompt.lastUserText, prompt.instructions ?? ""]
  return callsRuledOut(prompt) && texts.some((text) => summaryWording.test(text)) &&
    !texts.some((text) => titleWording.test(text))
}

/** The text of the request's last message: a tool result's, else the user's. */
function lastText(prompt: Reply.Prompt): string {
  return prompt.lastRole === "tool" ? prompt.toolResult ?? "" : prompt.lastUserText
}

/** Whether each of the turn's tool calls names a tool the request offers, and the request lets the model call. */
function callable(turn: ScriptedTurn, prompt: Reply.Prompt): boolean {
  const calls = turn.toolCalls ?? []
  if (calls.length === 0) return true
  return !callsRuledOut(prompt) && calls.every((call) => prompt.tools.some((tool) => tool.name === call.name))
}

/** How many sessions' spent faults a scenario keeps: enough for a test's sessions, bounded. */
const keptSessions = 1024

/**
 * A scenario being played: each request placed at its turn; the faults each session has had (`sessionOf`), so that a
 * retry gets the turn after the fault.
 */
class Played {
  private readonly placed: ReadonlyArray<Placed>
  private readonly compactions: ReadonlyArray<Placed>
  private readonly spent = new Map<string, Set<number>>()
  constructor(readonly name: string, readonly scenario: Scenario) {
    this.placed = place(scenario)
    this.compactions = this.placed.filter((turn) => turn.compaction && turn.fault === undefined).reverse()
  }

  /** The part of the session a request is in: the latest compaction turn whose summary it holds, -1 for none. */
  private partOf(prompt: Reply.Prompt): number {
    const texts = prompt.texts ?? []
    const found = this.compactions.find(({ turn }) => {
      const summary = summaryBody(turn.text!)
      return texts.some((text) => text.includes(summary))
    })
    return found?.index ?? -1
  }

  /** The first turn that answers `prompt` in `session` and has not failed there before, if any; a fault is spent. */
  match(prompt: Reply.Prompt, session: string): Placed | undefined {
    const at = prompt.assistantTurns ?? 0
    const compaction = isCompaction(prompt)
    const part = this.partOf(prompt)
    const spent = this.spent.get(session)
    const found = this.placed.find((placed) => {
      const { turn } = placed
      return placed.part === part && placed.compaction === compaction &&
        (placed.number === undefined || placed.number === at) &&
        (turn.when?.lastRole === undefined || turn.when.lastRole === prompt.lastRole) &&
        (turn.when?.contains === undefined || lastText(prompt).includes(turn.when.contains)) &&
        callable(turn, prompt) &&
        (placed.fault === undefined || spent?.has(placed.index) !== true)
    })
    if (found?.fault !== undefined) this.spend(session, found.index)
    return found
  }

  private spend(session: string, index: number): void {
    let spent = this.spent.get(session)
    if (spent === undefined) {
      if (this.spent.size >= keptSessions) this.spent.clear()
      spent = new Set()
      this.spent.set(session, spent)
    }
    spent.add(index)
  }

  /** Why no turn answers a request, for a strict scenario's error. */
  unmatched(prompt: Reply.Prompt): string {
    const part = this.partOf(prompt)
    return `No turn of the scenario "${this.name}" answers this request: ${prompt.assistantTurns ?? 0} assistant ` +
      `turns in its history, its last message from ${prompt.lastRole === "" ? "nobody" : prompt.lastRole}` +
      `${isCompaction(prompt) ? ", a compaction request" : ""}` +
      `${part === -1 ? "" : `, after the compaction of turns[${part}]`}.`
  }
}

/**
 * The reply a matched turn scripts, as `Simulator.ScenarioTurn` documents it, over `generated` (the simulator's own):
 * what the turn leaves out (reasoning, text and tool calls when it gives neither, usage counts) is `generated`'s, but
 * cache reads and writes, which are none.
 */
function scriptedReply({ index, turn }: Placed, generated: Reply.Reply): Reply.Reply {
  const calls = (turn.toolCalls ?? []).map((call, i): Reply.ToolCall => {
    const args = JSON.stringify(call.arguments ?? {})
    return { id: call.id ?? `call_scenario_${index}_${i}`, name: call.name, arguments: args, fragments: fragment(args) }
  })
  const own = turn.text === undefined && calls.length === 0
  // A model asked to reason always does (the Responses API wants its reasoning item back before its calls): without the
  // turn's reasoning, the generated one, which there is only when the request asks for it.
  const reasoning = turn.reasoning === undefined ? generated.reasoning : Reply.replyPieces(turn.reasoning)
  const content = turn.text === undefined ? own ? generated.content : [] : Reply.replyPieces(turn.text)
  const toolCalls = own ? generated.toolCalls : calls
  const callTokens = toolCalls.reduce((n, call) => n + Reply.countTokens(call.name.length + call.arguments.length), 0)
  const finishReason = turn.finishReason ??
    (own ? generated.finishReason : toolCalls.length > 0 ? "tool_calls" : "stop")
  const given = turn.usage
  const counted = generated.usage
  const cachedTokens = given === undefined ? counted.cachedTokens : given.cacheRead ?? 0
  const cacheWriteTokens = given === undefined ? counted.cacheWriteTokens : given.cacheWrite ?? 0
  const promptTokens = given?.input ?? Math.max(counted.promptTokens, cachedTokens + cacheWriteTokens)
  const reasoningTokens = given?.reasoning ??
    (given?.output === undefined ? reasoning.length : Math.min(reasoning.length, given.output))
  const completionTokens = given?.output ?? reasoningTokens + content.length + callTokens
  return {
    reasoning,
    content,
    toolCalls,
    finishReason,
    usage: {
      promptTokens,
      completionTokens,
      totalTokens: promptTokens + completionTokens,
      cachedTokens,
      cacheWriteTokens,
      cacheWrite1hTokens: given === undefined ? counted.cacheWrite1hTokens : given.cacheWrite1h ?? 0,
      reasoningTokens
    }
  }
}

/** What a scenario makes of a request: a fault that replaces the reply, or the reply and the fault it is sent with. */
export type Scripted =
  | { readonly _tag: "Failed"; readonly fault: Extract<Fault, { readonly _tag: "Status" | "Html" | "Empty" }> }
  | {
    readonly _tag: "Reply"
    readonly reply: Reply.Reply
    readonly fault: ReplyFault | undefined
    /** Whether a turn of the scenario made the reply (so it calls no hosted tool it does not script). */
    readonly turn: boolean
  }

/** The one header value of `name`, if sent. */
function headerText(headers: Http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/**
 * The session a request is of, for a scenario's faults: the `x-simulator-session` header, else what the client sends of
 * its own to name its conversation (OpenAI's `prompt_cache_key`, as Codex sends its conversation's id; Anthropic's
 * `metadata.user_id`, as Claude Code sends its session's), else none: one session of all such requests.
 */
function sessionOf(headers: Http.IncomingHttpHeaders, body: unknown): string {
  const named = headerText(headers, sessionHeader)
  if (named !== undefined) return named
  if (!isJsonObject(body)) return ""
  const key = body["prompt_cache_key"]
  if (typeof key === "string") return `prompt_cache_key:${key}`
  const metadata = body["metadata"]
  const user = isJsonObject(metadata) ? metadata["user_id"] : undefined
  return typeof user === "string" ? `metadata.user_id:${user}` : ""
}

/** The scenarios of a simulator, each played by the requests that name it (or by all, the options' `scenario`). */
export class Scenarios {
  private readonly byDefault: Played | undefined
  private readonly named: ReadonlyMap<string, Played>
  constructor(config: Pick<Config, "scenario" | "scenarios">) {
    this.byDefault = config.scenario === undefined
      ? undefined
      : new Played(config.scenario.name, config.scenario.scenario)
    this.named = new Map(Object.entries(config.scenarios).map(([name, scenario]) => [name, new Played(name, scenario)]))
  }

  /**
   * The reply to `prompt` as its scenario scripts it, over `generated` (the simulator's own) and `fault` (the
   * request's), which a matched turn's fault or delay replaces; a strict scenario's unmatched request, or a scenario
   * name not loaded, is the request's error. `body` is the request's as parsed, for the session it names.
   */
  play(
    request: { readonly prompt: Reply.Prompt; readonly headers: Http.IncomingHttpHeaders; readonly body: unknown },
    generated: Reply.Reply,
    fault: ReplyFault | undefined
  ): Result.Result<Scripted, ApiError> {
    const { body, headers, prompt } = request
    const name = headerText(headers, scenarioHeader)
    const played = name === undefined ? this.byDefault : this.named.get(name)
    if (name !== undefined && played === undefined) {
      return Result.fail({
        _tag: "InvalidRequest",
        message: `Invalid ${scenarioHeader} header "${name}": the simulator has no scenario of that name (it has ${
          this.named.size === 0 ? "none" : [...this.named.keys()].join(", ")
        }).`,
        param: scenarioHeader,
        code: "unknown_scenario"
      })
    }
    const unchanged: Scripted = { _tag: "Reply", reply: generated, fault, turn: false }
    if (played === undefined) return Result.succeed(unchanged)
    const matched = played.match(prompt, sessionOf(headers, body))
    if (matched === undefined) {
      return played.scenario.strict === true
        ? Result.fail({ _tag: "InvalidRequest", message: played.unmatched(prompt), code: "scenario_unmatched" })
        : Result.succeed(unchanged)
    }
    const failed = matched.fault
    if (failed?._tag === "Status" || failed?._tag === "Html" || failed?._tag === "Empty") {
      return Result.succeed({ _tag: "Failed", fault: failed })
    }
    const delay = matched.turn.delay
    return Result.succeed({
      _tag: "Reply",
      reply: scriptedReply(matched, generated),
      turn: true,
      fault: failed !== undefined
        ? failed as ReplyFault
        : delay === undefined
        ? fault
        : { _tag: "FirstToken", ms: delay }
    })
  }
}
