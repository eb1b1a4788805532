/**
 * Which tools a simulated reply calls, if any: only when the conversation asks for one (or the model loops), never
 * where the request rules a call out. Otherwise the model answers in text, so an agent's task ends.
 */
import type { OutputMode, Prompt, Tool } from "../../simulator/Reply.js"

function forces(prompt: Prompt): boolean {
  return prompt.toolChoice._tag === "Required" || prompt.toolChoice._tag === "Named"
}

/**
 * Whether the model calls a tool now: when the tool choice forces a call (as the APIs do) or the model loops, after the
 * user's turn or a tool result; after the user's turn too when its text names an offered tool (`use the Bash tool`). A
 * prompt that names none is answered in text: an agent offers its tools on every request.
 */
const callsTools = (prompt: Prompt, output: OutputMode): boolean =>
  ((prompt.lastRole === "user" || prompt.lastRole === "tool") && (output === "loop" || forces(prompt))) ||
  (prompt.lastRole === "user" && namedInText(prompt.tools, prompt.lastUserText) !== undefined)

/**
 * An instruction not to call tools, as agents word it before asking for a summary (Claude Code's `/compact`: "Do NOT
 * call any tools", "Respond with TEXT ONLY"): "do not" ("don't", "never") "call" ("use", "invoke") "tools" ("any
 * tools", "a tool"), or "respond with text only" ("plain text only"), in any case. Narrow on purpose: a prompt that
 * merely mentions tools is no such instruction, nor is one that rules out a kind of use ("never use tools like Bash as
 * means to communicate", in opencode's system prompt for Claude models; "do not use tools to send messages to others",
 * in Codex's for its GPT-6 models).
 */
const noToolsWording = new RegExp(
  String.raw`\b(?:do not|don't|never)\s+(?:call|use|invoke)\s+(?:any\s+|a\s+)?tools?\b(?!\s+(?:like|such as|to)\b)` +
    String.raw`|\brespond with (?:plain\s+)?text only\b`,
  "i"
)

/** Whether the system text or the last user text tells the model to call no tool. */
function toldNoTools(prompt: Prompt): boolean {
  return noToolsWording.test(prompt.lastUserText) || noToolsWording.test(prompt.instructions ?? "")
}

/** Whether the request rules a tool call out; an instruction not to call tools yields to a choice that forces one. */
export function callsRuledOut(prompt: Prompt): boolean {
  return prompt.tools.length === 0 || prompt.toolChoice._tag === "None" || prompt.compaction === true ||
    (!forces(prompt) && toldNoTools(prompt))
}

/** The tools a reply calls (`count` of them, cycling, when parallel calls are allowed), or `undefined` for text. */
export const toolsToCall = (prompt: Prompt, output: OutputMode, count: number): ReadonlyArray<Tool> | undefined => {
  if (output === "text" || !callsTools(prompt, output) || callsRuledOut(prompt)) return undefined
  const choice = prompt.toolChoice
  const n = prompt.parallelToolCalls ? Math.max(1, count) : 1
  if (choice._tag === "Named") {
    const tool = prompt.tools.find((t) => t.name === choice.name)
    return tool === undefined ? undefined : Array.from({ length: n }, () => tool)
  }
  const named = namedInText(prompt.tools, prompt.lastUserText)
  const offered = named === undefined ? prompt.tools : [named]
  return Array.from({ length: n }, (_, i) => offered[i % offered.length]!)
}

/**
 * The tool the text names last as a word, in any case (`use the Bash tool`), if any: the user's request ends a message
 * that an agent may start with notes naming other tools.
 */
const namedInText = (tools: ReadonlyArray<Tool>, text: string): Tool | undefined => {
  const byName = new Map(tools.map((tool) => [tool.name.toLowerCase(), tool]))
  const words = text.toLowerCase().split(/[^\p{L}\p{N}_-]+/u)
  for (let i = words.length - 1; i >= 0; i--) {
    const tool = byName.get(words[i]!)
    if (tool !== undefined) return tool
  }
  return undefined
}
