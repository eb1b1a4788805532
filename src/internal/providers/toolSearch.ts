/**
 * Tool search where the API has none (every API but Anthropic's Messages, docs/adapters.md, "Tool search"): a deferred
 * tool is in the model's context only once a tool result has loaded it (`ToolMessage.toolReferences`), so such a
 * request is sent as it would read with the loaded tools defined: those as plain tools, the other deferred ones left
 * out, and each loading result with a line of its text naming them.
 */
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { Message, ToolDefinition } from "../../Message.js"

/** The line a result that loads `names` gains, where the API has no `tool_reference` block. */
export const loadedLine = (names: ReadonlyArray<string>): string => `Loaded tools: ${names.join(", ")}`

// A tool message's content with the line naming the tools it loads, after its text or as its last part.
function withLoadedLine(message: Extract<Message, { readonly role: "tool" }>): Message {
  const { toolReferences, ...rest } = message
  if (toolReferences === undefined || toolReferences.length === 0) return rest
  const line = loadedLine(toolReferences)
  const content = message.content
  if (typeof content === "string") return { ...rest, content: content === "" ? line : `${content}\n${line}` }
  return { ...rest, content: [...content, { type: "text", text: line }] }
}

// A deferred tool a result loaded, as a plain tool.
function loaded({ deferLoading: _, ...tool }: ToolDefinition): ToolDefinition {
  return tool
}

/** `request` as an API without tool search is sent it (above). */
export function withoutToolSearch(request: ChatRequest): ChatRequest {
  const referenced = new Set<string>()
  for (const message of request.messages) {
    if (message.role === "tool") { for (const name of message.toolReferences ?? []) referenced.add(name) }
  }
  const deferred = request.tools?.some((tool) => tool.deferLoading !== undefined) === true
  if (referenced.size === 0 && !deferred) return request
  const messages = referenced.size === 0
    ? request.messages
    : request.messages.map((message) => message.role === "tool" ? withLoadedLine(message) : message)
  if (!deferred) return { ...request, messages }
  const tools = request.tools!.flatMap((tool) =>
    tool.deferLoading !== true ? [loaded(tool)] : referenced.has(tool.name) ? [loaded(tool)] : []
  )
  if (tools.length > 0) return { ...request, messages, tools }
  const { parallelToolCalls: _parallel, toolChoice: _choice, tools: _tools, ...rest } = request
  return { ...rest, messages }
}
